"""Projection rebuild benchmark (issue #11, requirement 3): the registry worker's batched feed
rebuilding `registry.agreements` from a realistic event store (the seeded families with their
lifecycles, about twelve events per agreement) against raw `COPY` of the rows it ends with,
in the same run on the same database; then the same rebuild beside the live view (a new view
version), with a reader reading the live view throughout: every read answered, and the pause
the switch-over makes.

Run with `make bench`. Nothing here asserts a timing; the target is 30,000 events/s. The table
is printed and written to `.data/bench/rebuild.txt` and `.json`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from services.ksd.cli import migrate_all
from services.ksd.seed import seed
from services.monitoring.worker import MonitoringWorker
from services.registry.application import Registry
from services.registry.audit import Audit
from services.registry.projections.agreements import JSON_COLUMNS, VIEW_COLUMNS
from services.registry.setup import projection_lag, registry_env
from services.registry.worker import make_runner
from services.reporting.worker import ReportingWorker
from shared.audit.signing import signing_key_from_settings
from shared.db import READER_ROLE, TENANT_SETTING
from shared.projection import FeedRunner, switch_over
from shared.settings import Settings
from shared.worker import FeedWorker, tune_gc
from tests.conftest import fresh_database
from tests.perf.test_registry_bench import REPO_ROOT, Report, Result

pytestmark = pytest.mark.perf

SCALE = float(os.environ.get("KSD_BENCH_SCALE", "1"))
N_FAMILIES = max(200, int(4_000 * SCALE))  # seeded agreement families (about 12 events each)
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "rebuild.txt"
# The steady read load beside the first build: a national list page every 50 ms.
READ_RATE = float(os.environ.get("KSD_BENCH_REBUILD_READ_RATE", "20"))
LIST = ("SELECT id, position, api FROM registry.agreements WHERE visible_to @> ARRAY[%s]"
        " ORDER BY position DESC LIMIT 20")


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bench_rebuild") as url:
        migrate_all(url)
        seed(url, scale="national", count=N_FAMILIES)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA bench")
        yield url


def events_in_store(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM registry.registry_events").fetchone()[0]


def test_rebuild_from_the_events_and_beside_the_live_view(bench_url: str, tmp_path: Path) -> None:
    report = Report()
    load_before = os.getloadavg()
    tune_gc()  # as `ksd worker` does
    section = "projection rebuild from zero (registry worker's feed -> registry.agreements)"
    with psycopg.connect(bench_url, autocommit=True) as conn:
        n_events = events_in_store(conn)
        conn.execute("TRUNCATE registry.agreements, registry.agreements_tracking")
        conn.execute("DELETE FROM registry.dead_letters")
        t0 = time.perf_counter()
        with make_runner(bench_url) as runner:
            while projection_lag(conn) > 0:
                runner.run_forever(timeout=0.01)
        rebuild_s = time.perf_counter() - t0
        assert conn.execute("SELECT count(*) FROM registry.dead_letters").fetchone()[0] == 0
        families = conn.execute("SELECT count(DISTINCT originator_id) FROM registry.registry_events").fetchone()[0]
        n_rows = conn.execute("SELECT count(*) FROM registry.agreements").fetchone()[0]
        assert n_rows == families

        # The baseline: the rows the rebuild ended with, written by raw COPY in one transaction
        # into a table of the same columns, keys and indexes (no RLS).
        cols = sql.SQL(", ").join(map(sql.Identifier, VIEW_COLUMNS))
        texts = sql.SQL(", ").join(  # JSON as text, as the projection sends it
            sql.SQL("{}::text").format(sql.Identifier(c)) if c in JSON_COLUMNS else sql.Identifier(c)
            for c in VIEW_COLUMNS)
        rows = conn.execute(sql.SQL("SELECT {} FROM registry.agreements ORDER BY position").format(texts)).fetchall()
        conn.execute("CREATE TABLE bench.agreements_raw (LIKE registry.agreements INCLUDING ALL)")
        copy = sql.SQL("COPY bench.agreements_raw ({}) FROM STDIN").format(cols)
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as pipe:
            t0 = time.perf_counter()
            for row in rows:
                pipe.write_row(row)
        copy_s = time.perf_counter() - t0

    base = "raw COPY of the rows the rebuild ends with, 1 tx"
    report.add(Result(section, base, n_events, copy_s))
    report.add(Result(section, "rebuild: the worker's feed, batched (per event)", n_events, rebuild_s, baseline=base))
    report.notes.append(f"{N_FAMILIES} seeded families: {n_events} events, {n_rows} rows; rebuild "
                        f"{n_events / rebuild_s:,.0f} events/s (target 30,000), raw COPY {n_rows / copy_s:,.0f} rows/s")

    # The other services' read models of the registry's events (monitoring's agreements and
    # their stage history; reporting's, with their stage history and period parts): each a new
    # shape built beside its live one, from zero until caught up.
    settings = Settings.from_env({}, jwt_secret="bench-secret-" + "x" * 32, data_dir=str(tmp_path))
    for worker in (MonitoringWorker(settings, bench_url), ReportingWorker(settings, bench_url)):
        seconds = _rebuild_beside(bench_url, worker)
        report.add(Result(section, f"  {worker.service}'s read model of them, built beside (per event)", n_events,
                          seconds, baseline=base))
        report.notes.append(f"{worker.service}'s read model of the registry's events, built beside: "
                            f"{n_events / seconds:,.0f} events/s")

    # -- beside the live view: a new version built while a reader reads the live one ------------
    secret = "bench-secret-" + "x" * 32
    settings = Settings.from_env({}, jwt_secret=secret, data_dir=str(tmp_path))  # the worker's key, below
    # The transparency log's tree heads signed first, as a running platform's worker keeps them
    # (every few seconds, as the log grows): the seed left its 80,000-odd leaves unsigned, and
    # the worker would otherwise sign them all in its first round, beside the rebuild.
    registry = Registry(registry_env(bench_url, pool_size=1))
    try:
        Audit(registry, signing_key=signing_key_from_settings(settings)).sign_heads(budget_seconds=600)
    finally:
        registry.close()
    # Twice: while a reader reads at a steady READ_RATE (the build's speed beside a read load),
    # then while one reads as fast as it can (the reads and the build share 2 cores: how far
    # the reads slow the build, and that they are served throughout).
    for rate in (READ_RATE, 0):
        reads = f"{rate} reads/s" if rate else "reads as fast as they go"
        section = f"rebuild beside the live view (new version), {reads}"
        beside_s, first, during, failures = _beside(bench_url, tmp_path, secret, rate)
        assert not failures, failures[:3]
        report.add(Result(section, "rebuild beside + switch-over (`ksd worker`, per event)", n_events, beside_s))
        if first is not None:
            report.add(Result(section, "  from its first batch's commit (the rest, per event)", n_events - first[1],
                              first[0]))
        report.add(Result(section, "  reads of the live view meanwhile (national, 20 rows)", len(during),
                          sum(during), samples_s=during))
        report.notes.append(
            f"beside, {reads}: {n_events / beside_s:,.0f} events/s including the worker's start (a new process; "
            "its tree heads signed beforehand, as a running worker keeps them)"
            + (f", {(n_events - first[1]) / first[0]:,.0f} from its first batch's commit" if first else "")
            + f"; {len(during)} reads meanwhile, {len(failures)} failed, slowest {max(during) * 1000:.0f} ms "
            "(the switch-over's locks)")

    with psycopg.connect(bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    text = report.save(RESULTS_FILE, [
        f"Sinergi KSD projection rebuild benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version}, scale {SCALE:g}",
        "load average (1, 5, 15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()),
    ])
    print("\n\n" + text + "\n")


def _rebuild_beside(bench_url: str, worker: FeedWorker) -> float:
    """Seconds for `worker`'s feed of the registry's events (its first) to fill a new shape of
    its view beside the live one, from zero until it has caught up; then it is switched in."""
    feed = worker.feeds[0]
    view = worker.view_class(feed)
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute(f"COMMENT ON TABLE {worker.schema}.agreements IS 'ksd view version 0'")
    migrate_all(bench_url)
    t0 = time.perf_counter()
    with FeedRunner(worker.service, feed, bench_url, view_class=view, beside=True) as runner:
        while (position := runner.position())[0] < position[1]:
            runner.run_forever(timeout=0.01)
    seconds = time.perf_counter() - t0
    switch_over(feed, bench_url, view)
    return seconds


def _beside(bench_url: str, tmp_path: Path, secret: str,
            rate: float) -> tuple[float, tuple[float, int] | None, list[float], list[str]]:
    """A new version of the view built beside the live one by `ksd worker registry`, while a
    reader reads the live view (`rate` reads a second, or as fast as it can when 0): the
    seconds to the switch-over (the worker's start included); the seconds from its first
    batch's commit and that batch's position; each read's seconds; the reads that failed."""
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute("COMMENT ON TABLE registry.agreements IS 'ksd view version 0'")
    migrate_all(bench_url)
    with psycopg.connect(bench_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('registry.agreements_next') IS NOT NULL").fetchone()[0]

    samples: list[float] = []
    failures: list[str] = []
    reading = threading.Event()
    reading.set()

    def read() -> None:
        with psycopg.connect(bench_url) as reader:
            due = time.perf_counter()
            while reading.is_set():
                if rate:
                    due += 1 / rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                t0 = time.perf_counter()
                try:
                    with reader.transaction():
                        reader.execute("SELECT set_config('role', %s, true), set_config(%s, %s, true)",
                                       (READER_ROLE, TENANT_SETTING, "national"))
                        assert len(reader.execute(LIST, ("national",)).fetchall()) == 20
                except Exception as exc:  # noqa: BLE001 - counted: a read that failed
                    failures.append(f"{type(exc).__name__}: {exc}")
                samples.append(time.perf_counter() - t0)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.5)
    before = len(samples)
    # `ksd worker registry` in its own process, as deployed (a thread here would share this
    # process's interpreter lock with the reader).
    env = {**os.environ, "DATABASE_URL": bench_url, "KSD_DATA_DIR": str(tmp_path), "KSD_LOG_LEVEL": "warning",
           "KSD_JWT_SECRET": secret, "KSD_WORKER_METRICS_PORT": "0",
           "KSD_WORKER_HEARTBEAT_SECONDS": "1", "PYTHONPATH": str(REPO_ROOT)}
    log = (tmp_path / "worker.log").open("wb")
    t0 = time.perf_counter()
    worker = subprocess.Popen([sys.executable, "-m", "services.ksd.cli", "worker", "registry"], env=env,
                              cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    first: tuple[float, int] | None = None  # when its first batch was committed, and its position
    try:
        with psycopg.connect(bench_url, autocommit=True) as conn:
            deadline = time.monotonic() + 600
            while conn.execute("SELECT to_regclass('registry.agreements_next') IS NOT NULL").fetchone()[0]:
                assert time.monotonic() < deadline, "the rebuild beside did not switch over"
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
                if first is None:
                    with contextlib.suppress(psycopg.errors.UndefinedTable):  # (switched meanwhile)
                        position = conn.execute(
                            "SELECT CASE WHEN EXISTS (SELECT FROM registry.agreements_next)"
                            " THEN (SELECT max(notification_id) FROM registry.agreements_next_tracking) END"
                        ).fetchone()[0]
                        if position:
                            first = (time.perf_counter(), position)
                time.sleep(0.01)
            beside_s = time.perf_counter() - t0
            while projection_lag(conn) > 0:
                time.sleep(0.01)
        time.sleep(0.5)
    finally:
        reading.clear()
        reader.join(timeout=30)
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    rest = None if first is None else (t0 + beside_s - first[0], first[1])
    return beside_s, rest, samples[before:], failures
