"""The web application's pages: one module per area, each exporting `routes`."""

from __future__ import annotations

from services.web.pages import auth, home

ROUTES = [
    *auth.routes,
    *home.routes,
]
