"""Create (idempotently) everything the monitoring service stores: its schema, its event
store (with the audit hash chain), the read model with row-level security, the alerts and
the notification outbox. Run by `ksd migrate`, `ksd run` and the tests.
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from services.monitoring.application import Monitoring
from services.monitoring.views import SCHEMA, AgreementsView, MonitoringFeed, RecordsView, RegistryFeed
from services.registry import contract as registry
from shared.application import secure_event_store
from shared.db import ensure_schema, eventsourcing_env, lag_query
from shared.db import feed_lag as shared_feed_lag
from shared.projection import Feed, built_beside, install_worker_tables, prepare_beside
from shared.settings import Settings


def monitoring_env(database_url: str, *, pool_size: int = 5, create_tables: bool = False) -> dict[str, str]:
    return eventsourcing_env(database_url, schema=SCHEMA, pool_size=pool_size, create_tables=create_tables)


def registry_feed_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    """Reads the registry's notification log; writes the view in this service's schema."""
    env = eventsourcing_env(database_url, schema=registry.SCHEMA, pool_size=pool_size)
    for name in (RegistryFeed.name, built_beside(RegistryFeed).name):  # and its build beside
        env[f"{name.upper()}_POSTGRES_SCHEMA"] = SCHEMA
    return env


def view_of(projection: Any, view: type[Any], env: dict[str, str]) -> Any:
    factory = InfrastructureFactory.construct(env=Environment(projection.name, env))
    return factory.tracking_recorder(view.configured(Settings.from_env({})))  # only creates tables here


def prepare_agreements(database_url: str) -> str:
    """`current`, `new` or `beside` for the agreements and their stage history
    (shared.projection.prepare_beside): a shape older than this code's (either table's) is
    rebuilt beside the live one, which stays served meanwhile."""
    view = view_of(RegistryFeed, AgreementsView, registry_feed_env(database_url, pool_size=1))
    try:
        return prepare_beside(view)
    finally:
        view.datastore.close()


def install(database_url: str) -> None:
    ensure_schema(database_url, SCHEMA)
    install_worker_tables(database_url, SCHEMA)  # dead letters and worker heartbeats
    app = Monitoring(monitoring_env(database_url, pool_size=1, create_tables=True))
    try:
        secure_event_store(database_url, SCHEMA, app)
    finally:
        app.close()
    found = prepare_agreements(database_url)
    # A live agreements view of an older shape: the new one is created beside it.
    registry_feed = built_beside(RegistryFeed) if found == "beside" else RegistryFeed
    for projection, view_class, env in (
        (registry_feed, AgreementsView, {**registry_feed_env(database_url, pool_size=1), "CREATE_TABLE": "yes"}),
        (MonitoringFeed, RecordsView, monitoring_env(database_url, pool_size=1, create_tables=True)),
    ):
        view = view_of(projection, view_class, env)  # creates the tables and this projection's tracking table
        view.grant_reader()
        view.datastore.close()


def _own_env(database_url: str, *, pool_size: int = 2) -> dict[str, str]:
    return monitoring_env(database_url, pool_size=pool_size)


# The monitoring worker's feeds, each into its view (configured with the settings and clock
# by the worker: `Feed.view_class`).
FEEDS = (
    Feed("registry_feed", registry.Log, RegistryFeed, AgreementsView, registry_feed_env),
    Feed("monitoring_feed", Monitoring, MonitoringFeed, RecordsView, _own_env),
)

# Notification deliveries not yet made: new ones, and ones retried after a failure.
BACKLOG_QUERY = (
    f"SELECT count(*) FILTER (WHERE attempts = 0) AS pending, count(*) FILTER (WHERE attempts > 0) AS failing"  # noqa: S608
    f" FROM {SCHEMA}.deliveries WHERE delivered_at IS NULL"
)

# Events recorded but not yet in the read model, per feed.
LAG_QUERY = lag_query(SCHEMA, [
    ("registry_feed", registry.SCHEMA, registry.LOG_NAME, RegistryFeed.name),
    ("monitoring_feed", SCHEMA, Monitoring.name, MonitoringFeed.name),
])


def feed_lag(conn: psycopg.Connection) -> dict[str, int]:
    return shared_feed_lag(conn, LAG_QUERY)
