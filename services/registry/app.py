"""The registry's composition root: `create_app(settings)` builds the Litestar app.

Nothing connects at import or construction time; the lifespan opens the event store and
the read pool when the server starts, and closes them when it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Request

from services.registry.api.agreements import AgreementController, DocumentController
from services.registry.api.audit import AgreementAuditController, DigestController, TransparencyLogController
from services.registry.api.imports import ImportController
from services.registry.application import Registry
from services.registry.audit import Audit
from services.registry.domain.commands import Policy
from services.registry.graphql.schema import RegistryContext, build_schema, history_loader
from services.registry.projections.agreements import AgreementsReadModel
from services.registry.setup import FEEDS, LAG_QUERY, SCHEMA, registry_env
from shared.assets import make_graphql_controller
from shared.audit.signing import signing_key_from_settings
from shared.blobs import make_blob_store
from shared.clock import Clock
from shared.db import make_async_pool
from shared.http import create_service_app, service_database_url
from shared.readiness import worker_readiness
from shared.settings import Settings

SERVICE = "registry"


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, clock: Clock | None = None
) -> Litestar:
    settings = settings or Settings.from_env()
    url = service_database_url(SERVICE, settings, database_url)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = make_async_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, name=SERVICE)
        await pool.open()
        registry = await anyio.to_thread.run_sync(
            lambda: Registry(
                registry_env(url, pool_size=settings.db_pool_max),
                clock=clock,
                policy=Policy(pks_max_years=settings.pks_max_years),
                blobs=make_blob_store(settings),
                max_document_bytes=settings.max_document_bytes,
            )
        )
        app.state.registry = registry
        app.state.audit = Audit(registry, signing_key=signing_key_from_settings(settings))
        app.state.agreements = AgreementsReadModel(pool, schema=SCHEMA)
        app.state.import_settings = settings
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(registry.close)
            await pool.close()

    async def graphql_context(request: Request) -> RegistryContext:
        return RegistryContext(
            identity=request.scope.get("user"),  # None for the public GraphiQL page
            agreements=request.app.state.agreements,
            registry=request.app.state.registry,
            audit=request.app.state.audit,
            histories=history_loader(request.app.state.audit, request.scope.get("user")),
            settings=settings,
        )

    graphql = make_graphql_controller(build_schema(settings), context_getter=graphql_context)
    # Uploads may be larger than JSON bodies: the file limit plus room for the form's fields.
    documents = type(
        "DocumentController", (DocumentController,), {"request_max_body_size": settings.max_document_bytes + 65_536}
    )
    imports = type(
        "ImportController", (ImportController,), {"request_max_body_size": settings.import_max_bytes + 65_536}
    )
    return create_service_app(
        service=SERVICE,
        settings=settings,
        route_handlers=[AgreementController, documents, AgreementAuditController, DigestController,
                       TransparencyLogController, imports, graphql],
        readiness=worker_readiness(SERVICE, schema=SCHEMA, feeds=FEEDS, lag_query=LAG_QUERY, settings=settings,
                                   pool=lambda state: state.agreements.pool),
        lifespan=[lifespan],
        description="Registri kerja sama daerah: naskah dan siklus hukumnya.",
    )
