"""The web application's pages: one module per area, each exporting `routes`."""

from __future__ import annotations

from services.web.pages import (
    agreement_detail,
    agreements,
    audit,
    auth,
    dashboards,
    home,
    imports,
    lookup,
    profile,
    reports,
)

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
