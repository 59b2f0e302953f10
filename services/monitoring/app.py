"""The monitoring service's composition root. Until its own issue lands it serves the endpoints
every service has: /health, /ready, /metrics, OpenAPI, and GraphQL with reference data."""

from __future__ import annotations

from litestar import Litestar

from shared.http import create_basic_app
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Litestar:
    return create_basic_app(
        service="monitoring",
        description="Pemantauan pelaksanaan, monev dan peringatan kerja sama daerah.",
        settings=settings or Settings.from_env(),
        database_url=database_url,
    )
