"""Legacy import benchmark: events/s of `POST /imports`' work (read the XLSX, decide every
row through the aggregate, append in large batches) against raw `COPY` of the same rows,
measured in the same run on the same database.

Run with `make bench`. Nothing here asserts a timing; the target (issue 13, requirement 7)
is appending at 50,000 events/s or more. The table is printed and written to
`.data/bench/import.txt`. The append and the raw COPY are timed `REPEATS` times (each on new
rows) and the median is reported: the machine is shared, single runs are noisy.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import openpyxl
import psycopg
import pytest
from psycopg import sql

from services.ksd.cli import migrate_all
from services.registry.application import Registry
from services.registry.imports import HEADERS, Importer, read_rows, template_xlsx
from services.registry.setup import registry_env
from shared.auth import Identity
from shared.clock import ManualClock
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.test_imports import sample_rows
from tests.perf.test_registry_bench import REPO_ROOT, Report, Result

pytestmark = pytest.mark.perf

SCALE = float(os.environ.get("KSD_BENCH_SCALE", "1"))
N_FAMILIES = max(100, int(4_000 * SCALE))  # good families in the file (plus their PKS rows)
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "import.txt"
EVENTS = sql.SQL("registry.registry_events")
CHAIN = sql.SQL("registry.registry_events_chain")
REPEATS = 3
BATCH_SIZE = Settings().import_batch_size  # families a transaction, as `POST /imports` saves them
LIMITS = {"max_bytes": 100_000_000, "max_rows": 1_000_000}


def workbook(prefix: str) -> tuple[bytes, int]:
    rows, _ = sample_rows(prefix, N_FAMILIES)
    book = openpyxl.load_workbook(io.BytesIO(template_xlsx()))
    sheet = book["Kerja Sama"]
    for values in rows:
        sheet.append([values.get(h) for h in HEADERS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), len(rows)


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bench_import") as url:
        migrate_all(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA bench")
        yield url


def raw_copy(url: str, table: str, events: list[tuple], links: list[tuple]) -> tuple[float, float]:
    """Seconds to COPY `events` (text, as psycopg writes rows by default) into a table shaped like
    the events table, in one durable transaction; and to COPY the events and their chain rows
    (binary) into that and a table shaped like the chain table."""
    with psycopg.connect(url, autocommit=True) as conn:
        for suffix in ("", "_b"):
            conn.execute(f"DROP TABLE IF EXISTS bench.{table}{suffix}, bench.{table}{suffix}_chain")
            conn.execute(
                f"CREATE TABLE bench.{table}{suffix} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))")
            conn.execute(f"CREATE UNIQUE INDEX ON bench.{table}{suffix} (notification_id ASC)")
            conn.execute(
                f"CREATE TABLE bench.{table}{suffix}_chain (originator_id uuid NOT NULL,"
                " originator_version bigint NOT NULL,"
                " recorded_at timestamptz NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL,"
                " PRIMARY KEY (originator_id, originator_version))")
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            f"COPY bench.{table} (originator_id, originator_version, topic, state) FROM STDIN"
        ) as copy:
            for row in events:
                copy.write_row(row)
        events_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY bench.{table}_b (originator_id, originator_version, topic, state) "
                          "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for row in events:
                    copy.write_row(row)
            with cur.copy(f"COPY bench.{table}_b_chain FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "timestamptz", "bytea", "bytea"])
                for row in links:
                    copy.write_row(row)
        both_s = time.perf_counter() - t0
        counts = conn.execute(f"SELECT (SELECT count(*) FROM bench.{table}), (SELECT count(*) FROM bench.{table}_b),"
                              f" (SELECT count(*) FROM bench.{table}_b_chain)").fetchone()
        assert counts == (len(events), len(events), len(links))
    return events_s, both_s


def test_import_events_per_second_against_raw_copy(bench_url: str) -> None:
    report = Report()
    load_before = os.getloadavg()  # the machine is shared: the numbers depend on its load
    section = f"import of {N_FAMILIES} families (events/s; ratio vs raw COPY of the same rows)"
    app = Registry(registry_env(bench_url, pool_size=2), clock=ManualClock())
    identity = Identity(sub="bench-importer", name="", tenant="32.73", roles=("operator",))
    try:
        content, n_rows = workbook("B")

        t0 = time.perf_counter()
        read_rows(content, "b.xlsx", **LIMITS)
        read_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        dry = Importer(app, identity).run(content, "b.xlsx", dry_run=True, **LIMITS)
        dry_s = time.perf_counter() - t0
        n_events = sum(r.events for r in dry.rows)

        with psycopg.connect(bench_url, autocommit=True) as conn:
            before = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            t0 = time.perf_counter()
            done = Importer(app, identity, batch_size=BATCH_SIZE).run(content, "b.xlsx", dry_run=False, **LIMITS)
            full_s = time.perf_counter() - t0
            after = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            assert after - before == done.saved_events == n_events > 0

        # The append alone, exactly as the import runs it (`Importer.save`: collect each
        # batch's events, `Registry.save`, the recorder's bulk path, one commit per batch),
        # on files decided beforehand (new families each time: other numbers).
        append_s: list[float] = []
        copy_s: list[float] = []
        copy_both_s: list[float] = []
        for k in range(REPEATS):
            other, _ = workbook(f"C{k}")
            importer = Importer(app, identity, batch_size=BATCH_SIZE)
            plan = importer.decide(other, "c.xlsx", dry_run=False, **LIMITS)
            planned = sum(r.events for r in plan.report.rows)
            with psycopg.connect(bench_url, autocommit=True) as conn:
                last = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(EVENTS)).fetchone()[0]
                t0 = time.perf_counter()
                importer.save(plan)
                append_s.append(time.perf_counter() - t0)
                assert plan.report.saved_events == planned == n_events
                events = conn.execute(sql.SQL(
                    "SELECT originator_id, originator_version, topic, state FROM {} WHERE notification_id > %s"
                    " ORDER BY notification_id").format(EVENTS), (last,)).fetchall()
                links = conn.execute(sql.SQL(
                    "SELECT c.originator_id, c.originator_version, c.recorded_at, c.prev_hash, c.hash"
                    " FROM {} c JOIN {} e USING (originator_id, originator_version) WHERE e.notification_id > %s"
                ).format(CHAIN, EVENTS), (last,)).fetchall()
                assert len(events) == len(links) == n_events
            events_s, both_s = raw_copy(bench_url, f"raw_import_{k}", events, links)
            copy_s.append(events_s)
            copy_both_s.append(both_s)

        median = statistics.median
        base = "raw COPY of the same events, 1 tx"
        report.add(Result(section, base, n_events, median(copy_s)))
        report.add(Result(section, "  raw COPY events + chain rows (binary), 1 tx", n_events, median(copy_both_s),
                          baseline=base))
        report.add(Result(section, "append only (saved events, application path)", n_events, median(append_s),
                          baseline=base))
        report.add(Result(section, "import, whole (read XLSX + decide + save)", n_events, full_s, baseline=base))
        report.add(Result(section, "  read XLSX (openpyxl) and check headers", n_events, read_s, baseline=base))
        report.add(Result(section, "  read + decide every row (dry run, no I/O)", n_events, dry_s, baseline=base))
        report.notes.append(f"{n_rows} spreadsheet rows, {n_events} events per file; append and raw COPY: median "
                            f"of {REPEATS} files, append runs {', '.join(f'{n_events / s:,.0f}' for s in append_s)} "
                            "events/s")
        report.notes.append(f"append {n_events / median(append_s):,.0f} events/s (target 50,000 events/s); "
                            f"whole import {n_events / full_s:,.0f} events/s")
    finally:
        app.close()
    with psycopg.connect(bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    text = report.save(RESULTS_FILE, [
        f"Sinergi KSD import benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version}, scale {SCALE:g}",
        "load average (1, 5, 15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *os.getloadavg()),
    ])
    print("\n\n" + text + "\n")
