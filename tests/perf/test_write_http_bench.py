"""Durable agreement actions through the real HTTP server (issue 16, requirement 4: group
commit), against raw psycopg durable inserts with the same client counts, in the same run.

The registry runs under granian as the platform runs it (one process, uvloop), on a fresh
database; every client works on its own seeded agreements (a submit-offer with If-Match "1"
on each, one after the other, as fast as answers come), for a few seconds per client count,
with group commit on (`KSD_GROUP_COMMIT=1`) and off. The clients are a minimal HTTP/1.1
keep-alive client on asyncio (uvloop), one connection each, so that the measuring process
takes as little of the machine's CPU as it can. Nothing here asserts a timing: the test
checks the work was done (every answer a 200, every action stored once); the numbers are
printed and written to `.data/bench/write_http.txt`.

Run: `.venv/bin/python -m pytest -m perf -s tests/perf/test_write_http_bench.py`
(`KSD_BENCH_SECONDS`, default 4: the measured seconds per row; `KSD_BENCH_CLIENTS`, default
"16,64"; `KSD_BENCH_GROUP_COMMIT`, default "1,0"; `KSD_BENCH_WORKERS`, default 1: granian's
worker processes; `KSD_BENCH_PROFILE=<py-spy>`: a profile of the server per row).
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import psycopg
import pytest
import uvloop
from psycopg import sql
from psycopg_pool import ConnectionPool

from services.ksd.cli import migrate_all
from services.registry.application import Registry
from services.registry.setup import registry_env
from shared.auth import TokenService
from shared.periods import local_date
from shared.settings import Settings
from tests.conftest import free_port, fresh_database, live_children, wait_for
from tests.perf.test_registry_bench import (
    EVENTS,
    HEAVY_TENANT,
    REPO_ROOT,
    Report,
    Result,
    build_agreements,
    make_raw_events_table,
    sample_event,
)

pytestmark = pytest.mark.perf

SECONDS = float(os.environ.get("KSD_BENCH_SECONDS", "4"))
CLIENTS = tuple(int(c) for c in os.environ.get("KSD_BENCH_CLIENTS", "16,64").split(","))
GROUP_COMMIT = tuple(os.environ.get("KSD_BENCH_GROUP_COMMIT", "1,0").split(","))
WARMUP_S = 1.0
# Agreements seeded per measured row: more than the fastest row can act on in SECONDS.
PER_ROW = int(max(2_000, 2_500 * (SECONDS + WARMUP_S)))
WORKERS = int(os.environ.get("KSD_BENCH_WORKERS", "1"))  # granian worker processes (the platform runs 1)
POOL_MAX = int(os.environ.get("KSD_BENCH_POOL_MAX", "16"))  # the server's KSD_DB_POOL_MAX (event store and read pools)
RAW_CONNECTIONS = 16  # the baseline's connections (the test run's bound is 50 in all)
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "write_http.txt"
JWT_SECRET = "bench-secret-" + "x" * 32


# -- the server -------------------------------------------------------------------------


class Server:
    """`ksd serve <service>`'s command line (granian, uvloop, one worker), started here: the
    registry unless `app` names another service's app factory."""

    def __init__(self, url: str, data_dir: Path, *, group_commit: str, name: str,
                 app: str = "services.registry.app:create_app") -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "KSD_JWT_SECRET": JWT_SECRET,
            "KSD_DATA_DIR": str(data_dir),
            "KSD_DB_POOL_MAX": str(POOL_MAX),
            "KSD_GROUP_COMMIT": group_commit,
            "PYTHONPATH": str(REPO_ROOT),
        }
        self.log = (data_dir / f"server-{name}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(WORKERS), "--no-ws",
             app],
            env=env, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for(self._healthy, f"{app} under granian", timeout=60)

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"granian exited with {self.process.returncode}; see {self.log.name}")
        try:
            status, _ = asyncio.run(_one_request(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        except OSError:
            return False
        return status == 200

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by granian and its worker process(es)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in (self.process.pid, *live_children(self.process.pid)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / tick

    def batches(self) -> str:
        """The group committer's batches, as its writer logged them when it stopped."""
        text = Path(self.log.name).read_text(errors="replace")
        found = re.findall(r'"batches": (\d+), "commands": (\d+)', text)
        if not found:
            return ""
        batches, commands = (sum(int(f[i]) for f in found) for i in (0, 1))
        return f"; {commands} commands in {batches} transactions ({commands / max(batches, 1):.1f} per batch)"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


# -- a minimal HTTP/1.1 keep-alive client ---------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise AssertionError(f"no content-length in the answer: {head!r}")
    return status, await reader.readexactly(length)


async def _one_request(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await _read_response(reader)
    finally:
        writer.close()


def _action_request(agreement_id: uuid.UUID, token: str, body: bytes) -> bytes:
    return (
        f"POST /agreements/{agreement_id}/actions/submit-offer HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nIf-Match: \"1\"\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _drive(port: int, work: Sequence[Sequence[uuid.UUID]], token: str, body: bytes,
                 warmup_s: float, seconds: float) -> tuple[list[float], float, int, list[tuple[int, bytes]]]:
    """Each client acts on its own agreements, one request at a time, until the time is up.
    Returns the latencies of the requests started in the measured window, its length, how
    many agreements were acted on in all, and the unexpected answers."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup_s, start + warmup_s + seconds
    samples: list[float] = []
    bad: list[tuple[int, bytes]] = []
    done = 0

    async def client(ids: Sequence[uuid.UUID]) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for agreement_id in ids:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                writer.write(_action_request(agreement_id, token, body))
                status, answer = await _read_response(reader)
                t1 = time.perf_counter()
                done += 1
                if status != 200:
                    bad.append((status, answer[:300]))
                if t0 >= measure_from:
                    samples.append(t1 - t0)
            raise AssertionError("a client ran out of agreements: seed more (PER_ROW)")
        finally:
            writer.close()

    await asyncio.gather(*(client(ids) for ids in work))
    return samples, seconds, done, bad


def _profile(server: Server, name: str) -> subprocess.Popen | None:
    """With KSD_BENCH_PROFILE=<py-spy executable>: py-spy samples the server (and its worker
    process) through the measured window, into `.data/bench/write_http-<name>.svg` (and a
    `.txt` of collapsed stacks)."""
    py_spy = os.environ.get("KSD_BENCH_PROFILE")
    if not py_spy:
        return None
    out = RESULTS_FILE.with_name(f"write_http-{name}.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--format", "raw", "--rate", "200",
         "--gil", "--duration", str(int(WARMUP_S + SECONDS)), "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


# -- the raw baseline -------------------------------------------------------------------


def _raw_inserts(url: str, table: sql.Composed, topic: str, state: bytes, clients: int,
                 seconds: float) -> tuple[list[float], float]:
    """`clients` threads, each inserting one event row per transaction (committed, durable)
    through a pool of RAW_CONNECTIONS, for WARMUP_S then `seconds`; the measured latencies."""
    insert = sql.SQL("INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, 2, %s, %s)"
                     " RETURNING notification_id").format(table)
    samples: list[list[float]] = [[] for _ in range(clients)]
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + seconds
    with ConnectionPool(url, min_size=min(clients, RAW_CONNECTIONS), max_size=min(clients, RAW_CONNECTIONS),
                        open=True, name="bench-raw") as pool:
        pool.wait()

        def client(mine: list[float]) -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                with pool.connection() as conn:
                    conn.execute(insert, (uuid.uuid4(), topic, state), prepare=True).fetchone()
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    mine.append(t1 - t0)

        threads = [threading.Thread(target=client, args=(samples[i],)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [s for mine in samples for s in mine], seconds


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bench_http") as url:
        migrate_all(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA bench")
        yield url


def _seed(url: str, n: int) -> list[uuid.UUID]:
    """n new agreements of HEAVY_TENANT, saved in batches (the write benchmark's targets)."""
    app = Registry(registry_env(url, pool_size=1))
    try:
        rng = random.Random(n)
        ids: list[uuid.UUID] = []
        for start in range(0, n, 1000):
            batch = build_agreements(rng, min(1000, n - start), initiators=(HEAVY_TENANT,))
            app.save(*batch)
            ids += [a.id for a in batch]
        return ids
    finally:
        app.close()


def _result(section: str, name: str, samples: list[float], seconds: float, baseline: str | None) -> Result:
    # total_s: the measured window, n: the requests answered in it, so ops/s is the throughput.
    return Result(section, name, len(samples), seconds, baseline=baseline, samples_s=samples)


# -- the benchmark ----------------------------------------------------------------------


def test_durable_actions_over_http(bench_url: str, tmp_path: Path) -> None:
    report = Report()
    settings = Settings.from_env({}, jwt_secret=JWT_SECRET, data_dir=str(tmp_path))
    token = TokenService(settings).issue(tenant=HEAVY_TENANT, roles=("operator",), sub="bench-writer")
    body = msgspec.json.encode({"reference": "005/KS/2026", "sent_on": local_date(datetime.now(UTC)).isoformat()})

    with psycopg.connect(bench_url, autocommit=True) as conn:
        _seed(bench_url, 1)
        topic, state = sample_event(conn)
        table = make_raw_events_table(conn, "raw_http_actions")

    cpu_notes: list[str] = []
    for clients in CLIENTS:
        section = f"{clients} clients: durable agreement actions over HTTP vs raw psycopg durable inserts"
        base = f"raw psycopg INSERT+COMMIT, {clients} threads / {min(clients, RAW_CONNECTIONS)} conns"
        samples, seconds = _raw_inserts(bench_url, table, topic, state, clients, SECONDS)
        report.add(_result(section, base, samples, seconds, None))
        for group_commit in GROUP_COMMIT:
            ids = _seed(bench_url, PER_ROW)
            work = [ids[i::clients] for i in range(clients)]
            with psycopg.connect(bench_url, autocommit=True) as conn:
                before = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            server = Server(bench_url, tmp_path, group_commit=group_commit, name=f"c{clients}-gc{group_commit}")
            try:
                profiler = _profile(server, f"c{clients}-gc{group_commit}")
                cpu = server.cpu_seconds()
                samples, seconds, done, bad = uvloop.run(_drive(server.port, work, token, body, WARMUP_S, SECONDS))
                cpu = server.cpu_seconds() - cpu
                if profiler is not None:
                    profiler.wait(SECONDS + 30)
            finally:
                server.stop()
            stats = server.batches()
            assert not bad, f"{len(bad)} unexpected answers, e.g. {bad[:3]}"
            with psycopg.connect(bench_url, autocommit=True) as conn:
                after = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            assert after - before == done, "every answered action stored exactly once"
            name = f"HTTP submit-offer, group commit {'on' if group_commit == '1' else 'off'}"
            report.add(_result(section, name, samples, seconds, base))
            cpu_notes.append(f"{clients} clients, {name}: server CPU {cpu / done * 1000:.2f} ms per action "
                             f"({cpu / (WARMUP_S + SECONDS):.0%} of one core){stats}")

    for r in report.results:
        p99 = r.percentile_ms(0.99)
        report.notes.append(f"{r.n / r.total_s:,.0f}/s p99 {p99:.1f} ms: {r.section[:11]} {r.operation}"
                            if p99 is not None else f"{r.operation}: too few samples")
    report.notes.extend(cpu_notes)
    with psycopg.connect(bench_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        pg = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN"
                               " ('fsync', 'synchronous_commit', 'commit_delay', 'max_connections')").fetchall())
    header = [
        f"Sinergi KSD durable writes over HTTP, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, load {os.getloadavg()[0]:.2f}, PostgreSQL "
        f"{version} " + " ".join(f"{k}={v}" for k, v in sorted(pg.items())),
        f"{SECONDS:g} s measured per row after {WARMUP_S:g} s warm-up; registry under granian "
        f"({WORKERS} worker(s), uvloop), KSD_DB_POOL_MAX={POOL_MAX}; "
        "client: asyncio keep-alive HTTP/1.1, one connection per client",
    ]
    text = report.save(RESULTS_FILE, header)
    print("\n\n" + text + "\n")
