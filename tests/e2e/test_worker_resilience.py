"""Workers heal themselves: a lost database is retried with backoff and the worker resumes
from its tracking positions (events written meanwhile included); its heartbeat is what
`/ready` reads, so a dead or cut-off worker makes its service unready; SIGTERM stops it
promptly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from services.registry.application import Registry, StartAgreement
from services.registry.setup import projection_lag, registry_env
from services.registry.worker import run as run_registry_worker
from shared.auth import Identity
from shared.metrics import WORKER_ERRORS
from shared.settings import Settings
from tests.conftest import free_port, fresh_database, wait_for

OPERATOR = Identity(sub="op-res", name="Operator", tenant="32.73", roles=("operator",))


class Proxy:
    """A TCP proxy in front of PostgreSQL that the test can take down (every connection cut,
    new ones refused) and bring back on the same port: a database outage as a worker sees it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        self._running = True
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def down(self) -> None:
        self._running = False
        self._server.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def _accept(self, server: socket.socket) -> None:
        while self._running:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@pytest.fixture(scope="module")
def url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_resilience") as database:
        migrate_all(database)
        yield database


def worker_settings(**overrides: object) -> Settings:
    return Settings.from_env({}, jwt_secret="test-secret-" + "x" * 32, log_level="warning", db_pool_max=2, **{
        "worker_metrics_port": 0, "worker_heartbeat_seconds": 0.3, "worker_stale_after_seconds": 2.0,
        "worker_retry_max_seconds": 1.0, **overrides,
    })


def start(app: Registry, title: str) -> None:
    app.start_agreement(OPERATOR, StartAgreement(
        form="KSDD", category="sukarela", title=title, object="Uji ketahanan", urusan=["1.03"],
        parties=[{"region": "32.04"}],
    ))


def projected(url: str, *titles: str) -> bool:
    with psycopg.connect(url) as conn:
        found = {r[0] for r in conn.execute("SELECT title FROM registry.agreements WHERE title = ANY(%s)",
                                            (list(titles),))}
        return found == set(titles) and projection_lag(conn) == 0


def database_errors() -> float:
    return WORKER_ERRORS.labels(service="registry", kind="database")._value.get()  # noqa: SLF001


@pytest.fixture()
def registry_app(url: str) -> Iterator[Registry]:
    app = Registry(registry_env(url, pool_size=1))
    yield app
    app.close()


def test_a_worker_cut_off_from_the_database_retries_and_resumes_with_what_was_written_meanwhile(
    url: str, registry_app: Registry,
) -> None:
    settings = worker_settings()
    parts = urlsplit(url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    stop = threading.Event()
    worker = threading.Thread(target=run_registry_worker, args=(settings, through(url, proxy.port), stop), daemon=True)
    worker.start()
    try:
        with TestClient(create_registry(settings, database_url=url), raise_server_exceptions=False) as client:
            start(registry_app, "Sebelum putus")
            wait_for(lambda: projected(url, "Sebelum putus"), "the worker to project the first agreement")
            wait_for(lambda: client.get("/ready").status_code == 200, "the service to be ready")

            errors = database_errors()
            proxy.down()  # the worker's connections die; new ones are refused
            start(registry_app, "Selama putus 1")  # the platform keeps acknowledging writes
            start(registry_app, "Selama putus 2")
            wait_for(lambda: database_errors() >= errors + 2, "the worker to retry more than once")
            assert worker.is_alive(), "a database outage must never end the worker"
            # Its heartbeat goes stale: the service says so.
            wait_for(lambda: client.get("/ready").status_code == 503, "/ready to notice the dead worker")
            body = client.get("/ready").json()
            assert body["workers"]["live"] == 0 and any("tidak hidup" in r for r in body["reasons"]), body
            assert not projected(url, "Selama putus 1")

            proxy.up()
            wait_for(lambda: projected(url, "Sebelum putus", "Selama putus 1", "Selama putus 2"),
                     "the worker to resume and project what was written meanwhile")
            wait_for(lambda: client.get("/ready").status_code == 200, "/ready to recover")
            with psycopg.connect(url) as conn:
                status, error = conn.execute("SELECT status, last_error FROM registry.worker_heartbeats"
                                             " ORDER BY beat_at DESC LIMIT 1").fetchone()
                assert conn.execute("SELECT count(*) FROM registry.agreements WHERE title LIKE 'Se%%putus%%'"
                                    ).fetchone()[0] == 3  # each once
            assert status == "running" and error  # the last error stays visible to `ksd status`
    finally:
        stop.set()
        worker.join(timeout=20)
        proxy.down()
    assert not worker.is_alive()


def test_a_worker_whose_connections_are_terminated_reconnects_and_resumes(url: str, registry_app: Registry) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=run_registry_worker, args=(worker_settings(), url, stop), daemon=True)
    worker.start()
    try:
        start(registry_app, "Sebelum terminate")
        wait_for(lambda: projected(url, "Sebelum terminate"), "the worker to project")
        errors = database_errors()
        with psycopg.connect(url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 3  # the feed's LISTEN and pool connections, and the heartbeat's
        start(registry_app, "Sesudah terminate")
        wait_for(lambda: projected(url, "Sebelum terminate", "Sesudah terminate"), "the worker to resume")
        assert database_errors() > errors
        assert worker.is_alive()
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()


def heartbeat(url: str, *, age_seconds: float, status: str = "running") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM registry.worker_heartbeats")
        conn.execute(
            "INSERT INTO registry.worker_heartbeats (instance, worker, host, pid, started_at, beat_at, status)"
            " VALUES ('test:1:x', 'registry', 'test', 1, now(), now() - make_interval(secs => %s), %s)",
            (age_seconds, status),
        )


def test_ready_is_503_while_the_workers_heartbeat_is_stale_or_stopped(url: str) -> None:
    settings = worker_settings(worker_stale_after_seconds=10.0)
    with TestClient(create_registry(settings, database_url=url), raise_server_exceptions=False) as client:
        heartbeat(url, age_seconds=1)
        fresh = client.get("/ready")
        assert fresh.status_code == 200, fresh.text
        assert fresh.json()["workers"]["live"] == 1

        heartbeat(url, age_seconds=60)
        stale = client.get("/ready")
        assert stale.status_code == 503
        assert stale.json()["status"] == "unavailable" and stale.json()["workers"]["live"] == 0
        assert any("detak terakhir 60 detik lalu" in r for r in stale.json()["reasons"]), stale.json()

        heartbeat(url, age_seconds=0, status="stopped")  # a clean stop: no worker any more
        assert client.get("/ready").status_code == 503
        metrics = client.get("/metrics").text
        assert re.search(r'^ksd_worker_heartbeat_age_seconds\{service="registry"\} ', metrics, re.M)

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM registry.worker_heartbeats")
        never = client.get("/ready").json()
        assert never["workers"]["live"] == 0 and any("belum pernah berjalan" in r for r in never["reasons"])


def test_sigterm_stops_a_worker_process_promptly_and_its_heartbeat_says_so(url: str, tmp_path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KSD_")}, "DATABASE_URL": url,
           "KSD_DATA_DIR": str(tmp_path), "KSD_LOG_LEVEL": "warning", "KSD_WORKER_METRICS_PORT": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "services.ksd.cli", "worker", "registry"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def running() -> bool:
            with psycopg.connect(url) as conn:
                return conn.execute("SELECT count(*) FROM registry.worker_heartbeats WHERE status = 'running'"
                                    " AND pid = %s", (proc.pid,)).fetchone()[0] == 1

        wait_for(running, "the worker process to beat")
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        assert time.monotonic() - began < 5
        assert proc.returncode == 0, output
    finally:
        if proc.poll() is None:
            proc.kill()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT status FROM registry.worker_heartbeats WHERE pid = %s",
                            (proc.pid,)).fetchone()[0] == "stopped"


def free_port_pair() -> int:
    """A base port whose next port (the monitoring worker's, base + 1) is free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair")


def test_a_worker_serves_its_prometheus_metrics_on_its_own_port(url: str) -> None:
    import urllib.request

    base = free_port_pair()
    settings = worker_settings(worker_metrics_port=base)
    stop = threading.Event()
    from services.monitoring.worker import run as run_monitoring_worker

    worker = threading.Thread(target=run_monitoring_worker, args=(settings, url, stop), daemon=True)
    worker.start()
    try:
        def scraped() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/metrics", timeout=2) as response:
                    return response.read().decode()
            except OSError:
                return ""

        wait_for(lambda: 'ksd_notification_backlog{service="monitoring",state="pending"}' in scraped(),
                 "the monitoring worker's metrics")
        wait_for(lambda: 'ksd_projection_events_total{projection="registry_feed",service="monitoring"}' in scraped(),
                 "the feed to count the events it applied")
        text = scraped()
        for series in ('ksd_projection_lag_events{projection="registry_feed",service="monitoring"}',
                       'ksd_projection_lag_events{projection="monitoring_feed",service="monitoring"}',
                       'ksd_dead_letters_open{projection="registry_feed",service="monitoring"}',
                       'ksd_worker_batches_total{service="monitoring"}'):
            assert series in text, series
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()


def test_ksd_status_is_healthy_when_every_worker_beats_and_nothing_is_dead(url: str) -> None:
    from typer.testing import CliRunner

    from services.ksd.cli import app as cli
    from tests.e2e.workers import beating

    with beating(url):
        result = CliRunner().invoke(cli, ["status"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    for line in ("registry", "  lag          agreements 0", "  dead letter  0 terbuka / open",
                 "  notifikasi   0 tertunda / pending, 0 gagal / failing", "status: sehat / healthy"):
        assert line in result.output.splitlines() or line in result.output, result.output
    assert re.search(r"worker +\S+:\d+:\w+ +running +detak / beat \d+ s +hidup / live", result.output)

    stopped = CliRunner().invoke(cli, ["status"], env={"DATABASE_URL": url})  # the beats said "stopped"
    assert stopped.exit_code == 1
    assert "status: TIDAK SEHAT / unhealthy" in stopped.output and "tidak hidup" in stopped.output


def test_the_registry_worker_sweeps_documents_no_event_references(url: str, tmp_path) -> None:
    import hashlib

    from shared.blobs import FilesystemBlobStore

    settings = worker_settings(data_dir=str(tmp_path), blob_sweep_grace_seconds=1)
    orphan = FilesystemBlobStore(settings.blob_path).path_of(hashlib.sha256(b"yatim").hexdigest())
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"yatim")  # a document whose save failed, long ago
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    stop = threading.Event()
    worker = threading.Thread(target=run_registry_worker, args=(settings, url, stop), daemon=True)
    worker.start()
    try:
        wait_for(lambda: not orphan.exists(), "the worker's sweep at start")
    finally:
        stop.set()
        worker.join(timeout=20)
