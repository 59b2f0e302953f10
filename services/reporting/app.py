"""The reporting service's composition root. Until its own issue lands it serves only
the endpoints every service has: /health, /ready, /metrics and the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import psycopg
from litestar import Litestar
from litestar.datastructures import State

from shared.http import create_service_app
from shared.logs import configure_logging
from shared.settings import Settings

SERVICE = "reporting"


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the platform with `ksd run` (make run)")
    configure_logging(settings, service=SERVICE)

    async def readiness(state: State) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=3) as conn:
            await conn.execute("SELECT 1")
        return {"ok": True}

    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[],
        readiness=readiness,
        description="Pelaporan berkala daerah, konsolidasi provinsi dan rekap nasional.",
    )
