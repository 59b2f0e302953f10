"""Create (idempotently) everything the reporting service stores: its schema, its event
store (with the audit hash chain), and its read model with row-level security. Run by
`ksd migrate`, `ksd run` and the tests, after the registry and monitoring installs.
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from psycopg import sql

from services.monitoring import contract as monitoring
from services.registry import contract as registry
from services.reporting import contract as reporting
from services.reporting.application import Reporting
from services.reporting.views import (
    SCHEMA,
    AgreementsView,
    RecordsFeed,
    RecordsView,
    RegistryFeed,
    ReportsFeed,
    ReportsView,
)
from shared.answers import CHANGE_COUNTER, COUNT_CHANGE
from shared.application import secure_event_store
from shared.db import READER_ROLE, ensure_schema, eventsourcing_env, lag_query
from shared.db import feed_lag as shared_feed_lag
from shared.projection import Feed, built_beside, install_worker_tables, prepare_beside


def reporting_env(database_url: str, *, pool_size: int = 5, create_tables: bool = False) -> dict[str, str]:
    return eventsourcing_env(database_url, schema=SCHEMA, pool_size=pool_size, create_tables=create_tables)


def _feed_env(database_url: str, source_schema: str, projection: Any, pool_size: int) -> dict[str, str]:
    """Reads another service's notification log; writes this service's read model."""
    env = eventsourcing_env(database_url, schema=source_schema, pool_size=pool_size)
    for name in (projection.name, built_beside(projection).name):  # and its build beside, if it has one
        env[f"{name.upper()}_POSTGRES_SCHEMA"] = SCHEMA
    return env


def registry_feed_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    return _feed_env(database_url, registry.SCHEMA, RegistryFeed, pool_size)


def monitoring_feed_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    return _feed_env(database_url, monitoring.SCHEMA, RecordsFeed, pool_size)


def _own_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    return reporting_env(database_url, pool_size=pool_size)


# The worker runs one guarded ProjectionRunner per feed (shared.projection).
FEEDS = (
    # The registry's events (its contract), into the agreements and their stage history.
    Feed("registry_feed", registry.Log, RegistryFeed, AgreementsView, registry_feed_env),
    Feed("monitoring_feed", monitoring.Log, RecordsFeed, RecordsView, monitoring_feed_env),
    # This service's own events, through its own contract (as the open-data readers will).
    Feed("reports_feed", reporting.Log, ReportsFeed, ReportsView, _own_env),
)


def prepare_agreements(database_url: str) -> str:
    """`current`, `new` or `beside` for the agreements and their stage history in this schema
    (shared.projection.prepare_beside): a shape older than this code's (either table's) is
    rebuilt beside the live one, which stays served meanwhile."""
    env = registry_feed_env(database_url, pool_size=1)
    factory = InfrastructureFactory.construct(env=Environment(RegistryFeed.name, env))
    view: AgreementsView = factory.tracking_recorder(AgreementsView)  # type: ignore[assignment]
    try:
        return prepare_beside(view)
    finally:
        view.datastore.close()


def install(database_url: str) -> None:
    ensure_schema(database_url, SCHEMA)
    install_worker_tables(database_url, SCHEMA)  # dead letters and worker heartbeats
    # The read model's change counter, before the tables whose writes it counts (shared.answers).
    # A migration counts as a change: it may have reshaped what answers are computed from.
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        for statement in [*CHANGE_COUNTER, COUNT_CHANGE]:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(SCHEMA)))
    app = Reporting(reporting_env(database_url, pool_size=1, create_tables=True))
    try:
        secure_event_store(database_url, SCHEMA, app)
    finally:
        app.close()
    found = prepare_agreements(database_url)  # the agreements and the stage history, in this schema
    for feed in FEEDS:
        env = {**feed.env(database_url, pool_size=1), "CREATE_TABLE": "yes"}
        # A live agreements view of an older shape: the new one is created beside it.
        projection = built_beside(feed.projection) if feed.label == "registry_feed" and found == "beside" \
            else feed.projection
        factory = InfrastructureFactory.construct(env=Environment(projection.name, env))
        view = factory.tracking_recorder(feed.view)  # creates the tables and this feed's tracking table
        try:
            view.grant_reader()  # type: ignore[attr-defined]
            # Readers also see the positions: a compile's sources (POSITIONS_QUERY).
            with view.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
                curs.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(SCHEMA, view.tracking_table_name), sql.Identifier(READER_ROLE)))  # type: ignore[attr-defined]
        finally:
            view.datastore.close()  # type: ignore[attr-defined]


# Events recorded but not yet in this read model, per feed.
LAG_QUERY = lag_query(SCHEMA, [
    ("registry_feed", registry.SCHEMA, registry.LOG_NAME, RegistryFeed.name),
    ("monitoring_feed", monitoring.SCHEMA, monitoring.LOG_NAME, RecordsFeed.name),
    ("reports_feed", reporting.SCHEMA, reporting.LOG_NAME, ReportsFeed.name),
])

# The positions the read model has reached in each log: a compiled report's sources.
POSITIONS_QUERY = "SELECT " + ", ".join(  # noqa: S608 - names of this platform's schemas and applications
    f"coalesce((SELECT max(notification_id) FROM {SCHEMA}.{projection.name}_tracking"  # noqa: S608 - names of this platform's schemas and applications
    f" WHERE application_name = '{name}'), 0) AS {name}"
    for name, projection in ((registry.LOG_NAME, RegistryFeed), (monitoring.LOG_NAME, RecordsFeed),
                             (reporting.LOG_NAME, ReportsFeed))
)


def feed_lag(conn: psycopg.Connection) -> dict[str, int]:
    return shared_feed_lag(conn, LAG_QUERY)
