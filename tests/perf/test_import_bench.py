"""Legacy import benchmark: events/s of `POST /imports`' work (read the XLSX, decide every
row through the aggregate, append in large batches) against raw `COPY` of the same rows,
measured in the same run on the same database.

Run with `make bench`. Nothing here asserts a timing; the target (issue 13) is 50,000
events/s. The table is printed and written to `.data/bench/import.txt`.
"""

from __future__ import annotations

import io
import os
import platform
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import openpyxl
import psycopg
import pytest
from psycopg import sql

from services.registry.application import Registry
from services.registry.imports import HEADERS, Importer, read_rows, template_xlsx
from services.registry.setup import registry_env
from shared.auth import Identity
from shared.cli import migrate_all
from shared.clock import ManualClock
from tests.conftest import fresh_database
from tests.e2e.test_imports import sample_rows
from tests.perf.test_registry_bench import REPO_ROOT, Report, Result

pytestmark = pytest.mark.perf

SCALE = float(os.environ.get("KSD_BENCH_SCALE", "1"))
N_FAMILIES = max(100, int(4_000 * SCALE))  # good families in the file (plus their PKS rows)
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "import.txt"
EVENTS = sql.SQL("registry.registry_events")


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


def test_import_events_per_second_against_raw_copy(bench_url: str) -> None:
    report = Report()
    section = f"import of {N_FAMILIES} families (events/s; ratio vs raw COPY of the same rows)"
    app = Registry(registry_env(bench_url, pool_size=2), clock=ManualClock())
    identity = Identity(sub="bench-importer", name="", tenant="32.73", roles=("operator",))
    try:
        content, n_rows = workbook("B")
        limits = {"max_bytes": 100_000_000, "max_rows": 1_000_000}

        t0 = time.perf_counter()
        read_rows(content, "b.xlsx", **limits)
        read_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        dry = Importer(app, identity).run(content, "b.xlsx", dry_run=True, **limits)
        dry_s = time.perf_counter() - t0
        n_events = sum(r.events for r in dry.rows)

        with psycopg.connect(bench_url, autocommit=True) as conn:
            before = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            t0 = time.perf_counter()
            done = Importer(app, identity, batch_size=2_000).run(content, "b.xlsx", dry_run=False, **limits)
            full_s = time.perf_counter() - t0
            after = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(EVENTS)).fetchone()[0]
            assert after - before == done.saved_events == n_events > 0
            rows = conn.execute(sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {} ORDER BY notification_id DESC LIMIT %s"
            ).format(EVENTS), (n_events,)).fetchall()

            conn.execute("DROP TABLE IF EXISTS bench.raw_import")
            conn.execute(
                "CREATE TABLE bench.raw_import (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))")
            conn.execute("CREATE UNIQUE INDEX ON bench.raw_import (notification_id ASC)")
        with psycopg.connect(bench_url) as conn:
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY bench.raw_import (originator_id, originator_version, topic, state) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            copy_s = time.perf_counter() - t0
            assert conn.execute("SELECT count(*) FROM bench.raw_import").fetchone()[0] == n_events

        base = "raw COPY of the same events, 1 tx"
        report.add(Result(section, base, n_events, copy_s))
        report.add(Result(section, "import, whole (read XLSX + decide + save)", n_events, full_s, baseline=base))
        report.add(Result(section, "  read XLSX (openpyxl) and check headers", n_events, read_s, baseline=base))
        report.add(Result(section, "  read + decide every row (dry run, no I/O)", n_events, dry_s, baseline=base))
        report.add(Result(section, "  save (whole - dry run): eventsourcing save(*2000)", n_events,
                          max(full_s - dry_s, 1e-9), baseline=base))
        report.notes.append(f"{n_rows} spreadsheet rows, {n_events} events, "
                            f"{n_events / full_s:,.0f} events/s whole import (target 50,000 events/s)")
    finally:
        app.close()
    with psycopg.connect(bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    text = report.render([
        f"Sinergi KSD import benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version}, scale {SCALE:g}",
    ])
    print("\n\n" + text + "\n")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(text + "\n", encoding="utf-8")
