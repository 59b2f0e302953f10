"""The web application's pages: one module per area, each exporting `routes`."""

from __future__ import annotations

from services.web.pages import auth, home
from services.web.pages import agreements, lookup
from services.web.pages import audit, imports
from services.web.pages import profile, reports
from services.web.pages import agreement_detail
from services.web.pages import dashboards

ROUTES = [
    *auth.routes,
    *home.routes,
    *agreements.routes,
    *lookup.routes,
    *audit.routes,
    *imports.routes,
    *reports.routes,
    *profile.routes,
    *agreement_detail.routes,
    *dashboards.routes,
]
