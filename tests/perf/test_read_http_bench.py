"""Reads through the real server (issue #11, requirement 5): the registry under granian (one
process, as the platform runs it) answering `GET /agreements?limit=20`, GraphQL
`agreements(first: 20)` and `GET /agreements/{id}` to 16 keep-alive clients, for a kab/kota, a
province and `national`, against raw psycopg running the same SELECT under row-level security
(role `ksd_reader`, tenant set) from 16 threads, in the same run on the same database.

The data set is `ksd seed`'s generator (`KSD_BENCH_READ_FAMILIES`, default 10,000 families,
about 120,000 events; `100000` is the national dataset). Nothing here asserts a timing; the
targets are ≥ 1,500 rps with p95 < 30 ms for the REST list and ≥ 1,000 rps for GraphQL.
Written to `.data/bench/read_http.txt` and `.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import uvloop

from services.ksd.cli import migrate_all
from services.ksd.seed import seed
from services.registry.application import Registry
from services.registry.domain.commands import AttachDocument
from services.registry.setup import projection_lag, registry_env
from services.registry.worker import make_runner
from shared.auth import Identity, TokenService
from shared.db import READER_ROLE, TENANT_SETTING
from shared.settings import Settings
from shared.worker import tune_gc
from tests.conftest import fresh_database
from tests.perf.test_registry_bench import GRAPHQL_LIST, REPO_ROOT, Report
from tests.perf.test_write_http_bench import JWT_SECRET, WARMUP_S, Server, _read_response, _result

pytestmark = pytest.mark.perf

SECONDS = float(os.environ.get("KSD_BENCH_SECONDS", "4"))
CLIENTS = 16
FAMILIES = int(os.environ.get("KSD_BENCH_READ_FAMILIES", "10000"))
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "read_http.txt"
LIST = ("SELECT id, position, api FROM registry.agreements WHERE visible_to @> ARRAY[%s]"
        " ORDER BY position DESC LIMIT 21")
ONE = "SELECT id, position, api FROM registry.agreements WHERE id = %s AND visible_to @> ARRAY[%s]"
GRAPHQL = json.dumps({"query": GRAPHQL_LIST}).encode()  # the fields a list page shows
LONG_HISTORY = 1_000  # events of the agreement time travel reads
# Time travel's database work: the events of one agreement up to a version (the application
# reads the nearest snapshot first, then fewer events: this baseline reads more, not less).
EVENTS_UP_TO = ("SELECT originator_version, topic, state FROM registry.registry_events"
                " WHERE originator_id = %s AND originator_version <= %s ORDER BY originator_version")


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bench_read") as url:
        migrate_all(url)
        seed(url, scale="national", count=FAMILIES)
        tune_gc()
        with make_runner(url) as runner, psycopg.connect(url, autocommit=True) as conn:
            while projection_lag(conn) > 0:
                runner.run_forever(timeout=0.05)
            conn.execute("ANALYZE registry.agreements")
        yield url


def _get(path: str, token: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


def _post(path: str, token: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _drive(port: int, request: Callable[[int], bytes], check: Callable[[bytes], None],
                 seconds: float) -> tuple[list[float], list[tuple[int, bytes]]]:
    """CLIENTS keep-alive clients, one request at a time each, for WARMUP_S then `seconds`."""
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + seconds
    samples: list[float] = []
    bad: list[tuple[int, bytes]] = []

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        try:
            while (t0 := time.perf_counter()) < stop_at:
                writer.write(request(i))
                status, answer = await _read_response(reader)
                t1 = time.perf_counter()
                if status != 200:
                    bad.append((status, answer[:300]))
                elif i < CLIENTS:
                    check(answer)
                if t0 >= measure_from:
                    samples.append(t1 - t0)
                i += CLIENTS
        finally:
            writer.close()

    await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return samples, bad


def long_history(url: str) -> tuple[str, int]:
    """An agreement given a history of LONG_HISTORY events (documents attached to it, through
    the registry's application): its id and its version then."""
    with psycopg.connect(url) as conn:
        agreement_id, version, initiator = conn.execute(
            "SELECT id, version, initiator FROM registry.agreements WHERE stage = 'pelaksanaan'"
            " AND length(initiator) > 2 ORDER BY position LIMIT 1").fetchone()
    app = Registry(registry_env(url, pool_size=1))
    identity = Identity(sub="bench-operator", name="", tenant=initiator, roles=("operator",))
    try:
        for i in range(LONG_HISTORY - version):
            command = AttachDocument(kind="lainnya", name=f"lampiran-{i}.pdf", size=1_000 + i,
                                     media_type="application/pdf", sha256=f"{i:064x}")
            version = app.act(identity, agreement_id, version, command).version
    finally:
        app.close()
    return str(agreement_id), version


def raw_threads(work: Callable[[psycopg.Connection, int], object], url: str, seconds: float) -> list[float]:
    """CLIENTS threads, each on its own connection, each calling `work(conn, i)` over and over
    (i: the call's number): the seconds each call took within the measured window."""
    start = time.perf_counter()
    measure_from, stop_at = start + WARMUP_S, start + WARMUP_S + seconds
    samples: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        mine: list[float] = []
        with psycopg.connect(url) as conn:
            i = k
            while (t0 := time.perf_counter()) < stop_at:
                work(conn, i)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    mine.append(t1 - t0)
                i += CLIENTS
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def _raw(url: str, query: str, params: Callable[[int], Sequence[object]], tenant: str,
         seconds: float) -> list[float]:
    """CLIENTS threads, each on its own connection, each read in a transaction as the services
    read: role ksd_reader, tenant set, then the SELECT."""

    def read(conn: psycopg.Connection, i: int) -> None:
        with conn.transaction():
            conn.execute("SELECT set_config('role', %s, true), set_config(%s, %s, true)",
                         (READER_ROLE, TENANT_SETTING, tenant), prepare=True)
            rows = conn.execute(query, params(i), prepare=True).fetchall()
            assert rows

    return raw_threads(read, url, seconds)


def test_reads_through_the_real_server(bench_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rate limits stay in the request's path but never trip: the clients stand for many
    # users at many addresses, not one at 1,000 requests a second.
    monkeypatch.setenv("KSD_RATE_LIMIT_PER_TOKEN", "100000000")
    monkeypatch.setenv("KSD_RATE_LIMIT_PER_ADDRESS", "100000000")
    report = Report()
    load_before = os.getloadavg()
    settings = Settings.from_env({}, jwt_secret=JWT_SECRET, data_dir=str(tmp_path))
    tokens = TokenService(settings)
    with psycopg.connect(bench_url, autocommit=True) as conn:
        n_rows = conn.execute("SELECT count(*) FROM registry.agreements").fetchone()[0]
        n_events = conn.execute("SELECT count(*) FROM registry.registry_events").fetchone()[0]
        kab_kota = conn.execute(
            "SELECT r, count(*) FROM registry.agreements, unnest(party_regions) AS r WHERE length(r) > 2"
            " GROUP BY r ORDER BY 2 DESC LIMIT 1").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM registry.agreements ORDER BY position").fetchall()]
    random.Random(3).shuffle(ids)
    tenants = {"kab/kota " + kab_kota: kab_kota, "province " + kab_kota[:2]: kab_kota[:2], "national": "national"}

    server = Server(bench_url, tmp_path, group_commit="1", name="reads")
    try:
        # What no read can beat on this machine: the server answering a request that needs no
        # token and no database (its middleware and routing, granian, the load generator).
        section = f"the server's floor, {CLIENTS} clients"
        samples, bad = uvloop.run(_drive(server.port, lambda i: b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                                         lambda answer: None, SECONDS))
        assert not bad, bad[:3]
        report.add(_result(section, "GET /health (granian; no token, no database)", samples, SECONDS, None))
        for label, tenant in tenants.items():
            with psycopg.connect(bench_url) as conn:
                visible = conn.execute("SELECT count(*) FROM registry.agreements WHERE visible_to @> ARRAY[%s]",
                                       (tenant,)).fetchone()[0]
            label = f"{label} ({visible} agreements)"
            page = min(20, visible)

            def listed(answer: bytes, page: int = page) -> None:
                assert len(json.loads(answer)["items"]) == page

            def graphql_listed(answer: bytes, page: int = page) -> None:
                assert len(json.loads(answer)["data"]["agreements"]["edges"]) == page

            token = tokens.issue(tenant=tenant, roles=("monitor" if tenant == "national" else "operator",),
                                 sub="bench-reader")
            section = f"{label}: lists, {CLIENTS} clients"
            base = "raw psycopg: the list's SELECT under RLS, 16 threads"
            report.add(_result(section, base, _raw(bench_url, LIST, lambda i, t=tenant: (t,), tenant, SECONDS),
                               SECONDS, None))
            rest = _get("/agreements?limit=20", token)
            samples, bad = uvloop.run(_drive(server.port, lambda i, r=rest: r, listed, SECONDS))
            assert not bad, bad[:3]
            report.add(_result(section, "REST GET /agreements?limit=20 (granian)", samples, SECONDS, base))
            graphql = _post("/graphql", token, GRAPHQL)
            samples, bad = uvloop.run(_drive(server.port, lambda i, r=graphql: r, graphql_listed, SECONDS))
            assert not bad, bad[:3]
            report.add(_result(section, "GraphQL agreements(first: 20) (granian)", samples, SECONDS, base))

        token = tokens.issue(tenant="national", roles=("monitor",), sub="bench-reader")
        section = f"one agreement by id, national, {CLIENTS} clients"
        base = "raw psycopg: SELECT by id under RLS, 16 threads"
        report.add(_result(section, base, _raw(bench_url, ONE, lambda i: (ids[i % len(ids)], "national"), "national",
                                               SECONDS), SECONDS, None))
        samples, bad = uvloop.run(_drive(server.port, lambda i: _get(f"/agreements/{ids[i % len(ids)]}", token),
                                         lambda answer: None, SECONDS))
        assert not bad, bad[:3]
        report.add(_result(section, "REST GET /agreements/{id} (granian; stored JSON when current)", samples,
                           SECONDS, base))

        # Time travel: one agreement with a long history, read at random versions of it.
        agreement_id, head = long_history(bench_url)
        versions = [random.Random(5).randrange(1, head + 1) for _ in range(10_000)]
        section = f"time travel, a {head}-event agreement, ?version= (random), national, {CLIENTS} clients"
        base = "raw psycopg: its events up to the version, 16 threads"

        def events_up_to(conn: psycopg.Connection, i: int) -> None:
            # As the application reads the event store: its owner, not ksd_reader (events have no RLS).
            assert conn.execute(EVENTS_UP_TO, (agreement_id, versions[i % len(versions)]), prepare=True).fetchall()

        report.add(_result(section, base, raw_threads(events_up_to, bench_url, SECONDS), SECONDS, None))

        def versioned(answer: bytes) -> None:
            assert json.loads(answer)["version"] >= 1

        samples, bad = uvloop.run(_drive(
            server.port, lambda i: _get(f"/agreements/{agreement_id}?version={versions[i % len(versions)]}", token),
            versioned, SECONDS))
        assert not bad, bad[:3]
        report.add(_result(section, "REST GET /agreements/{id}?version= (granian; snapshot + events)", samples,
                           SECONDS, base))
    finally:
        server.stop()

    for r in report.results:
        p95 = r.percentile_ms(0.95)
        report.notes.append(f"{r.n / r.total_s:,.0f} rps p95 {p95:.1f} ms: {r.section}: {r.operation}"
                            if p95 is not None else f"{r.operation}: too few samples")
    with psycopg.connect(bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    text = report.save(RESULTS_FILE, [
        f"Sinergi KSD reads through the real server, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version}; {FAMILIES} seeded families:"
        f" {n_rows} agreements, {n_events} events",
        f"{SECONDS:g} s measured per row after {WARMUP_S:g} s warm-up; registry under granian (1 worker, uvloop)",
        "load average (1, 5, 15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()),
    ])
    print("\n\n" + text + "\n")
