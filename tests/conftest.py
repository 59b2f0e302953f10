"""Project-wide pytest harness: the database.

Tests never touch a real database: `DATABASE_URL` from the developer's shell is never read
here. Every run gets a fresh, uniquely named database on a server where we may create
databases, found in this order:

1. `KSD_TEST_SERVER_URL` (a `postgresql://` URL), e.g. CI's own server;
2. a local PostgreSQL on 127.0.0.1:5432 that lets `postgres` in without a password;
3. a private cluster under `<repo>/.data/test-pg`, started with `shared.pgembed` (and stopped
   at the end of the run if this run started it).

The server may be shared with other clients, so the suite keeps its own connections few: the
test settings use pools of 2, and a sampler records the peak number of connections to the
databases this run created; above `CONNECTION_BOUND` the run fails (tests/README.md).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from litestar.testing import TestClient
from psycopg import sql

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from services.registry.application import Registry
from services.registry.setup import projection_lag, registry_env
from services.registry.worker import make_runner
from shared import pgembed
from shared.auth import TokenService
from shared.clock import ManualClock
from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_CLUSTER_DIR = REPO_ROOT / ".data" / "test-pg"
# Most connections this run may hold at once to the databases it creates (tests/README.md):
# one `ksd run` under test with KSD_DB_POOL_MAX=2 (3 services x 4 + the workers' 25 + a
# heartbeat each) plus the session's own apps and runners.
CONNECTION_BOUND = 50


class ConnectionSampler:
    """Samples, every `interval` seconds on its own connection, how many connections are open
    to the databases this run created, and keeps the peak and who held it."""

    def __init__(self, server_url: str, interval: float = 0.1) -> None:
        self.server_url, self.interval = server_url, interval
        self.databases: set[str] = set()
        self._lock = threading.Lock()
        self.peak = 0
        self.peak_detail: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ksd-test-connection-sampler", daemon=True)
        self._thread.start()

    def watch(self, database: str) -> None:
        with self._lock:
            self.databases.add(database)

    def sample(self, conn: psycopg.Connection) -> int:
        rows = conn.execute(
            "SELECT coalesce(nullif(application_name, ''), datname), count(*) FROM pg_stat_activity"
            " WHERE datname = ANY(%s) GROUP BY 1",
            (self._watched(),),
        ).fetchall()
        total = sum(n for _, n in rows)
        self.samples += 1
        if total > self.peak:
            self.peak, self.peak_detail = total, dict(rows)
        return total

    def _watched(self) -> list[str]:
        with self._lock:
            return sorted(self.databases)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.server_url, autocommit=True, application_name="ksd-test-sampler") as conn:
                while not self._stop.wait(self.interval):
                    if self.databases:
                        self.sample(conn)
        except psycopg.Error:
            pass  # the server went away: the peak so far stands

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_SAMPLERS: dict[str, ConnectionSampler] = {}


def connection_sampler(server_url: str) -> ConnectionSampler:
    """The run's sampler for `server_url`, started on first use."""
    if server_url not in _SAMPLERS:
        _SAMPLERS[server_url] = ConnectionSampler(server_url)
    return _SAMPLERS[server_url]


@pytest.fixture(scope="session", autouse=True)
def bounded_connections() -> Iterator[None]:
    """Fails the run (an error at its end) when the suite held more than CONNECTION_BOUND
    connections at once: on a server shared with other clients, that is what ran out."""
    yield
    for sampler in _SAMPLERS.values():
        sampler.stop()
    over = [s for s in _SAMPLERS.values() if s.peak > CONNECTION_BOUND]
    if over:
        pytest.fail(
            f"the test run held {over[0].peak} connections at once, more than its bound of {CONNECTION_BOUND}"
            f" (tests/README.md): {over[0].peak_detail}",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for sampler in _SAMPLERS.values():
        terminalreporter.write_line(
            f"peak connections to this run's databases: {sampler.peak} (bound {CONNECTION_BOUND}; "
            f"{sampler.samples} samples) {sampler.peak_detail}"
        )


def _may_create_databases(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers within `timeout` and its role may create databases.

    A TCP probe first: libpq's connect_timeout cannot go below 2 s, and a closed port should
    cost nothing.
    """
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=timeout):
            pass
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except (OSError, psycopg.Error):
        return False
    return bool(row and row[0])


def _with_dbname(url: str, dbname: str) -> str:
    """`url` pointing at database `dbname` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/" + quote(dbname, safe="")))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server on which the tests may create and drop databases."""
    explicit = os.environ.get("KSD_TEST_SERVER_URL")
    if explicit:
        if not explicit.startswith(("postgresql://", "postgres://")):
            pytest.fail(f"KSD_TEST_SERVER_URL must be a postgresql:// URL, not {explicit!r}", pytrace=False)
        yield explicit
        return
    if _may_create_databases(LOCAL_SERVER_URL):
        yield LOCAL_SERVER_URL
        return
    try:
        server = pgembed.ensure_server(TEST_CLUSTER_DIR, dbname="postgres")
    except pgembed.EmbeddedPostgresError as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server.admin_url  # the superuser: the tests create databases
    finally:
        server.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `predicate` every 0.1 s until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def live_children(parent: int) -> dict[int, list[str]]:
    """{pid: argv} of the live (not zombie) child processes of `parent`, from /proc."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found[int(entry.name)] = [a.decode(errors="replace") for a in argv if a]
    return found


@contextmanager
def cluster_dir(prefix: str) -> Iterator[Path]:
    """A base directory for a private cluster (shared.pgembed), stopped and removed after.

    Not pytest's tmp_path: as root its base (/tmp/pytest-of-root) is mode 0700, which the
    unprivileged user running PostgreSQL cannot enter. A 0755 directory under /tmp can be."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        try:
            pgembed.stop_server(path)
        finally:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, prefix: str = "ksd_test") -> Iterator[str]:
    """A new, uniquely named database on `server_url`, dropped (even if still in use) after."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    ident = sql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
    connection_sampler(server_url).watch(name)
    try:
        yield _with_dbname(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database for this test run, dropped afterwards."""
    with fresh_database(pg_server_url) as url:
        yield url


# -- the platform on the run's database ----------------------------------------------------


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    migrate_all(database_url)
    return database_url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Never the developer's environment: only what the tests say.
    return Settings.from_env(
        {}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(tmp_path_factory.mktemp("data")), log_level="warning",
        db_pool_max=2,
    )


@pytest.fixture(scope="session")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def registry_app(migrated_url: str, clock: ManualClock) -> Iterator[Registry]:
    """The registry's application layer on the run's database, without HTTP."""
    registry = Registry(registry_env(migrated_url, pool_size=2), clock=clock)
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def projection(migrated_url: str) -> Iterator[Callable[[], None]]:
    """The registry's projection runner, as the worker runs it; call it to wait for the
    read model to catch up with everything recorded so far. Per module: a runner left
    following live events would race the integration tests' own runners (two workers on
    one projection: the slower one stops on the other's tracking position)."""
    with make_runner(migrated_url) as runner:

        def caught_up(timeout: float = 10.0) -> None:
            deadline = time.monotonic() + timeout
            with psycopg.connect(migrated_url) as conn:
                while projection_lag(conn) > 0:
                    if time.monotonic() > deadline:
                        raise AssertionError("projection did not catch up")
                    runner.run_forever(timeout=0.05)

        yield caught_up


@pytest.fixture(scope="session")
def registry(settings: Settings, migrated_url: str, clock: ManualClock) -> Iterator[TestClient]:
    app = create_registry(settings, database_url=migrated_url, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def token(settings: Settings) -> Callable[..., dict[str, str]]:
    tokens = TokenService(settings)

    def headers(tenant: str, *roles: str, sub: str | None = None) -> dict[str, str]:
        jwt = tokens.issue(tenant=tenant, roles=roles or ("operator",), sub=sub)
        return {"Authorization": f"Bearer {jwt}"}

    return headers
