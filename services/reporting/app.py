"""The reporting service's composition root: `create_app(settings)` builds the Litestar app.

Nothing connects at import or construction time; the lifespan opens the event store and
the read pool when the server starts, and closes them when it stops. The read model is
written by the reporting worker (`ksd worker reporting`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Request

from services.reporting.api.routes import (
    ConsolidationController,
    NationalController,
    ProfileController,
    ReportController,
)
from services.reporting.application import Reporting
from services.reporting.compiler import Compiler
from services.reporting.graphql import ReportingContext, build_schema
from services.reporting.readmodel import ReportingReadModel
from services.reporting.setup import FEEDS, LAG_QUERY, SCHEMA, reporting_env
from shared.answers import Answers
from shared.assets import make_graphql_controller
from shared.clock import Clock, SystemClock
from shared.db import make_async_pool
from shared.http import create_service_app, service_database_url
from shared.readiness import worker_readiness
from shared.regions import load_regions
from shared.settings import Settings

SERVICE = "reporting"


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, clock: Clock | None = None
) -> Litestar:
    settings = settings or Settings.from_env()
    url = service_database_url(SERVICE, settings, database_url)
    clock = clock or SystemClock()
    regions = load_regions()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = make_async_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, name=SERVICE)
        await pool.open()
        reporting = await anyio.to_thread.run_sync(lambda: Reporting(
            reporting_env(url, pool_size=settings.db_pool_max), clock=clock, period_kinds=settings.report_periods,
            report_deadline_days=settings.report_deadline_days,
            consolidation_deadline_days=settings.consolidation_deadline_days, regions=regions,
        ))
        reads = ReportingReadModel(pool)
        answers = Answers(pool, SCHEMA, service=SERVICE, entries=settings.answer_cache_entries)
        app.state.reporting = reporting
        app.state.reporting_reads = reads
        app.state.answers = answers
        app.state.compiler = Compiler(reads, regions, settings, answers)
        app.state.clock = clock
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(reporting.close)
            await pool.close()

    async def graphql_context(request: Request) -> ReportingContext:
        return ReportingContext(
            identity=request.scope.get("user"), settings=settings, reads=request.app.state.reporting_reads,
            compiler=request.app.state.compiler, clock=clock, regions=regions, answers=request.app.state.answers,
        )

    graphql = make_graphql_controller(build_schema(settings), context_getter=graphql_context)
    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[ReportController, ConsolidationController, NationalController, ProfileController, graphql],
        readiness=worker_readiness(SERVICE, schema=SCHEMA, feeds=FEEDS, lag_query=LAG_QUERY, settings=settings,
                                   pool=lambda state: state.reporting_reads.pool),
        lifespan=[lifespan],
        description="Pelaporan berkala daerah, konsolidasi provinsi dan rekap nasional.",
    )
