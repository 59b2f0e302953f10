"""The reporting service's composition root. Until its own issue lands it serves the
endpoints every service has: /health, /ready, /metrics, the OpenAPI schema and GraphQL
with reference data (regions, urusan)."""

from __future__ import annotations

from litestar import Litestar

from shared.graphql import reference_graphql_controller
from shared.http import create_service_app, database_readiness
from shared.logs import configure_logging
from shared.settings import Settings

SERVICE = "reporting"


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the platform with `ksd run` (make run)")
    configure_logging(settings, service=SERVICE)
    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[reference_graphql_controller(settings)],
        readiness=database_readiness(url),
        description="Pelaporan berkala daerah, konsolidasi provinsi dan rekap nasional.",
    )
