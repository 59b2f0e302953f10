"""PostgreSQL access shared by the services: connection settings, schemas, pools, and
tenant-scoped transactions that row-level security checks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import msgspec
import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from shared.errors import cause_chain

# The settings key RLS policies read; set per transaction with set_config(..., true).
TENANT_SETTING = "ksd.tenant"
# The role read transactions switch to: SELECT on read models only, so row-level security
# applies even when the service connects as the tables' owner or a superuser.
READER_ROLE = "ksd_reader"


# -- json and jsonb values read ---------------------------------------------------------------------


def json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """A json or jsonb value as Python values: msgspec's decoder, 3-4 times the json module's
    speed (a consolidation at the national size spent a third of its time in `json.loads`),
    with the same values (integers of any size, key order). What msgspec refuses and the json
    module reads (a number beyond a float's range, which jsonb's numeric can hold: `inf`)
    goes to the json module."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


# Every connection this process opens from here on (the services' pools, the workers' and
# eventsourcing's): psycopg's global adapters.
set_json_loads(json_loads)


# -- which failures are the database's, not the request's or the event's --------------------------

# A lost or refused connection, a pool timeout (psycopg_pool.PoolTimeout is an
# OperationalError), a lock or statement timeout, a deadlock, a server shutting down:
# eventsourcing wraps psycopg's errors in its own classes of the same names.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    StoreOperationalError,
    StoreInterfaceError,
)


def database_outage(exc: BaseException, *, follow_context: bool = True) -> BaseException | None:
    """The error in `exc`'s chain saying the database cannot be reached right now (worth a
    503 with Retry-After, a worker's retry with backoff), if any; they arrive unchanged through
    anyio's threads and eventsourcing's recorders. Not a "program limit exceeded" (SQLSTATE
    class 54, an OperationalError to psycopg): a value too large for an index row or a
    tsvector fails the same way every time."""
    chain = cause_chain(exc, follow_context=follow_context)
    if any(isinstance(e, psycopg.errors.ProgramLimitExceeded) for e in chain):
        return None
    return next((e for e in chain if isinstance(e, TRANSIENT_ERRORS)), None)


# Who may read a row: its audience holds the reader's tenant (see shared.tenancy).
AUDIENCE_POLICY = "visible_to @> ARRAY[current_setting('ksd.tenant', true)]"


# What begins a statement that makes (or sets) an index only readers use, never the projection
# that writes the table: a view built beside the live one makes these after its last batch
# (`shared.projection.BesideView`), once, instead of keeping them row by row.
READERS_INDEX = "/* readers' index */ "


def gin_index(name: str, table: str, expression: str, *, schema: str = "{schema}") -> list[str]:
    """A GIN index whose pending list (where GIN queues inserts, and which every read of the
    index scans to the end) holds 64 kB at most instead of 4 MB: after a rebuild the national
    list of a kab/kota read 3.5 ms, 0.28 ms once the list was merged. The writer merges it as
    it goes (no slower rebuild measured). Formatted like `reader_policy`'s statements. A
    readers' index (`READERS_INDEX`): no projection looks its rows up by a GIN column."""
    return [
        f"{READERS_INDEX}CREATE INDEX IF NOT EXISTS {name} ON {schema}.{table} USING gin ({expression})"
        " WITH (gin_pending_list_limit = 64)",
        # An index made before: set once (the ALTER locks the index against readers a moment).
        f"{READERS_INDEX}DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass("  # noqa: S608
        f"'{schema}.{name}') AND reloptions @> ARRAY['gin_pending_list_limit=64']) THEN "
        f"EXECUTE 'ALTER INDEX {schema}.{name} SET (gin_pending_list_limit = 64)'; END IF; END $$",
    ]


def payload_columns(table: str, *columns: str, schema: str = "{schema}") -> str:
    """Columns read back whole and never filtered, grouped or sorted by (a record's JSON, its
    parties, who created it) left out of the planner's statistics. ANALYZE (run on a view
    built beside the live one before it is switched in, and by autovacuum) otherwise sorts
    every sampled jsonb value to rank the common ones: on 20,000 agreements `parties` and
    `created_by` each cost more than 100 ms of an 880 ms ANALYZE."""
    return f"ALTER TABLE {schema}.{table} " + ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0" for c in columns)


def reader_policy(table: str, using: str = AUDIENCE_POLICY, *, schema: str = "{schema}") -> list[str]:
    """Row-level security on a read-model table: read transactions (`ksd_reader`, tenant set)
    see the rows `using` admits. The owner (the projection writing it) is not subject to it,
    so no write policy exists that a reader could unlock. `schema` is the placeholder the
    statements are formatted with."""
    return [
        f"ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {table}_tenant_read ON {schema}.{table}",
        f"CREATE POLICY {table}_tenant_read ON {schema}.{table} FOR SELECT TO ksd_reader USING ({using})",
    ]


def ensure_schema(database_url: str, *schemas: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def eventsourcing_env(
    database_url: str, *, schema: str, pool_size: int = 5, create_tables: bool = False
) -> dict[str, str]:
    """The environment eventsourcing's PostgreSQL persistence reads (it takes no DSN).

    `pool_size` is the most connections this pool ever opens: one at start, more on demand,
    never more (eventsourcing's own default adds an overflow of 10 on top). Every checkout is
    pinged first, so a connection the server dropped (a restart, an idle timeout) is replaced
    instead of failing a request. Tables are created by the migration only: DDL at every
    server or worker start would lock the read model against readers, once per instance."""
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    parts = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or parts.get("user") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        # eventsourcing's pool: min_size = POOL_SIZE, max_size = POOL_SIZE + MAX_OVERFLOW.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(pool_size - 1),
        "POSTGRES_CONN_MAX_AGE": "600",
        # A round trip per checkout, so a stale pooled connection never reaches a request.
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # How long a save waits for a pooled connection: during an outage a request answers
        # 503 (Retry-After) within seconds instead of holding the client for minutes.
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "CREATE_TABLE": "yes" if create_tables else "no",
        # Every event is stored with its class version and its link of the hash chain.
        "MAPPER_TOPIC": "shared.audit.store:RecordedVersionMapper",
        "APPLICATION_RECORDER_TOPIC": "shared.audit.store:HashChainRecorder",
    }


def make_async_pool(database_url: str, *, min_size: int, max_size: int, name: str) -> AsyncConnectionPool:
    """A pool opened by the app's lifespan (never at import time), of at most `max_size`
    connections, each checked before use (a connection the server dropped is replaced, not
    handed to a request)."""
    return AsyncConnectionPool(
        database_url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        open=False,
        name=name,
        check=AsyncConnectionPool.check_connection,
        # Wait at most this long for a connection; then PoolTimeout, a 503 with Retry-After.
        timeout=5.0,
        # No JIT: read queries are short, and a misestimated join (jsonb expansion) would
        # otherwise spend far longer compiling than running.
        kwargs={"autocommit": False, "row_factory": dict_row, "application_name": f"ksd-{name}",
                "options": "-c jit=off"},
    )


@asynccontextmanager
async def tenant_transaction(
    pool: AsyncConnectionPool, tenant: str, *, snapshot: bool = False
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:  # rows: dict_row, the pool's row factory
    """A read transaction in which row-level security sees `tenant` and nothing else.
    `snapshot`: every query sees the same moment (several reads that must agree)."""
    async with pool.connection() as conn, conn.transaction():
        if snapshot:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # set_config('role', ..., true) is SET LOCAL ROLE, in the same round trip. A plan made
        # for each execution: a cached generic plan would serve every tenant the same plan,
        # though a kab/kota sees a handful of rows and the ministry all of them.
        await conn.execute(
            "SELECT set_config('role', %s, true), set_config(%s, %s, true),"
            " set_config('plan_cache_mode', 'force_custom_plan', true)",
            (READER_ROLE, TENANT_SETTING, tenant),
        )
        yield conn


def ensure_reader_role(conn: psycopg.Connection) -> None:
    """Create the read-only role (cluster-wide, so tolerate a concurrent creator) and let
    the connecting user switch to it."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone()
    if not exists:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(READER_ROLE)))
        except psycopg.errors.DuplicateObject:
            pass
        except psycopg.errors.UniqueViolation:
            pass
    member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (READER_ROLE,)).fetchone()
    if not (member and member[0]):
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(READER_ROLE)))


IMMUTABLE_EVENTS_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.ksd_events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def protect_events_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    """Refuse UPDATE, DELETE and TRUNCATE on an events table, for every role.

    Privileges alone would not stop the table's owner (the role the services run as), so a
    trigger does it. Only a superuser who disables triggers can rewrite history, and the
    audit hash chain exists to detect exactly that.
    """
    ident = {"schema": sql.Identifier(schema), "table": sql.Identifier(table)}
    conn.execute(sql.SQL(IMMUTABLE_EVENTS_FUNCTION).format(**ident))
    for name, when in (
        ("ksd_events_no_update_delete", "BEFORE UPDATE OR DELETE ON {schema}.{table} FOR EACH ROW"),
        ("ksd_events_no_truncate", "BEFORE TRUNCATE ON {schema}.{table} FOR EACH STATEMENT"),
    ):
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER {name} " + when + " EXECUTE FUNCTION {schema}.ksd_events_are_immutable()"
            ).format(
                name=sql.Identifier(name), **ident
            )
        )


def lag_query(schema: str, feeds: list[tuple[str, str, str, str]]) -> str:
    """One row: for each feed `(label, source schema, source application, projection)`, how
    many events the source's log holds beyond what the projection's tracking table (in
    `schema`) has processed. Names are the code's own constants, never user input."""
    def lag(source_schema: str, app: str, projection: str) -> str:
        return (
            f"(SELECT coalesce(max(notification_id), 0) FROM {source_schema}.{app}_events)"  # noqa: S608
            f" - coalesce((SELECT max(notification_id) FROM {schema}.{projection}_tracking"
            f" WHERE application_name = '{app}'), 0)"
        )

    return "SELECT " + ", ".join(
        f"{lag(source, app, projection)} AS {label}" for label, source, app, projection in feeds)


def feed_lag(conn: psycopg.Connection, query: str) -> dict[str, int]:
    """`lag_query`'s row as {label: events behind}."""
    cur = conn.execute(query)
    names = [c.name for c in cur.description or []]
    row = cur.fetchone()
    values = list(row.values()) if isinstance(row, dict) else list(row or ())  # any row factory
    return {n: int(v) for n, v in zip(names, values, strict=True)}


# -- the connection budget ---------------------------------------------------------------------

# Every worker feed is a ProjectionRunner with two pools of this size: its application's (one
# connection LISTENs for new events, one reads them) and its view's (the projection's writes,
# plus the worker's own queries on the view). Set in services/*/worker.py and setup.py.
FEED_POOL_SIZE = 2
# Feeds per worker, and connections a worker holds beside them: its heartbeat's (shared/worker.py),
# and the monitoring worker's notification outbox's.
WORKER_FEEDS = {"registry": 1, "monitoring": 2, "reporting": 3}
WORKER_EXTRA_CONNECTIONS = {"registry": 1, "monitoring": 2, "reporting": 1}


def service_connections(settings: Any) -> int:
    """Most connections one service process opens: its read pool and its event-store pool,
    `KSD_DB_POOL_MAX` each."""
    pool_max: int = settings.db_pool_max
    return 2 * pool_max


def worker_connections(service: str) -> int:
    """Most connections one worker process opens."""
    return WORKER_FEEDS[service] * 2 * FEED_POOL_SIZE + WORKER_EXTRA_CONNECTIONS[service]


def connection_budget(settings: Any) -> dict[str, int]:
    """{process name: most connections it opens} for one of each process `ksd run` starts."""
    budget = {service: service_connections(settings) for service in WORKER_FEEDS}
    budget.update({f"{service}-worker": worker_connections(service) for service in WORKER_FEEDS})
    return budget


class ServerLimits(NamedTuple):
    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections (PostgreSQL 16+)
    in_use: int  # connections open now, every database and user
    superuser: bool  # whether we connect as a superuser (who may take the reserved slots)

    @property
    def available(self) -> int:
        """Connections a non-superuser application may open at most."""
        return self.max_connections - self.reserved


def server_limits(conn: psycopg.Connection) -> ServerLimits:
    row = conn.execute(
        "SELECT current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int"
        " + coalesce(current_setting('reserved_connections', true)::int, 0),"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    ).fetchone()
    assert row is not None  # noqa: S101 - narrows the type; never checks input
    return ServerLimits(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))


class BudgetVerdict(NamedTuple):
    fits: bool  # False: with the headroom, the platform can exhaust the server; refuse to start
    message: str  # why it does not fit, or the figures when it does
    warnings: list[str]
    total: int


def check_budget(limits: ServerLimits, budget: dict[str, int], headroom: int) -> BudgetVerdict:
    """Whether `budget` fits under what the server allows non-superusers with `headroom`
    connections left for administrators, migrations and tools. Messages in Bahasa Indonesia /
    English."""
    total = sum(budget.values())
    figures = (f"max_connections {limits.max_connections} - {limits.reserved} khusus superuser / "
               f"reserved = {limits.available}")
    if total + headroom > limits.available:
        return BudgetVerdict(False, (
            f"anggaran koneksi {total} + cadangan {headroom} melebihi batas server ({figures}) / "
            f"the connection budget {total} + headroom {headroom} exceeds the server's limit: "
            "lower KSD_DB_POOL_MAX (or KSD_DB_CONNECTION_HEADROOM), raise max_connections, "
            "or put PgBouncer in front (deploy/README.md)"
        ), [], total)
    warnings = []
    if total > limits.available - limits.in_use:
        warnings.append(
            f"{limits.in_use} koneksi sudah terbuka di server; anggaran {total} mungkin tidak muat / "
            f"{limits.in_use} connections are already open on the server; a budget of {total} may not fit"
        )
    if limits.superuser:
        warnings.append(
            "aplikasi tersambung sebagai superuser, slot cadangan tidak melindungi administrator / "
            "the application connects as a superuser, so the reserved slots do not protect administrators"
            " (use an ordinary role, deploy/README.md)"
        )
    return BudgetVerdict(True, f"koneksi / connections: {total} + {headroom} dari / of {limits.available} ({figures})",
                         warnings, total)
