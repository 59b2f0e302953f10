"""Create (idempotently) everything the registry stores: its schema, the event store, the
read model with row-level security, and the idempotency keys. Run by `ksd migrate`,
`ksd run` and the tests; safe to run again and from several instances.
"""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from services.registry import contract
from services.registry.application import IDEMPOTENCY_TABLE, Registry
from services.registry.audit import HistoricalDigests
from services.registry.projections.agreements import AgreementsProjection, PostgresAgreementsView
from shared.application import secure_event_store
from shared.db import ensure_schema, eventsourcing_env, lag_query
from shared.projection import Feed, built_beside, install_worker_tables, prepare_beside

SCHEMA = contract.SCHEMA  # "registry"


def registry_env(database_url: str, *, pool_size: int = 5, create_tables: bool = False) -> dict[str, str]:
    return eventsourcing_env(database_url, schema=SCHEMA, pool_size=pool_size, create_tables=create_tables)


def open_registry(database_url: str, *, pool_size: int = 2) -> Registry:
    """A Registry application for tools and workers (the HTTP app builds its own)."""
    return Registry(registry_env(database_url, pool_size=pool_size))


def agreements_view(env: dict[str, str], *, beside: bool = False) -> PostgresAgreementsView:
    """The agreements view (tables created when `env` says so); `beside`: the new shape's,
    built next to the live one (`agreements_next`)."""
    name = (built_beside(AgreementsProjection) if beside else AgreementsProjection).name
    factory = InfrastructureFactory.construct(env=Environment(name, env))
    return factory.tracking_recorder(PostgresAgreementsView)  # type: ignore[return-value]


def install(database_url: str) -> None:
    ensure_schema(database_url, SCHEMA)
    install_worker_tables(database_url, SCHEMA)  # dead letters and worker heartbeats
    env = registry_env(database_url, pool_size=1, create_tables=True)
    app = Registry(env)  # creates the events, chain and snapshots tables
    try:
        digests = HistoricalDigests(app.recorder)  # type: ignore[arg-type]  # published, no longer signed
        digests.create_table()
        secure_event_store(database_url, SCHEMA, app, digests.table)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(IDEMPOTENCY_TABLE.format(schema=SCHEMA))
        found = prepare_view(registry_env(database_url, pool_size=1))
        # The live read model and its tracking table (when new); a live one of an older shape
        # stays served while the worker fills the new shape beside it.
        view = agreements_view(env, beside=found == "beside")
        view.grant_reader()
        view.datastore.close()
    finally:
        app.close()


def prepare_view(env: dict[str, str]) -> str:
    """`current`, `new` or `beside` (shared.projection.prepare_beside)."""
    view = agreements_view(env)
    try:
        return prepare_beside(view)
    finally:
        view.datastore.close()


def _feed_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    return registry_env(database_url, pool_size=pool_size)


class FeedRegistry(Registry):
    """The registry's application as its own feed reads it: its events decoded as the
    published contract's classes (`contract.Log`'s mapper: what the agreements view folds),
    with the registry's own recorder and clock, which the worker also signs the transparency
    log's heads and sweeps documents with (one pool for both)."""

    name = Registry.name  # the same event tables and tracking rows
    construct_mapper = contract.Log.construct_mapper


# The registry worker's one feed: its own events into the agreements read model.
FEEDS = (Feed("agreements", FeedRegistry, AgreementsProjection, PostgresAgreementsView, _feed_env),)

# Events recorded but not yet in the read model.
LAG_QUERY = lag_query(SCHEMA, [("agreements", SCHEMA, contract.LOG_NAME, AgreementsProjection.name)])


def projection_lag(conn: psycopg.Connection) -> int:
    row = conn.execute(LAG_QUERY).fetchone()
    return int(row[0]) if row else 0
