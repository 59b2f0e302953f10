"""Projection lag under a steady write load (issue #11, requirement 3): agreements started at a
paced 200 actions/s through the registry application (group commit, as the HTTP apps save),
while `ksd worker registry` runs in its own process; for each action, the time from its
commit to its row being readable in `registry.agreements` (what a list or GraphQL read sees).

The baseline is the same reader's round trip: the poll that finds a row (one SELECT every
`POLL_S`), measured on rows already there. Nothing here asserts a timing; the target is a p99
lag under 300 ms at 200 actions/s. Written to `.data/bench/lag.txt` and `.json`.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from services.ksd.cli import migrate_all
from services.registry.application import Registry, StartAgreement
from services.registry.setup import projection_lag, registry_env
from shared.auth import Identity
from tests.conftest import fresh_database, wait_for
from tests.perf.test_registry_bench import REPO_ROOT, Report, Result

pytestmark = pytest.mark.perf

RATE = float(os.environ.get("KSD_BENCH_LAG_RATE", "200"))  # actions/s, paced
SECONDS = float(os.environ.get("KSD_BENCH_LAG_SECONDS", "10"))
WRITERS = 8  # threads sharing the rate (group commit joins their saves)
POLL_S = 0.005
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "lag.txt"
OPERATOR = Identity(sub="bench-lag", name="Operator", tenant="32.73", roles=("operator",))


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bench_lag") as url:
        migrate_all(url)
        yield url


def command(i: int) -> StartAgreement:
    return StartAgreement(form="KSDD", category="sukarela", title=f"Lag {i}", object="Pengelolaan sampah",
                          urusan=["1.03"], parties=[{"region": "32.04"}])


def test_lag_from_commit_to_read_model_at_a_steady_rate(bench_url: str, tmp_path: Path) -> None:
    report = Report()
    load_before = os.getloadavg()
    env = {**os.environ, "DATABASE_URL": bench_url, "KSD_DATA_DIR": str(tmp_path), "KSD_LOG_LEVEL": "warning",
           "KSD_JWT_SECRET": "bench-secret-" + "x" * 32, "KSD_WORKER_METRICS_PORT": "0",
           "PYTHONPATH": str(REPO_ROOT)}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "services.ksd.cli", "worker", "registry"], env=env,
                              cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    app = Registry(registry_env(bench_url, pool_size=4))
    committed: dict[UUID, float] = {}
    visible: dict[UUID, float] = {}
    lock = threading.Lock()
    writing = threading.Event()
    writing.set()
    try:
        app.start_agreement(OPERATOR, command(-1))  # the worker is up once this is projected
        with psycopg.connect(bench_url, autocommit=True) as conn:
            wait_for(lambda: projection_lag(conn) == 0, "the worker to start", timeout=60)

        def poll() -> None:
            with psycopg.connect(bench_url, autocommit=True) as conn:
                query = "SELECT id FROM registry.agreements WHERE id = ANY(%s)"
                while writing.is_set() or len(visible) < len(committed):
                    with lock:
                        waiting = [i for i in committed if i not in visible]
                    if waiting:
                        found = conn.execute(query, (waiting,), prepare=True).fetchall()
                        now = time.perf_counter()
                        with lock:
                            for (i,) in found:
                                visible[i] = now
                    time.sleep(POLL_S)

        def write(k: int) -> None:
            interval = WRITERS / RATE
            start = time.perf_counter() + k * interval / WRITERS
            i = k
            while True:
                due = start + (i // WRITERS) * interval
                if due - start > SECONDS:
                    return
                time.sleep(max(0.0, due - time.perf_counter()))
                agreement = app.start_agreement(OPERATOR, command(i)).agreement
                with lock:
                    committed[agreement.id] = time.perf_counter()
                i += WRITERS

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        t0 = time.perf_counter()
        writers = [threading.Thread(target=write, args=(k,), daemon=True) for k in range(WRITERS)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        elapsed = time.perf_counter() - t0
        writing.clear()
        poller.join(timeout=60)
        assert len(visible) == len(committed), "every action reached the read model"

        # The baseline: the poll itself, finding rows that are there.
        with psycopg.connect(bench_url, autocommit=True) as conn:
            ids = list(committed)[:200]
            rtt = []
            for i in ids:
                t1 = time.perf_counter()
                conn.execute("SELECT id FROM registry.agreements WHERE id = ANY(%s)", ([i],), prepare=True).fetchall()
                rtt.append(time.perf_counter() - t1)
    finally:
        writing.clear()
        app.close()
        worker.terminate()
        worker.wait(timeout=30)
        log.close()

    section = f"lag from commit to the read model, {RATE:.0f} actions/s paced ({WRITERS} writers)"
    lags = [visible[i] - committed[i] for i in committed]
    base = f"the poll's own round trip (+ up to {POLL_S * 1000:.0f} ms between polls)"
    report.add(Result(section, base, len(rtt), sum(rtt) + POLL_S * len(rtt), samples_s=[r + POLL_S for r in rtt]))
    report.add(Result(section, "lag: committed -> row readable (ksd worker registry)", len(lags), sum(lags),
                      baseline=base, samples_s=lags))
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    report.notes.append(f"{len(committed)} actions in {elapsed:.1f} s ({len(committed) / elapsed:,.0f}/s reached); "
                        f"lag p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms (target p99 < 300 ms)")
    with psycopg.connect(bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    text = report.save(RESULTS_FILE, [
        f"Sinergi KSD projection lag benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version}",
        "load average (1, 5, 15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()),
    ])
    print("\n\n" + text + "\n")
