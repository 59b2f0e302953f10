"""Registry benchmarks: durable writes, projection catch-up and tenant-scoped list reads,
each against a raw-psycopg baseline measured in the same run on the same database.

Run with `make bench` (`python -m pytest -m perf -s tests/perf`). Nothing here asserts a
timing: the tests check only that the work was done (counts, ids, caught-up projection);
the numbers are printed as a table and written to `.data/bench/last.txt`.
See tests/perf/README.md for how to read them.
"""

from __future__ import annotations

import json
import os
import platform
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from litestar.testing import TestClient
from psycopg import sql
from psycopg.types.json import Jsonb

from services.ksd.cli import migrate_all
from services.registry import contract
from services.registry.app import create_app as create_registry
from services.registry.application import Registry, StartAgreement
from services.registry.domain.agreement import Agreement, Category, Form, RegionParty, wajib_pair_allowed
from services.registry.domain.commands import SubmitOffer
from services.registry.projections.agreements import (
    COLUMNS,
    JSON_COLUMNS,
    VIEW_COLUMNS,
    AgreementsProjection,
    api_json,
    row_of,
)
from services.registry.setup import SCHEMA, projection_lag, registry_env
from services.registry.worker import make_runner
from shared.auth import Identity
from shared.db import READER_ROLE, TENANT_SETTING
from shared.periods import local_date
from shared.regions import load_regions
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.test_registry_http import BANDUNG

pytestmark = pytest.mark.perf

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "last.txt"

# Sizes (scaled by KSD_BENCH_SCALE, default 1): keep `make bench` under a minute on 2 cores.
SCALE = float(os.environ.get("KSD_BENCH_SCALE", "1"))
N_SINGLE = max(10, int(300 * SCALE))  # sequential creates, one agreement per save
BATCH = 100  # aggregates per save / rows per raw transaction
N_BATCHES = max(1, int(10 * SCALE))  # batched creates: N_BATCHES * BATCH
N_CATCHUP_CREATES = max(BATCH, int(2_000 * SCALE) // BATCH * BATCH)  # recorded before catch-up
N_READS = max(20, int(200 * SCALE))  # requests per read benchmark
WARMUP = 10


# Initiators of the catch-up data set (two provinces); partners are drawn from the same province.
INITIATORS = ("32.73", "32.04", "32.77", "32.17", "32.01", "32.71", "35.78", "35.15")
HEAVY_TENANT = "32.73"  # initiator of every agreement of the write benchmarks, too
SPARSE_TENANT = "32.79"  # Kota Banjar: only ever a randomly drawn partner
URUSAN = ("1.03", "2.11", "1.01", "2.09", "1.04")

EVENTS = sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(f"{Registry.name}_events"))
AGREEMENTS = sql.SQL("{}.agreements").format(sql.Identifier(SCHEMA))



# -- results ---------------------------------------------------------------------------


@dataclass
class Result:
    section: str
    operation: str
    n: int
    total_s: float
    baseline: str | None = None  # operation name of the row this one is compared with
    samples_s: Sequence[float] = ()  # per-operation latencies, when measured one by one

    @property
    def per_op_ms(self) -> float:
        return self.total_s / self.n * 1000

    @property
    def ops_per_s(self) -> float:
        return self.n / self.total_s if self.total_s else float("inf")

    def percentile_ms(self, q: float) -> float | None:
        if len(self.samples_s) < 2:
            return None
        ordered = sorted(self.samples_s)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        return result

    def baseline_of(self, result: Result) -> Result | None:
        """The row named as `result`'s baseline, in the same section."""
        return next(
            (r for r in self.results if r.section == result.section and r.operation == result.baseline), None
        )

    def render(self, header: Sequence[str]) -> str:
        cols = ("operation", "n", "total s", "per-op ms", "p50 ms", "p95 ms", "ops/s", "ratio vs baseline")
        lines: list[tuple[str, ...]] = []
        sections: list[tuple[str, int]] = []
        for r in self.results:
            if not sections or sections[-1][0] != r.section:
                sections.append((r.section, len(lines)))
            base = self.baseline_of(r) if r.baseline else None
            if base is None:
                ratio = "baseline" if r.baseline is None else "?"
            else:
                ratio = f"{r.per_op_ms / base.per_op_ms:.2f}x"
            p50, p95 = r.percentile_ms(0.50), r.percentile_ms(0.95)
            lines.append((
                r.operation,
                str(r.n),
                f"{r.total_s:.3f}",
                f"{r.per_op_ms:.3f}",
                "" if p50 is None else f"{p50:.3f}",
                "" if p95 is None else f"{p95:.3f}",
                f"{r.ops_per_s:,.0f}",
                ratio,
            ))
        widths = [max(len(c), *(len(line[i]) for line in lines)) if lines else len(c) for i, c in enumerate(cols)]

        def fmt(row: Sequence[str]) -> str:
            first = row[0].ljust(widths[0])
            rest = (cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))
            return "  ".join((first, *rest)).rstrip()

        rule = "-" * len(fmt(cols))
        out = [*header, "", fmt(cols), rule]
        starts = {start: name for name, start in sections}
        for i, line in enumerate(lines):
            if i in starts:
                if i:
                    out.append("")
                out.append(f"[{starts[i]}]")
            out.append(fmt(line))
        out.append(rule)
        out.append("ratio = per-op ms / per-op ms of the section's baseline row (2.00x = takes twice as long).")
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out)


    def as_json(self, header: Sequence[str]) -> dict[str, Any]:
        """The same table as data: every row with its baseline's name and its ratio."""
        rows = []
        for r in self.results:
            base = self.baseline_of(r) if r.baseline else None
            rows.append({
                "section": r.section, "operation": r.operation.strip(), "diagnostic": r.operation.startswith(" "),
                "n": r.n, "total_s": round(r.total_s, 6), "per_op_ms": round(r.per_op_ms, 6),
                "p50_ms": r.percentile_ms(0.50), "p95_ms": r.percentile_ms(0.95), "p99_ms": r.percentile_ms(0.99),
                "ops_per_s": round(r.ops_per_s, 3), "baseline": r.baseline and r.baseline.strip(),
                "ratio": round(r.per_op_ms / base.per_op_ms, 4) if base else None,
            })
        return {"header": list(header), "rows": rows, "notes": list(self.notes)}

    def save(self, path: Path, header: Sequence[str]) -> str:
        """Write the table as text to `path` and as JSON beside it (same name, `.json`); answer
        the text."""
        text = self.render(header)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        path.with_suffix(".json").write_text(json.dumps(self.as_json(header), indent=1) + "\n", encoding="utf-8")
        return text


def timed(fn: Callable[[], Any], n: int) -> tuple[float, list[float]]:
    """Run `fn` n times; the total wall time and each call's time."""
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return time.perf_counter() - start, samples


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this module only (the run's shared test database stays small)."""
    with fresh_database(pg_server_url, prefix="ksd_bench") as url:
        migrate_all(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA bench")  # the baselines' tables
        yield url


@pytest.fixture(scope="module")
def report(bench_url: str) -> Iterator[Report]:
    rep = Report()
    yield rep
    with psycopg.connect(bench_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        pg_settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'commit_delay')"
            ).fetchall()
        )
    header = [
        f"Sinergi KSD registry benchmarks, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version} "
        + " ".join(f"{k}={v}" for k, v in sorted(pg_settings.items())),
        f"scale {SCALE:g} (KSD_BENCH_SCALE); every baseline is raw psycopg on the same database, same run",
    ]
    text = rep.save(RESULTS_FILE, header)
    print("\n\n" + text + "\n")


# -- helpers ---------------------------------------------------------------------------


def operator(tenant: str) -> Identity:
    return Identity(sub=f"bench-{tenant}", name=f"Operator {tenant}", tenant=tenant, roles=("operator",))


def event_count(conn: psycopg.Connection) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]


def make_raw_events_table(conn: psycopg.Connection, name: str) -> sql.Composed:
    """An empty table like eventsourcing's events table (same columns, keys and index)."""
    table = sql.SQL("bench.{}").format(sql.Identifier(name))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text,"
            " state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        ).format(table)
    )
    conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id ASC)").format(table))
    return table


def sample_event(conn: psycopg.Connection) -> tuple[str, bytes]:
    """One real stored `Started` event: its topic and state bytes."""
    row = conn.execute(
        sql.SQL("SELECT topic, state FROM {} ORDER BY notification_id DESC LIMIT 1").format(EVENTS)
    ).fetchone()
    assert row is not None
    return row[0], bytes(row[1])


def build_agreements(rng: random.Random, n: int, initiators: Sequence[str] = INITIATORS) -> list[Agreement]:
    """n new, valid KSDD agreements (what `start_agreement` decides), partners in the
    initiator's province."""
    regions = load_regions()
    partners = {
        code: [r.code for r in regions.in_province(code[:2]) if regions.is_party_eligible(r.code) and r.code != code]
        for code in initiators
    }
    actors = {code: operator(code).actor() for code in initiators}
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        initiator = initiators[i % len(initiators)]
        partner = rng.choice(partners[initiator])
        out.append(
            Agreement.start(
                id=uuid.uuid4(),
                actor=actors[initiator],
                at=now,
                form=Form.KSDD,
                # wajib only between neighbours (and a province with its own kab/kota)
                category=Category.WAJIB if i % 3 and wajib_pair_allowed(initiator, partner, regions)
                else Category.SUKARELA,
                title=f"Kerja sama pengelolaan sampah regional nomor {i}",
                object="Pengolahan sampah bersama di TPPAS Legok Nangka",
                urusan=rng.sample(URUSAN, 2),
                initiator=initiator,
                partners=[RegionParty(partner)],
                value_idr=rng.randrange(1, 10_000) * 1_000_000,
                burdens_community=bool(i % 2),
                budgeted_in_apbd=bool(i % 5),
                adjacency=regions,
            )
        )
    return out


# -- 1. durable creates ------------------------------------------------------------------


def test_durable_creates(bench_url: str, report: Report) -> None:
    section = "1. durable creates (one transaction per save / per raw transaction)"
    app = Registry(registry_env(bench_url, pool_size=2))
    try:
        identity = operator(HEAVY_TENANT)
        command = StartAgreement(**{**BANDUNG, "drafted_on": date.fromisoformat(BANDUNG["drafted_on"])})
        with psycopg.connect(bench_url, autocommit=True) as conn:
            before = event_count(conn)
            for _ in range(WARMUP):
                app.start_agreement(identity, command)
            total, samples = timed(lambda: app.start_agreement(identity, command), N_SINGLE)
            assert event_count(conn) == before + WARMUP + N_SINGLE
            topic, state = sample_event(conn)
            report.notes.append(f"a stored Agreement.Started event is {len(state)} bytes of state ({topic})")

            # Baseline: the same bytes, new originator ids, one INSERT per transaction.
            raw = make_raw_events_table(conn, "raw_events")
            insert = sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)"
                " RETURNING notification_id"
            ).format(raw)

        with psycopg.connect(bench_url) as conn:  # not autocommit: explicit commit per row

            def raw_one() -> None:
                conn.execute(insert, (uuid.uuid4(), topic, state), prepare=True).fetchone()
                conn.commit()

            for _ in range(WARMUP):
                raw_one()
            raw_total, raw_samples = timed(raw_one, N_SINGLE)
            report.add(Result(section, "raw psycopg INSERT, 1 row/tx", N_SINGLE, raw_total, samples_s=raw_samples))
            report.add(Result(
                section, "Registry.start_agreement, 1 agreement/save", N_SINGLE, total,
                baseline="raw psycopg INSERT, 1 row/tx", samples_s=samples,
            ))

            # Where the difference goes: the same INSERT with eventsourcing's protocol around it
            # (SET LOCAL lock_timeout, LOCK TABLE ... EXCLUSIVE, NOTIFY), pipelined as it does.
            locked = make_raw_events_table(conn, "raw_events_locked")
            conn.commit()
            lock_sql = [
                sql.SQL("SET LOCAL lock_timeout = '5s'"),
                sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(locked),
                sql.SQL("NOTIFY bench_raw_events"),
            ]
            insert_locked = sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)"
                " RETURNING notification_id"
            ).format(locked)

            def raw_locked_one() -> None:
                with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as cur:
                    for stmt in lock_sql:
                        cur.execute(stmt, prepare=True)
                    cur.execute(insert_locked, (uuid.uuid4(), topic, state), prepare=True)
                    pipeline.sync()
                    cur.fetchall()

            for _ in range(WARMUP):
                raw_locked_one()
            lk_total, lk_samples = timed(raw_locked_one, N_SINGLE)
            report.add(Result(
                section, "  raw + LOCK TABLE + NOTIFY (pipelined), 1 row/tx", N_SINGLE, lk_total,
                baseline="raw psycopg INSERT, 1 row/tx", samples_s=lk_samples,
            ))

        # Batched: 100 new aggregates per save (the group-commit direction).
        section = f"1b. batched creates ({BATCH} per save / per raw transaction)"
        n = N_BATCHES * BATCH
        rng = random.Random(1)
        t0 = time.perf_counter()
        batches = [build_agreements(rng, BATCH, initiators=(HEAVY_TENANT,)) for _ in range(N_BATCHES)]
        decide_s = time.perf_counter() - t0
        with psycopg.connect(bench_url, autocommit=True) as conn:
            before = event_count(conn)
            t0 = time.perf_counter()
            for batch in batches:
                app.save(*batch)
            save_total = time.perf_counter() - t0
            assert event_count(conn) == before + n

        rows = [(uuid.uuid4(), topic, state) for _ in range(n)]
        with psycopg.connect(bench_url) as conn:
            raw = make_raw_events_table(conn, "raw_events_batch")
            conn.commit()
            insert = sql.SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)"
                " RETURNING notification_id"
            ).format(raw)
            t0 = time.perf_counter()
            for i in range(N_BATCHES):
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(insert, rows[i * BATCH:(i + 1) * BATCH], returning=True)
            raw_total = time.perf_counter() - t0
            inserted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(raw)).fetchone()[0]
            assert inserted == n
        report.add(Result(section, f"raw psycopg executemany, {BATCH} rows/tx", n, raw_total))
        report.add(Result(
            section, f"Registry.save(*{BATCH} new aggregates)", n, save_total,
            baseline=f"raw psycopg executemany, {BATCH} rows/tx",
        ))
        report.add(Result(
            section, "  Agreement.start (domain decision + test-data draw, no I/O)", n, decide_s,
            baseline=f"raw psycopg executemany, {BATCH} rows/tx",
        ))
    finally:
        app.close()


def test_durable_actions(bench_url: str, report: Report) -> None:
    """A lifecycle action is read-modify-write: load the family, decide, append one event."""
    section = "1c. durable lifecycle actions (submit-offer on an existing agreement, 1 per save)"
    app = Registry(registry_env(bench_url, pool_size=2))
    try:
        identity = operator(HEAVY_TENANT)
        targets = build_agreements(random.Random(3), WARMUP + N_SINGLE, initiators=(HEAVY_TENANT,))
        app.save(*targets)
        ids = iter([a.id for a in targets])
        offer = SubmitOffer("005/KS/2026", local_date(datetime.now(UTC)))  # today in WIB, as the agreements
        for _ in range(WARMUP):
            app.act(identity, next(ids), 1, offer)
        total, samples = timed(lambda: app.act(identity, next(ids), 1, offer), N_SINGLE)

        with psycopg.connect(bench_url) as conn:
            topic, state = sample_event(conn)
            raw = make_raw_events_table(conn, "raw_actions")
            conn.commit()
            seeded = [uuid.uuid4() for _ in range(WARMUP + N_SINGLE)]
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO {} (originator_id, originator_version, topic, state)"
                            " VALUES (%s, 1, %s, %s)").format(raw),
                    [(i, topic, state) for i in seeded],
                )
            conn.commit()
            select = sql.SQL("SELECT originator_version, state FROM {} WHERE originator_id = %s"
                             " ORDER BY originator_version").format(raw)
            insert = sql.SQL("INSERT INTO {} (originator_id, originator_version, topic, state)"
                             " VALUES (%s, 2, %s, %s)").format(raw)
            raw_ids = iter(seeded)

            def raw_action() -> None:
                target = next(raw_ids)
                conn.execute(select, (target,), prepare=True).fetchall()
                conn.execute(insert, (target, topic, state), prepare=True)
                conn.commit()

            for _ in range(WARMUP):
                raw_action()
            raw_total, raw_samples = timed(raw_action, N_SINGLE)
        base = "raw psycopg SELECT events + INSERT, 1 tx"
        report.add(Result(section, base, N_SINGLE, raw_total, samples_s=raw_samples))
        report.add(Result(section, "Registry.act (load, decide, save)", N_SINGLE, total, baseline=base,
                          samples_s=samples))
    finally:
        app.close()


# -- 2. projection catch-up --------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(bench_url: str) -> int:
    """N_CATCHUP_CREATES agreements over several tenants, saved in batches; returns the
    number of events in the store afterwards."""
    rng = random.Random(2)
    app = Registry(registry_env(bench_url, pool_size=2))
    try:
        for _ in range(N_CATCHUP_CREATES // BATCH):
            app.save(*build_agreements(rng, BATCH))
    finally:
        app.close()
    with psycopg.connect(bench_url, autocommit=True) as conn:
        return event_count(conn)


def test_projection_catch_up(bench_url: str, recorded: int, report: Report) -> None:
    section = "2. projection catch-up from zero (events -> registry.agreements)"
    with psycopg.connect(bench_url, autocommit=True) as conn:
        max_id = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(EVENTS)).fetchone()[0]
        assert projection_lag(conn) == max_id, "the projection must start from zero"
        n = recorded
        poll = sql.SQL(
            "SELECT coalesce(max(notification_id), 0) FROM {}.{} WHERE application_name = %s"
        ).format(sql.Identifier(SCHEMA), sql.Identifier("agreements_tracking"))

        t0 = time.perf_counter()
        with make_runner(bench_url) as runner:  # starts processing as soon as it is constructed
            startup = time.perf_counter() - t0
            deadline = time.monotonic() + 120
            while conn.execute(poll, (Registry.name,), prepare=True).fetchone()[0] < max_id:
                runner.run_forever(timeout=0.002)  # re-raises a projection error
                assert time.monotonic() < deadline, "projection did not catch up"
            elapsed = time.perf_counter() - t0
        assert projection_lag(conn) == 0
        families = conn.execute(sql.SQL("SELECT count(DISTINCT originator_id) FROM {}").format(EVENTS)).fetchone()[0]
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(AGREEMENTS)).fetchone()[0] == families

        # The same rows, read back, for the baselines.
        cols = sql.SQL(", ").join(map(sql.Identifier, VIEW_COLUMNS))
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            rows = cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY position").format(cols, AGREEMENTS)).fetchall()
        for row in rows:
            for c in JSON_COLUMNS:
                row[c] = Jsonb(row[c])
        conn.execute("DROP TABLE IF EXISTS bench.agreements_raw, bench.tracking_raw")
        # Same columns, generated tsvector, keys and GIN indexes; no RLS policies.
        conn.execute(sql.SQL("CREATE TABLE bench.agreements_raw (LIKE {} INCLUDING ALL)").format(AGREEMENTS))
        conn.execute(
            sql.SQL("CREATE TABLE bench.tracking_raw (LIKE {}.{} INCLUDING ALL)").format(
                sql.Identifier(SCHEMA), sql.Identifier("agreements_tracking")
            )
        )
    insert = sql.SQL("INSERT INTO bench.agreements_raw ({}) VALUES ({})").format(
        cols, sql.SQL(", ").join(sql.Placeholder(c) for c in VIEW_COLUMNS)
    )
    track = sql.SQL(
        "INSERT INTO bench.tracking_raw VALUES (%(app)s, %(pos)s) ON CONFLICT (application_name) DO UPDATE"
        " SET notification_id = %(pos)s WHERE bench.tracking_raw.notification_id < %(pos)s RETURNING notification_id"
    )

    def truncate(conn: psycopg.Connection) -> None:
        conn.execute("TRUNCATE bench.agreements_raw, bench.tracking_raw")
        conn.commit()

    with psycopg.connect(bench_url) as conn:
        truncate(conn)
        t0 = time.perf_counter()
        for row in rows:
            conn.execute(insert, row, prepare=True)
            conn.commit()
        per_row = time.perf_counter() - t0

        truncate(conn)
        t0 = time.perf_counter()
        for row in rows:  # the projection's transaction and round trips: tracking, row
            with conn.transaction():
                conn.execute(track, {"app": Registry.name, "pos": row["position"]}, prepare=True).fetchone()
                conn.execute(insert, row, prepare=True)
        per_row_tracked = time.perf_counter() - t0

        truncate(conn)
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(insert, rows)
        one_tx = time.perf_counter() - t0
        assert conn.execute("SELECT count(*) FROM bench.agreements_raw").fetchone()[0] == len(rows)

        truncate(conn)
        copy = sql.SQL("COPY bench.agreements_raw ({}) FROM STDIN").format(cols)
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as pipe:
            for row in rows:
                pipe.write_row([row[c] for c in VIEW_COLUMNS])
        copied = time.perf_counter() - t0
        assert conn.execute("SELECT count(*) FROM bench.agreements_raw").fetchone()[0] == len(rows)

    python_only = python_floor(bench_url, n)

    # The raw rows are one per family; the projection also applied every later event (an
    # UPDATE of its row): per-op figures are per event for it, per row for the baselines.
    rn = len(rows)
    base = "raw psycopg INSERT, 1 row/tx"
    report.add(Result(section, base, rn, per_row))
    report.add(Result(section, "ProjectionRunner catch-up (real worker), per event", n, elapsed, baseline=base))
    report.add(
        Result(section, "  raw tracking upsert + INSERT, 1 row/tx", rn, per_row_tracked, baseline=base)
    )
    report.add(Result(section, "  raw executemany, all rows in 1 tx", rn, one_tx, baseline=base))
    report.add(Result(section, "  raw COPY, all rows in 1 tx", rn, copied, baseline=base))
    report.add(Result(section, "  projection's Python only: read 500/batch, decode, row_of (no writes)", n, python_only,
                      baseline=base))
    report.notes.append(
        f"catch-up processed {n} events ({N_CATCHUP_CREATES} spread over {len(INITIATORS)} initiators"
        f" + the section-1 creates); its time includes {startup * 1000:.0f} ms of runner construction"
    )


class _NullView:
    """Stands in for the view: does the projection's Python work on each row (fold the record,
    render the row and the API's JSON), writes nothing."""

    creating_event = contract.Started  # what `FoldingProjection` dispatches on, as a view's
    event_base = contract.Event

    def __init__(self) -> None:
        self.rows = 0
        self.families: dict[Any, dict[str, Any]] = {}

    def start(self, event: Any, tracking: Any) -> None:
        record = contract.fold(None, event)
        agreement = Agreement.from_state(record)
        self.families[agreement.id] = record
        {**row_of(agreement), "api": api_json(agreement), "position": tracking.notification_id}
        self.rows += 1

    def apply_event(self, event: Any, tracking: Any) -> None:
        record = contract.fold(self.families[event.originator_id], event)
        agreement = Agreement.from_state(record)
        {**row_of(agreement), "api": api_json(agreement)}
        self.rows += 1

    def skip(self, tracking: Any) -> None:
        pass


def python_floor(url: str, n: int) -> float:
    """Seconds to read every notification (500 per select, as the subscription does), decode
    it to the contract's event and build its row, without writing: the projection's cost that
    batching transactions would not remove."""
    app = contract.Log(registry_env(url, pool_size=1))
    try:
        view = _NullView()
        projection = AgreementsProjection(view=view)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        last = 0
        while True:
            batch = app.recorder.select_notifications(start=last, limit=500, inclusive_of_start=False)
            if not batch:
                break
            for notification in batch:
                projection.process_event(app.mapper.to_domain_event(notification), Tracking(app.name, notification.id))
            last = batch[-1].id
        elapsed = time.perf_counter() - t0
        assert view.rows == n
        return elapsed
    finally:
        app.close()


# -- 3. tenant-scoped list reads ---------------------------------------------------------


@pytest.fixture(scope="module")
def caught_up(bench_url: str, recorded: int) -> int:
    """The read model holds every recorded agreement (catching up untimed if test 2 did not run)."""
    with psycopg.connect(bench_url, autocommit=True) as conn:
        if projection_lag(conn) > 0:
            with make_runner(bench_url) as runner:
                deadline = time.monotonic() + 120
                while projection_lag(conn) > 0:
                    runner.run_forever(timeout=0.05)
                    assert time.monotonic() < deadline, "projection did not catch up"
        # Steady state: planner statistics present. Right after a rebuild they are not, until
        # autovacuum analyses the table; `unanalysed` measures that state on an identical copy.
        conn.execute(sql.SQL("ANALYZE {}").format(AGREEMENTS))
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(AGREEMENTS)).fetchone()[0]


@pytest.fixture(scope="module")
def unanalysed(bench_url: str, caught_up: int) -> sql.Composable:
    """A copy of the read model (same rows, order and indexes) that has never been analysed,
    as the real table is right after a projection rebuild."""
    table = sql.SQL("bench.agreements_unanalysed")
    cols = sql.SQL(", ").join(map(sql.Identifier, VIEW_COLUMNS))
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL) WITH (autovacuum_enabled = false)").format(
                table, AGREEMENTS
            )
        )
        conn.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {a} ORDER BY position").format(t=table, c=cols, a=AGREEMENTS)
        )
    return table


@pytest.fixture(scope="module")
def client(bench_url: str, settings: Settings, caught_up: int) -> Iterator[TestClient]:
    app = create_registry(settings, database_url=bench_url)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


GRAPHQL_LIST = (
    "query { agreements(first: 20) { edges { cursor node { id title stage form initiator { code name }"
    " parties { role regionCode } urusanCodes valueIdr createdAt } } pageInfo { hasNextPage endCursor } } }"
)


def test_http_harness_floor(client: TestClient, token: Callable[..., dict[str, str]], report: Report) -> None:
    """What the TestClient and the app's middleware cost before any handler work."""
    section = "3a. harness floors (no database): read the request rows below against these"
    headers = token(HEAVY_TENANT, "monitor")

    def health() -> None:
        assert client.get("/health").status_code == 200

    def typename() -> None:
        response = client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
        assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}

    for fn, name in ((health, "GET /health (TestClient)"), (typename, "GraphQL { __typename } (TestClient)")):
        for _ in range(WARMUP):
            fn()
        total, samples = timed(fn, N_READS)
        report.add(Result(section, name, N_READS, total, samples_s=samples,
                          baseline=None if fn is health else "GET /health (TestClient)"))


@pytest.mark.parametrize("tenant", [HEAVY_TENANT, SPARSE_TENANT, "national"])
def test_tenant_list_reads(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], caught_up: int,
    unanalysed: sql.Composable, report: Report, tenant: str,
) -> None:
    section = f"3. GET /agreements?limit=20 and GraphQL agreements(first: 20), tenant {tenant} ({caught_up} rows)"
    headers = token(tenant, "monitor")
    select = sql.SQL(
        "SELECT {} FROM {} WHERE visible_to @> ARRAY[%s] ORDER BY position DESC LIMIT 20"
    ).format(sql.SQL(COLUMNS), AGREEMENTS)

    with psycopg.connect(bench_url, autocommit=True) as conn:
        visible = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE visible_to @> ARRAY[%s]").format(AGREEMENTS), (tenant,)
        ).fetchone()[0]
        expected = [str(r[0]) for r in conn.execute(select, (tenant,)).fetchall()]
        assert len(expected) == min(20, visible) and expected

        def raw() -> None:
            conn.execute(select, (tenant,), prepare=True).fetchall()

        for _ in range(WARMUP):
            raw()
        raw_total, raw_samples = timed(raw, N_READS)

        select_fresh = sql.SQL(
            "SELECT {} FROM {} WHERE visible_to @> ARRAY[%s] ORDER BY position DESC LIMIT 20"
        ).format(sql.SQL(COLUMNS), unanalysed)
        assert [str(r[0]) for r in conn.execute(select_fresh, (tenant,)).fetchall()] == expected

        def raw_fresh() -> None:
            conn.execute(select_fresh, (tenant,), prepare=True).fetchall()

        for _ in range(WARMUP):
            raw_fresh()
        fresh_total, fresh_samples = timed(raw_fresh, N_READS)

    with psycopg.connect(bench_url) as conn:  # what the app does: RLS as ksd_reader, in a transaction

        def raw_rls() -> None:
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('role', %s, true), set_config(%s, %s, true)",
                    (READER_ROLE, TENANT_SETTING, tenant), prepare=True,
                )
                conn.execute(select, (tenant,), prepare=True).fetchall()

        for _ in range(WARMUP):
            raw_rls()
        rls_total, rls_samples = timed(raw_rls, N_READS)

    def rest() -> Any:
        response = client.get("/agreements?limit=20", headers=headers)
        assert response.status_code == 200, response.text
        return response

    first = rest().json()
    assert [a["id"] for a in first["items"]] == expected
    for _ in range(WARMUP):
        rest()
    rest_total, rest_samples = timed(rest, N_READS)

    def graphql() -> Any:
        response = client.post("/graphql", json={"query": GRAPHQL_LIST}, headers=headers)
        assert response.status_code == 200, response.text
        return response

    body = graphql().json()
    assert "errors" not in body, body
    assert [e["node"]["id"] for e in body["data"]["agreements"]["edges"]] == expected
    for _ in range(WARMUP):
        graphql()
    gql_total, gql_samples = timed(graphql, N_READS)

    base = f"raw psycopg SELECT ... LIMIT 20 [{tenant}]"
    report.add(Result(section, base, N_READS, raw_total, samples_s=raw_samples))
    report.add(Result(section, f"  same SELECT, table never ANALYZEd (as after a rebuild) [{tenant}]", N_READS,
                      fresh_total, baseline=base, samples_s=fresh_samples))
    report.add(Result(section, f"  raw + SET LOCAL ROLE/tenant + RLS, in a tx [{tenant}]", N_READS, rls_total,
                      baseline=base, samples_s=rls_samples))
    report.add(Result(section, f"GET /agreements?limit=20 (TestClient) [{tenant}]", N_READS, rest_total,
                      baseline=base, samples_s=rest_samples))
    report.add(Result(section, f"GraphQL agreements(first: 20) (TestClient) [{tenant}]", N_READS, gql_total,
                      baseline=base, samples_s=gql_samples))
