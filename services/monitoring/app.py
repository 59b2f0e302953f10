"""The monitoring service's composition root: `create_app(settings)` builds the Litestar app.

Nothing connects at import or construction time; the lifespan opens the event store and
the read pool when the server starts, and closes them when it stops. The read model, the
alerts and the outbox are written by the monitoring worker (`ksd worker monitoring`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Request

from services.monitoring.api.routes import AlertController, ProgressController
from services.monitoring.application import Monitoring
from services.monitoring.graphql import MonitoringContext, build_schema
from services.monitoring.readmodel import MonitoringReadModel
from services.monitoring.setup import FEEDS, LAG_QUERY, SCHEMA, monitoring_env
from shared.assets import make_graphql_controller
from shared.clock import Clock, SystemClock
from shared.db import make_async_pool
from shared.http import create_service_app, service_database_url
from shared.readiness import worker_readiness
from shared.regions import load_regions
from shared.settings import Settings

SERVICE = "monitoring"


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, clock: Clock | None = None
) -> Litestar:
    settings = settings or Settings.from_env()
    url = service_database_url(SERVICE, settings, database_url)
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = make_async_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, name=SERVICE)
        await pool.open()
        monitoring = await anyio.to_thread.run_sync(
            lambda: Monitoring(monitoring_env(url, pool_size=settings.db_pool_max), clock=clock)
        )
        app.state.monitoring = monitoring
        app.state.monitoring_reads = MonitoringReadModel(pool)
        app.state.clock = clock
        app.state.regions = load_regions()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(monitoring.close)
            await pool.close()

    async def graphql_context(request: Request) -> MonitoringContext:
        return MonitoringContext(
            identity=request.scope.get("user"),
            settings=settings,
            reads=request.app.state.monitoring_reads,
            clock=request.app.state.clock,
        )

    graphql = make_graphql_controller(build_schema(settings), context_getter=graphql_context)
    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[ProgressController, AlertController, graphql],
        readiness=worker_readiness(SERVICE, schema=SCHEMA, feeds=FEEDS, lag_query=LAG_QUERY, settings=settings,
                                   pool=lambda state: state.monitoring_reads.pool),
        lifespan=[lifespan],
        description="Pemantauan pelaksanaan, monev dan peringatan kerja sama daerah.",
    )
