"""Reporting benchmarks: cross-region analysis (GraphQL), provincial consolidation, the
national roll-up and a region's live report, on a national data set, each against a
raw-psycopg baseline measured in the same run on the same database.

Run with `make bench` (`python -m pytest -m perf -s tests/perf`). Nothing here asserts a
timing: the tests check only that the work was done (totals equal the baseline's counts,
27 kab/kota in Jawa Barat's consolidation, ...); the numbers are printed as a table and
written to `.data/bench/reporting.txt`. See tests/perf/README.md for how to read them.

The data set is built in memory with the registry's domain (every agreement driven through
its lifecycle by commands) and copied into `reporting.agreements` with reporting's `row_of`, the
projection's own row builder: the event store and the projections are the registry
bench's business, not this one's.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
import uvloop
from litestar.testing import TestClient
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.ksd.cli import migrate_all
from services.registry.domain import commands as c
from services.registry.domain.agreement import (
    Agreement,
    Category,
    Form,
    OtherParty,
    RegionParty,
    Stage,
    add_years,
    wajib_pair_allowed,
)
from services.reporting.analysis import AnalysisFilter, AnalysisReadModel
from services.reporting.app import create_app as create_reporting
from services.reporting.application import Reporting, ReportText
from services.reporting.compiler import Compiler
from services.reporting.domain.compile import REPORTED_FIGURES, compile_region_report
from services.reporting.domain.reports import region_report_id
from services.reporting.readmodel import ReportingReadModel, period_params
from services.reporting.rules import ALIVE
from services.reporting.setup import reporting_env
from services.reporting.totals import PeriodTotals
from services.reporting.views import AGREEMENT_COLUMNS, SCHEMA, audience_of_report, row_of
from shared.auth import Identity, TokenService
from shared.clock import ManualClock
from shared.db import READER_ROLE, TENANT_SETTING, make_async_pool
from shared.periods import Period
from shared.regions import load_regions, province_of
from shared.settings import Settings
from shared.urusan import URUSAN
from tests.conftest import fresh_database
from tests.perf.test_read_http_bench import CLIENTS, SECONDS, _drive, _get, _post, raw_threads
from tests.perf.test_registry_bench import Report, Result, timed
from tests.perf.test_write_http_bench import JWT_SECRET, Server, _result
from tests.unit.lifecycle import caller, signatories

pytestmark = pytest.mark.perf

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO_ROOT / ".data" / "bench" / "reporting.txt"

# Sizes (scaled by KSD_BENCH_SCALE, default 1): 5 is the national target (~100,000 agreements).
SCALE = float(os.environ.get("KSD_BENCH_SCALE", "1"))
N_AGREEMENTS = max(1_000, int(20_000 * SCALE))
# Operations timed per row: N_READS, fewer for slow ones (at least N_MIN, about BUDGET_S of
# timing per row), so that the default run stays under a minute; the data scales, not these.
N_READS = 30
N_MIN = 5
BUDGET_S = 0.3
# Untimed runs first, enough for the steady state of a long-lived connection: psycopg
# prepares a statement at its 6th execution on a connection, and PostgreSQL may switch a
# prepared statement from custom plans to a generic plan after 5 more.
WARMUP = 10

NOW = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)  # 08:00 WIB: past 2026-S1's report and consolidation deadlines
TODAY = NOW.date()
PERIOD = "2026-S1"
EARLIER = "2025-S2"
FIRST_DAY = date(2023, 1, 2)  # the oldest agreement's start

PROVINCE = "32"  # Jawa Barat: 27 kab/kota
HEAVY = "32.73"  # Kota Bandung: drawn as initiator more often than any other kab/kota
NATIONAL = "national"

STAGE_WEIGHTS = {
    Stage.PERSIAPAN: 12, Stage.PENAWARAN: 8, Stage.PENYUSUNAN_KESEPAKATAN: 10,
    Stage.KESEPAKATAN_DITANDATANGANI: 20, Stage.PELAKSANAAN: 38, Stage.BERAKHIR: 6, Stage.DIBATALKAN: 6,
}
FORM_WEIGHTS = {Form.KSDD: 64, Form.KSDPK: 22, Form.SINERGI: 7, Form.KSDPL: 4, Form.KSDLL: 3}
POPULAR_URUSAN = {"1.03", "2.11", "1.02", "2.15", "3.27", "1.01", "2.09", "3.25"}
URUSAN_CODES = [u.code for u in URUSAN]
URUSAN_WEIGHTS = [6 if code in POPULAR_URUSAN else 1 for code in URUSAN_CODES]
THIRD_PARTIES = {
    Form.KSDPK: [("badan_usaha", None)] * 6 + [("bumd", None), ("perguruan_tinggi_swasta", None), ("ormas", None)],
    Form.SINERGI: [("kementerian", None), ("lembaga_pemerintah_nonkementerian", None)],
    Form.KSDPL: [("pemerintah_daerah_luar_negeri", "Jepang"), ("pemerintah_daerah_luar_negeri", "Jerman")],
    Form.KSDLL: [("lembaga_luar_negeri", "Jepang"), ("lembaga_luar_negeri", "Australia")],
}
TOPICS = ("Pengelolaan sampah regional", "Penyediaan air minum", "Jalan penghubung antarwilayah",
          "Rujukan pelayanan kesehatan", "Promosi pariwisata bersama", "Pengendalian banjir",
          "Transportasi publik aglomerasi", "Ketahanan pangan", "Pengembangan UMKM", "Pendidikan vokasi")

AGREEMENTS = sql.SQL("{}.agreements").format(sql.Identifier(SCHEMA))


# -- the national data set ---------------------------------------------------------------


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 09:00 WIB


class Nation:
    """Who cooperates with whom: every autonomous province and kab/kota of the catalogue,
    with its land neighbours."""

    def __init__(self) -> None:
        self.regions = load_regions()
        self.provinces = [p.code for p in self.regions.provinces() if p.autonomous]
        self.kabkota = {p: [r.code for r in self.regions.in_province(p) if r.autonomous] for p in self.provinces}
        self.eligible = {code for codes in self.kabkota.values() for code in codes} | set(self.provinces)
        self.initiators = [*self.provinces, *(code for codes in self.kabkota.values() for code in codes)]
        # Provinces initiate a little more than a kab/kota, a kota more than a kabupaten;
        # Kota Bandung three times a kota.
        self.weights = [
            3.0 if code == HEAVY else 2.0 if len(code) == 2 else 1.3 if int(code[3:]) >= 71 else 1.0
            for code in self.initiators
        ]

    def neighbours(self, code: str) -> list[str]:
        return sorted(n for n in self.regions.neighbours(code) if n in self.eligible)

    def region_partners(self, rng: random.Random, initiator: str) -> list[str]:
        """KSDD partners: neighbouring kab/kota of the same province (sometimes across the
        border), a province's own kab/kota, or a neighbouring province."""
        if len(initiator) == 2:
            if rng.random() < 0.7 and len(self.kabkota[initiator]) >= 2:
                return rng.sample(self.kabkota[initiator], rng.randint(2, min(6, len(self.kabkota[initiator]))))
            pool = self.neighbours(initiator) or [p for p in self.provinces if p != initiator]
            return rng.sample(pool, min(len(pool), rng.choice((1, 1, 2))))
        province = initiator[:2]
        near = self.neighbours(initiator)
        inside = [n for n in near if n[:2] == province]
        across = [n for n in near if n[:2] != province]
        wanted = rng.choice((1, 1, 1, 2, 2, 3))
        pool = list(inside)
        if across and rng.random() < 0.15:
            pool = [*rng.sample(across, 1), *pool]
        if len(pool) < wanted:
            pool += [k for k in self.kabkota[province] if k != initiator and k not in pool]
        if not pool:
            pool = [province]  # a lone kab/kota works with its province
        partners = pool[:1] + rng.sample(pool[1:], min(len(pool) - 1, wanted - 1)) if pool[0] in across else \
            rng.sample(pool, min(len(pool), wanted))
        return partners


def _partners(rng: random.Random, nation: Nation, form: Form, initiator: str, i: int) -> list[Any]:
    if form is Form.KSDD:
        return [RegionParty(code) for code in nation.region_partners(rng, initiator)]
    kind, country = rng.choice(THIRD_PARTIES[form])
    return [OtherParty(f"Mitra {kind} {i}", kind, country)]


def drive(agreement: Agreement, target: Stage, rng: random.Random, day: date) -> None:
    """Move a new agreement through its lifecycle by commands, towards `target`, one step
    every few days or weeks; stop where the next step would fall after TODAY."""
    initiator = agreement.initiator
    cancel_at = rng.choice((Stage.PENAWARAN, Stage.PENYUSUNAN_KESEPAKATAN)) if target is Stage.DIBATALKAN else None

    def step(gap: tuple[int, int]) -> bool:
        nonlocal day
        day += timedelta(days=rng.randint(*gap))
        return day <= TODAY

    def do(command: Any, by: str = initiator) -> None:
        agreement.execute(command, by=caller(by), at=_at(day))

    def approve(document: str) -> bool:
        for kind, region, _ in agreement.required_approvals(document):
            if not step((5, 30)):
                return False
            do(c.RequestApproval(kind, f"mohon/{kind}/{region}", day, document=document), region)
            if not step((7, 45)):
                return False
            # The central decision is recorded by the national level (Kemendagri).
            do(c.RecordApproval(kind, "approved", f"setuju/{kind}/{region}", day, document=document),
               "national" if kind == "central" else region)
        return True

    def cancelled(stage: Stage) -> bool:
        if cancel_at is stage and step((10, 90)):
            do(c.Cancel("Anggaran dialihkan ke prioritas lain"))
            return True
        return False

    if target is Stage.PERSIAPAN or cancelled(Stage.PENAWARAN) or not step((7, 45)):
        return
    do(c.SubmitOffer(f"005/{initiator}/KS", day))
    if target is Stage.PENAWARAN or cancelled(Stage.PENYUSUNAN_KESEPAKATAN) or not step((5, 30)):
        return
    for party in agreement.parties:
        if party["role"] != "partner":
            continue
        if party["kind"] == "region":
            do(c.RecordOfferResponse("accepted", f"jawab/{party['region']}", day), party["region"])
        else:
            do(c.RecordOfferResponse("accepted", "jawab/mitra", day, party=party["name"]))
    if target in (Stage.PENYUSUNAN_KESEPAKATAN, Stage.DIBATALKAN) or not approve(c.FRAMEWORK):
        if target is Stage.DIBATALKAN and agreement.stage == Stage.PENYUSUNAN_KESEPAKATAN and step((10, 90)):
            do(c.Cancel("Para pihak tidak mencapai kesepakatan"))
        return
    if not step((14, 90)):
        return
    do(c.SignFramework(
        number=f"KB/{initiator}/{day.year}", signed_on=day, valid_from=day, valid_until=add_years(day, 5),
        signatories=signatories(agreement),
        rencana_kerja=("Penyusunan rencana aksi bersama",) if agreement.form == Form.SINERGI else (),
    ))
    if target is Stage.KESEPAKATAN_DITANDATANGANI or not step((10, 60)):
        return
    pks: str | None = None
    if agreement.form == Form.SINERGI:
        do(c.StartWorkPlan(day))
    else:
        do(c.DraftPks(title="PKS pelaksanaan", object="Kegiatan bersama tahun pertama"))
        pks = agreement.pks[-1]["id"]
        if not approve(pks) or not step((10, 60)):
            return
        # A PKS ends within its Kesepakatan Bersama's validity (the registry refuses it otherwise).
        end = min(add_years(day, rng.randint(1, 4)) - timedelta(days=1),
                  date.fromisoformat(agreement.framework["valid_until"]))
        do(c.SignPks(pks=pks, number=f"PKS/{initiator}/{day.year}", signed_on=day, start_on=day, end_on=end,
                     signatories=signatories(agreement, agreement.pks_by_id(pks)["parties"])))
    if target is Stage.PELAKSANAAN or not step((120, 720)):
        return
    if pks is not None:
        do(c.Terminate(pks, c.Ground.TUJUAN_TERCAPAI, f"akhir/{pks}", day))
    do(c.Terminate(c.FRAMEWORK, c.Ground.PARA_PIHAK_SEPAKAT, "akhir/kb", day))


def build_agreements(n: int, seed: int = 7) -> list[Agreement]:
    """n agreements over the whole country, driven by commands to their stages."""
    rng = random.Random(seed)
    nation = Nation()
    forms, form_w = list(FORM_WEIGHTS), list(FORM_WEIGHTS.values())
    stages, stage_w = list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values())
    span = (TODAY - FIRST_DAY).days
    out = []
    for i in range(n):
        initiator = rng.choices(nation.initiators, nation.weights)[0]
        form = rng.choices(forms, form_w)[0]
        target = rng.choices(stages, stage_w)[0]
        # Young agreements are mostly still being prepared; old ones mostly signed.
        age = rng.randint(0, 365) if target in (Stage.PERSIAPAN, Stage.PENAWARAN) else rng.randint(60, span)
        start = TODAY - timedelta(days=age)
        urusan = list(dict.fromkeys(rng.choices(URUSAN_CODES, URUSAN_WEIGHTS, k=rng.choice((1, 1, 2, 2, 3)))))
        agreement_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        category = (Category.WAJIB if rng.random() < 0.6 else Category.SUKARELA) if form is Form.KSDD else None
        title = f"{rng.choice(TOPICS)} {nation.regions.get(initiator).display_name} nomor {i}"
        partners = _partners(rng, nation, form, initiator, i)
        regions = [initiator, *(p.region for p in partners if isinstance(p, RegionParty))]
        if category is Category.WAJIB and not all(
            wajib_pair_allowed(a, b, nation.regions) for j, a in enumerate(regions) for b in regions[j + 1:]
        ):
            category = Category.SUKARELA  # wajib is between neighbours only
        agreement = Agreement.start(
            id=agreement_id, actor=caller(initiator).actor, at=_at(start),
            form=form, category=category, title=title,
            object="Kegiatan bersama sesuai kerangka acuan kerja", urusan=urusan, initiator=initiator,
            partners=partners,
            value_idr=None if rng.random() < 0.25 else rng.randrange(50, 50_000) * 1_000_000,
            burdens_community=rng.random() < 0.3, budgeted_in_apbd=rng.random() < 0.8,
            adjacency=nation.regions,
        )
        drive(agreement, target, rng, start)
        agreement.collect_events()
        out.append(agreement)
    return out


def progress_rows(agreements: Sequence[Agreement], rng: random.Random) -> list[list[Any]]:
    """The monitoring feed's rows: a party region's progress report for most semesters a
    signed PKS ran in (2025-S1 to 2026-S1), filed a few weeks after the semester."""
    rows = []
    semesters = [Period.parse(p) for p in ("2025-S1", "2025-S2", "2026-S1")]
    for a in agreements:
        signed = [p for p in a.pks if p.get("signed_on")]
        if not signed:
            continue
        start = date.fromisoformat(signed[0]["start_on"])
        for semester in semesters:
            filed = semester.end + timedelta(days=rng.randint(3, 45))
            if start > semester.end or filed > TODAY:
                continue
            for region in a.party_regions:
                if rng.random() < 0.75:
                    content = {
                        "activities": [{"name": "Rapat koordinasi"}, {"name": "Pelaksanaan kegiatan"}],
                        "indicators": [{"name": "Capaian keluaran", "unit": "persen", "target": 100,
                                        "achieved": rng.randint(40, 100)}],
                        "budget": {"planned_idr": 1_000_000_000, "realised_idr": rng.randint(3, 10) * 100_000_000},
                        "beneficiaries": {"count": rng.randint(100, 50_000)},
                    }
                    at = _at(filed)
                    rows.append([uuid.uuid4(), a.id, region, str(semester), 1, Jsonb(content), at, at])
    return rows


def evaluation_rows(agreements: Sequence[Agreement], rng: random.Random) -> list[list[Any]]:
    rows = []
    for a in agreements:
        if a.stage == Stage.PELAKSANAAN and rng.random() < 0.1:
            content = {"score": rng.randint(40, 95), "recommendation": rng.choice(("dilanjutkan", "diperluas")),
                       "findings": "Kegiatan berjalan sesuai rencana kerja.", "evaluated_on": "2026-02-10"}
            at = _at(date(2026, 2, 10))
            rows.append([uuid.uuid4(), a.id, "2025", province_of(a.initiator), 1, Jsonb(content), at, at])
    return rows


REPORT_COLUMNS = ("id", "kind", "subject", "province", "period", "period_end", "version", "revision", "narrative",
                  "first_submitted_on", "first_on_time", "last_submitted_on", "deadline", "summary", "created_at",
                  "updated_at", "visible_to")


def report_rows(nation: Nation, rng: random.Random) -> list[list[Any]]:
    """The reports feed's rows: region reports of every autonomous region for 2025-S2 and
    2026-S1 (most submitted, some late, some never) and provinces' consolidations."""
    rows = []
    for code in [*nation.provinces, *(k for ks in nation.kabkota.values() for k in ks)]:
        for text, p_submit in ((EARLIER, 0.85), (PERIOD, 0.7)):
            period = Period.parse(text)
            deadline = period.end + timedelta(days=30)
            roll = rng.random()
            if roll > p_submit + 0.1:
                continue  # never started
            submitted = roll < p_submit and code != HEAVY  # Kota Bandung's is a draft (the app's, below)
            on_time = rng.random() < 0.8
            day = deadline - timedelta(days=rng.randint(0, 20)) if on_time else deadline + timedelta(rng.randint(1, 25))
            summary = {k: rng.randint(0, 50) for k in REPORTED_FIGURES} if submitted else None
            at = _at(day)
            rows.append([
                region_report_id(code, period), "region", code, code[:2], text, period.end, 3 if submitted else 1,
                1 if submitted else 0, f"Laporan kerja sama {code} {text}.", day if submitted else None,
                on_time if submitted else None, day if submitted else None, deadline if submitted else None,
                Jsonb(summary) if summary else None, _at(period.end), at, audience_of_report("region", code),
            ])
    for province in nation.provinces:
        for text, p_submit in ((EARLIER, 0.9), (PERIOD, 0.5)):
            if rng.random() > p_submit:
                continue
            period = Period.parse(text)
            deadline = period.end + timedelta(days=60)
            day = deadline - timedelta(days=rng.randint(0, 10))
            rows.append([
                uuid.uuid5(uuid.NAMESPACE_URL, f"bench-consolidation-{province}-{text}"), "consolidation", province,
                province, text, period.end, 2, 1, "", day, True, day, deadline,
                Jsonb({"regions": len(nation.kabkota[province]), "tepat_waktu": 10}), _at(day), _at(day),
                audience_of_report("consolidation", province),
            ])
    return rows


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(SCHEMA), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(stmt) as pipe:
        for row in rows:
            pipe.write_row(row)


@dataclass(frozen=True)
class Seed:
    agreements: int
    progress: int
    evaluations: int
    reports: int
    heavy_agreements: int  # agreements Kota Bandung is party to
    heavy_report: uuid.UUID  # its 2026-S1 report (a draft in the event store)
    build_s: float
    load_s: float


# -- results and fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this module only."""
    with fresh_database(pg_server_url, prefix="ksd_bench") as url:
        migrate_all(url)
        yield url


@pytest.fixture(scope="module")
def report(bench_url: str) -> Iterator[Report]:
    rep = Report()
    yield rep
    with psycopg.connect(bench_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        pg_settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'random_page_cost')"
        ).fetchall())
    header = [
        f"Sinergi KSD reporting benchmarks, {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"python {platform.python_version()}, {os.cpu_count()} cpu, PostgreSQL {version} "
        + " ".join(f"{k}={v}" for k, v in sorted(pg_settings.items())),
        f"scale {SCALE:g} (KSD_BENCH_SCALE): {N_AGREEMENTS:,} agreements; every baseline is raw psycopg on the same"
        " database, same run",
    ]
    text = rep.save(RESULTS_FILE, header)
    print("\n\n" + text + "\n")


@pytest.fixture(scope="module")
def seeded(bench_url: str, report: Report) -> Seed:
    """The national data set in the reporting read model, analysed (steady state)."""
    t0 = time.perf_counter()
    agreements = build_agreements(N_AGREEMENTS)
    rng = random.Random(11)
    rows = [[*(row[col] for col in AGREEMENT_COLUMNS)] for row in
            ({**row_of(a.to_state()), "position": i + 1} for i, a in enumerate(agreements))]
    progress = progress_rows(agreements, rng)
    evaluations = evaluation_rows(agreements, rng)
    reports = report_rows(Nation(), rng)
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    with psycopg.connect(bench_url) as conn:
        copy_rows(conn, "agreements", AGREEMENT_COLUMNS, rows)
        copy_rows(conn, "progress_reports", ("id", "agreement_id", "region", "period", "version", "content",
                                             "filed_at", "updated_at"), progress)
        copy_rows(conn, "evaluations", ("id", "agreement_id", "period", "evaluator", "version", "content",
                                        "recorded_at", "updated_at"), evaluations)
        copy_rows(conn, "reports", REPORT_COLUMNS, reports)
        conn.commit()
        t_kept = time.perf_counter()
        with conn.cursor(row_factory=dict_row) as curs:  # what the worker keeps as it projects
            PeriodTotals(sql.Identifier(SCHEMA), "agreements", "agreement_stages", "agreement_periods",
                         "period_totals", "periods_done").count_all(curs)
        conn.commit()
        kept_s = time.perf_counter() - t_kept
        conn.autocommit = True
        for table in ("agreements", "progress_reports", "evaluations", "reports", "agreement_periods",
                      "period_totals"):
            conn.execute(sql.SQL("VACUUM ANALYZE {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table)))
        heavy = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE party_regions @> ARRAY[%s]").format(AGREEMENTS),
                             (HEAVY,)).fetchone()[0]
        size = conn.execute("SELECT pg_total_relation_size(%s)", (f"{SCHEMA}.agreements",)).fetchone()[0]
    load_s = time.perf_counter() - t0

    # Kota Bandung's 2026-S1 report, drafted in the event store (what GET /reports/{id} loads).
    app = Reporting(reporting_env(bench_url, pool_size=1), clock=ManualClock(NOW))
    try:
        identity = Identity(sub=f"bench-{HEAVY}", name="Operator", tenant=HEAVY, roles=("operator",))
        saved = app.draft_report(identity, PERIOD, ReportText(narrative="Laporan kerja sama Kota Bandung."))
    finally:
        app.close()

    stages = Counter(a.stage for a in agreements)
    forms = Counter(a.form for a in agreements)
    report.notes.append(
        f"data set: {len(agreements):,} agreements ({size / 2**20:.0f} MiB with indexes), built by commands in"
        f" {build_s:.1f} s, copied and analysed in {load_s:.1f} s; {len(progress):,} progress reports,"
        f" {len(evaluations):,} evaluations, {len(reports):,} report rows; Kota Bandung is party to {heavy:,};"
        f" period totals kept for them in {kept_s:.1f} s (services.reporting.totals)"
    )
    report.notes.append("stages: " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
                        + "; forms: " + ", ".join(f"{k} {v}" for k, v in forms.most_common()))
    return Seed(len(agreements), len(progress), len(evaluations), len(reports), heavy, saved.report.id, build_s,
                load_s)


@pytest.fixture(scope="module")
def client(bench_url: str, settings: Settings, seeded: Seed) -> Iterator[TestClient]:
    # Nothing kept (shared.answers): these rows measure what an answer costs to compute; the
    # real server's rows (6) show both.
    computing = msgspec.structs.replace(settings, answer_cache_entries=0)
    app = create_reporting(computing, database_url=bench_url, clock=ManualClock(NOW))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# -- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    n: int
    total_s: float
    samples_s: list[float]


def _count(warmup_s: list[float], n: int) -> int:
    """How many operations to time: n, or fewer when one takes long (at least N_MIN),
    judged by the last warm-up runs (the first ones may still be planning)."""
    typical = sorted(warmup_s[-3:])[1]
    return max(N_MIN, min(n, int(BUDGET_S / max(typical, 1e-6))))


def measure(fn: Callable[[], Any], n: int = N_READS) -> Timing:
    _, warmup = timed(fn, WARMUP)
    n = _count(warmup, n)
    total, samples = timed(fn, n)
    return Timing(n, total, samples)


def row(section: str, operation: str, t: Timing, baseline: str | None = None) -> Result:
    return Result(section, operation, t.n, t.total_s, baseline=baseline, samples_s=t.samples_s)


class _RecordingConnection:
    """An async connection that notes every statement, per transaction."""

    def __init__(self, conn: psycopg.AsyncConnection, transactions: list[list[tuple[Any, Any]]]) -> None:
        self._conn = conn
        self._transactions = transactions

    @asynccontextmanager
    async def transaction(self) -> Any:
        self._transactions.append([])
        async with self._conn.transaction() as tx:
            yield tx

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self._transactions[-1].append((query, params))
        return await self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:  # the rest as the connection's (`as_string` reads `.connection`)
        return getattr(self._conn, name)


class _RecordingPool:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.transactions: list[list[tuple[Any, Any]]] = []

    @asynccontextmanager
    async def connection(self) -> Any:
        async with self.pool.connection() as conn:
            yield _RecordingConnection(conn, self.transactions)


def run_async(url: str, body: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `body(pool)` on a fresh event loop, with the app's kind of pool (dict rows, not
    autocommit), of one connection: one request at a time, as the TestClient's requests."""

    async def main() -> Any:
        pool = make_async_pool(url, min_size=1, max_size=1, name="bench")
        await pool.open()
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


Recorded = list[list[tuple[Any, Any]]]  # statements (query, params) per transaction


def app_sql(url: str, call: Callable[[Any], Awaitable[Any]]) -> tuple[Any, Recorded]:
    """What one of the app's read-model (or compiler) calls answers, and every statement it
    runs, per transaction: the baselines run exactly the app's SQL."""

    async def body(pool: AsyncConnectionPool) -> tuple[Any, Recorded]:
        recorder = _RecordingPool(pool)
        return await call(recorder), recorder.transactions

    return run_async(url, body)


def measure_async(url: str, make: Callable[[Any], Callable[[], Awaitable[Any]]], n: int = N_READS) -> Timing:
    """Time an async call of the app's own read model or compiler (no HTTP, no GraphQL)."""

    async def body(pool: AsyncConnectionPool) -> Timing:
        fn = make(pool)
        warmup = []
        for _ in range(WARMUP):
            t0 = time.perf_counter()
            await fn()
            warmup.append(time.perf_counter() - t0)
        count = _count(warmup, n)
        samples = []
        start = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            await fn()
            samples.append(time.perf_counter() - t0)
        return Timing(count, time.perf_counter() - start, samples)

    return run_async(url, body)


def _text(query: Any) -> str:
    return query if isinstance(query, str) else query.as_string(None)


def _is_setting(query: Any) -> bool:
    """The transaction's settings (isolation level, role, tenant, timeouts), not a read."""
    text = _text(query)
    return text.startswith(("SET TRANSACTION", "SELECT set_config("))


def replay(conn: psycopg.Connection, transactions: Recorded, *, rls: bool = True) -> list[Any]:
    """Run recorded statements again on a sync connection (not autocommit), in their
    transactions. Without `rls`: bare, leaving out the transaction's settings (role,
    tenant, isolation level, timeout): row-level security does not apply to the owner."""
    results = []
    for statements in transactions:
        with conn.transaction():
            for query, params in statements:
                if not rls and _is_setting(query):
                    continue
                cur = conn.execute(query, params)
                if cur.description is not None:
                    results.append(cur.fetchall())
    return results


def only(transactions: Recorded, keep: Callable[[str], bool]) -> Recorded:
    """The recorded statements `keep` accepts (by their SQL), settings left out."""
    kept = [[(q, p) for q, p in statements if not _is_setting(q) and keep(_text(q))] for statements in transactions]
    return [statements for statements in kept if statements]


def rls_select(conn: psycopg.Connection, tenant: str, query: Any, params: Any) -> list[Any]:
    """A query as the app runs it: in a transaction, as ksd_reader, with the tenant set."""
    with conn.transaction():
        conn.execute("SELECT set_config('role', %s, true), set_config(%s, %s, true)",
                     (READER_ROLE, TENANT_SETTING, tenant), prepare=True)
        return conn.execute(query, params, prepare=True).fetchall()


def graphql(client: TestClient, headers: dict[str, str], query: str) -> Callable[[], dict[str, Any]]:
    def call() -> dict[str, Any]:
        response = client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    return call


def get(client: TestClient, headers: dict[str, str], path: str) -> Callable[[], Any]:
    def call() -> Any:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response

    return call


def kib(response: Any) -> str:
    return f"{len(response.content) / 1024:,.0f} KiB"


# -- 0. harness floors -------------------------------------------------------------------------


def test_harness_floor(client: TestClient, token: Callable[..., dict[str, str]], report: Report) -> None:
    """What the TestClient and the app's middleware cost before any handler work."""
    section = "0. harness floors (no database): read the request rows below against these"
    health = get(client, {}, "/health")
    typename = graphql(client, token(NATIONAL, "monitor"), "{ __typename }")
    assert typename() == {"__typename": "ReportingQuery"}
    base = "GET /health (TestClient)"
    report.add(row(section, base, measure(health)))
    report.add(row(section, "GraphQL { __typename } (TestClient)", measure(typename), base))


# -- 1. cooperationStats -----------------------------------------------------------------------

STATS = (
    "query {{ cooperationStats(groupBy: [{by}]) {{ groups {{ {fields} count valueIdr }}"
    " total {{ count valueIdr }} truncated }} }}"
)
STATS_CASES = {
    # (tenant, dimensions): GraphQL fields of a group's keys; the baseline GROUP BY's keys,
    # expansions and order (the app's: keys in the order of the dimensions, forms in their order)
    (NATIONAL, ("province", "form")): (
        "province { code name } form", "pv.code AS province, form",
        "CROSS JOIN LATERAL unnest(provinces) AS pv(code)",
        "pv.code COLLATE \"C\", array_position(ARRAY['KSDD','KSDPK','KSDPL','KSDLL','SINERGI'], form)"),
    (PROVINCE, ("region", "urusan")): (
        "region { code name } urusan { code name }", "r.code AS region, u.code AS urusan",
        "CROSS JOIN LATERAL unnest(party_regions) AS r(code) CROSS JOIN LATERAL unnest(urusan) AS u(code)",
        "r.code COLLATE \"C\", u.code COLLATE \"C\""),
}


@pytest.mark.parametrize(("tenant", "dimensions"), list(STATS_CASES))
def test_cooperation_stats(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], settings: Settings, seeded: Seed,
    report: Report, tenant: str, dimensions: tuple[str, ...],
) -> None:
    fields, keys, laterals, order = STATS_CASES[(tenant, dimensions)]
    by = ", ".join(d.upper() for d in dimensions)
    section = f"1. GraphQL cooperationStats(groupBy: [{by}]), tenant {tenant} ({seeded.agreements:,} agreements)"
    max_rows = settings.analysis_max_rows
    grouped = sql.SQL(
        "SELECT {keys}, count(*) AS n, sum(coalesce(value_idr, 0)) AS value FROM {t} {laterals}"
        " WHERE visible_to @> ARRAY[%(tenant)s] GROUP BY 1, 2 ORDER BY {order} LIMIT %(limit)s"
    ).format(keys=sql.SQL(keys), t=AGREEMENTS, laterals=sql.SQL(laterals), order=sql.SQL(order))
    totals = sql.SQL("SELECT count(*), coalesce(sum(value_idr), 0) FROM {} WHERE visible_to @> ARRAY[%(tenant)s]"
                     ).format(AGREEMENTS)
    params = {"tenant": tenant, "limit": max_rows + 1}

    with psycopg.connect(bench_url, autocommit=True) as conn:
        expected_total = conn.execute(totals, params).fetchone()
        expected_groups = conn.execute(grouped, params).fetchall()

        def raw() -> None:
            conn.execute(grouped, params, prepare=True).fetchall()
            conn.execute(totals, params, prepare=True).fetchone()

        raw_t = measure(raw)

    stats = lambda pool: AnalysisReadModel(pool).stats(  # noqa: E731
        tenant, list(dimensions), AnalysisFilter(), limit=max_rows)
    answer, transactions = app_sql(bench_url, stats)
    assert answer["total"]["count"] == expected_total[0]
    with psycopg.connect(bench_url) as conn:

        def raw_rls() -> None:
            rls_select(conn, tenant, grouped, params)
            rls_select(conn, tenant, totals, params)

        rls_t = measure(raw_rls)
        app_t = measure(lambda: replay(conn, transactions))
    model_t = measure_async(bench_url, lambda pool: lambda: stats(pool))

    headers = token(tenant, "monitor")
    call = graphql(client, headers, STATS.format(by=by, fields=fields))
    data = call()["cooperationStats"]
    assert data["total"]["count"] == expected_total[0]
    assert int(data["total"]["valueIdr"]) == int(expected_total[1])
    first = dimensions[0]
    got = [(g[first]["code"] if isinstance(g[first], dict) else g[first], g["count"]) for g in data["groups"]]
    assert got == [(r[0], r[2]) for r in expected_groups[:max_rows]]
    assert data["truncated"] is (len(expected_groups) > max_rows)
    gql_t = measure(call)
    bare_t = None
    if len(data["groups"]) > 500:  # where the GraphQL layer shows: key objects or groups?
        bare = graphql(client, headers, STATS.format(by=by, fields=""))
        assert len(bare()["cooperationStats"]["groups"]) == len(data["groups"])
        bare_t = measure(bare)

    base = f"raw psycopg GROUP BY + total [{tenant}]"
    report.add(row(section, base, raw_t))
    report.add(row(section, "  same, + SET LOCAL ROLE/tenant + RLS, in a tx", rls_t, base))
    report.add(row(section, "  the app's SQL (AnalysisReadModel.stats), raw + RLS", app_t, base))
    report.add(row(section, "  AnalysisReadModel.stats (async pool, no HTTP/GraphQL)", model_t, base))
    if bare_t:
        report.add(row(section, "  GraphQL, groups { count valueIdr } only (no key objects)", bare_t, base))
    report.add(row(section, f"GraphQL cooperationStats (TestClient), {len(data['groups'])} groups", gql_t, base))


# -- 2. cooperationNetwork ---------------------------------------------------------------------

NETWORK = (
    "query { cooperationNetwork { nodes { id kind label region { code } lat lng agreements valueIdr }"
    " edges { source target weight valueIdr } truncated } }"
)


def test_cooperation_network(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], settings: Settings, seeded: Seed,
    report: Report,
) -> None:
    tenant = PROVINCE
    section = f"2. GraphQL cooperationNetwork, tenant {tenant} ({seeded.agreements:,} agreements)"
    max_rows = settings.analysis_max_rows
    # The pairs self-join: each agreement's parties (regions, third parties by kind), paired.
    pairs = sql.SQL(
        "WITH p AS (SELECT id, coalesce(value_idr, 0) AS value, (CASE WHEN e->>'kind' = 'region' THEN e->>'region'"
        " ELSE 'mitra:' || coalesce(e->>'type', 'lainnya') END) COLLATE \"C\" AS node"
        " FROM {t}, jsonb_array_elements(parties) AS e WHERE visible_to @> ARRAY[%(tenant)s])"
        " SELECT a.node, b.node, count(*) AS weight, sum(a.value) FROM p a JOIN p b ON a.id = b.id AND a.node < b.node"
        " GROUP BY a.node, b.node ORDER BY weight DESC, a.node, b.node LIMIT %(limit)s"
    ).format(t=AGREEMENTS)
    params = {"tenant": tenant, "limit": max_rows + 1}

    # The baseline runs without JIT: jsonb_array_elements is estimated at 100 elements, the
    # self-join at millions of rows, and a custom plan of it costs enough for JIT to compile
    # it (hundreds of ms) to run a query of a few ms. The diagnostic row shows that.
    with psycopg.connect(bench_url, autocommit=True, options="-c jit=off") as conn:
        expected = conn.execute(pairs, params).fetchall()
        raw_t = measure(lambda: conn.execute(pairs, params, prepare=True).fetchall())
    with psycopg.connect(bench_url, autocommit=True) as conn:
        jit_t = measure(lambda: conn.execute(pairs, params, prepare=False).fetchall())
    assert expected

    network = lambda pool: AnalysisReadModel(pool).network(  # noqa: E731
        tenant, AnalysisFilter(), min_weight=1, limit=max_rows)
    _, transactions = app_sql(bench_url, network)
    with psycopg.connect(bench_url) as conn:
        rls_t = measure(lambda: rls_select(conn, tenant, pairs, params))
        app_t = measure(lambda: replay(conn, transactions))
    model_t = measure_async(bench_url, lambda pool: lambda: network(pool))

    call = graphql(client, token(tenant, "monitor"), NETWORK)
    data = call()["cooperationNetwork"]
    assert [(e["source"], e["target"], e["weight"]) for e in data["edges"]] == [r[:3] for r in expected[:max_rows]]
    assert data["truncated"] is (len(expected) > max_rows)
    gql_t = measure(call)

    base = f"raw psycopg pairs self-join, jit off [{tenant}]"
    report.add(row(section, base, raw_t))
    report.add(row(section, "  same, server default (jit on), not prepared (custom plans)", jit_t, base))
    report.add(row(section, "  same, + SET LOCAL ROLE/tenant + RLS, in a tx", rls_t, base))
    report.add(row(section, "  the app's SQL (AnalysisReadModel.network), raw + RLS", app_t, base))
    report.add(row(section, "  AnalysisReadModel.network (async pool, no HTTP/GraphQL)", model_t, base))
    report.add(row(section, f"GraphQL cooperationNetwork (TestClient), {len(data['nodes'])} nodes"
                   f" {len(data['edges'])} edges", gql_t, base))


# -- 3. coverage -------------------------------------------------------------------------------

COVERAGE = (
    "query { coverage { regions withActive byUrusan { urusan { code name } covered without }"
    " withoutAny { code name } } }"
)


@pytest.mark.parametrize("tenant", [PROVINCE, NATIONAL])
def test_coverage(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], seeded: Seed, report: Report,
    tenant: str,
) -> None:
    section = f"3. GraphQL coverage, tenant {tenant} ({seeded.agreements:,} agreements)"
    nation = Nation()
    scope = sorted(nation.eligible if tenant == NATIONAL else {tenant, *nation.kabkota[tenant]})
    distinct = sql.SQL(  # the app's query (AnalysisReadModel.active_pairs)
        "SELECT DISTINCT r, u FROM {t}, unnest(party_regions) AS r, unnest(urusan) AS u"
        " WHERE visible_to @> ARRAY[%(tenant)s] AND stage = ANY(%(active)s) AND r = ANY(%(regions)s)"
    ).format(t=AGREEMENTS)
    params = {"tenant": tenant, "active": ["kesepakatan_ditandatangani", "pelaksanaan"], "regions": scope}

    with psycopg.connect(bench_url, autocommit=True) as conn:
        expected = {tuple(r) for r in conn.execute(distinct, params).fetchall()}
        raw_t = measure(lambda: conn.execute(distinct, params, prepare=True).fetchall())
        # Not prepared: every execution gets a custom plan, in which `r = ANY(<constant list>)`
        # is a hash lookup; a prepared statement switches to a generic plan after five
        # executions, where it is a linear search of the list for every row.
        custom_t = measure(lambda: conn.execute(distinct, params, prepare=False).fetchall())
    rls_t = None
    if tenant != NATIONAL:  # the ministry's policy passes every row
        with psycopg.connect(bench_url) as conn:
            rls_t = measure(lambda: rls_select(conn, tenant, distinct, params))
    model_t = measure_async(bench_url, lambda pool: lambda: AnalysisReadModel(pool).active_pairs(tenant, scope))

    call = graphql(client, token(tenant, "monitor"), COVERAGE)
    data = call()["coverage"]
    assert data["regions"] == len(scope)
    assert data["withActive"] == len({r for r, _ in expected})
    assert sum(u["covered"] for u in data["byUrusan"]) == len(expected)
    gql_t = measure(call)

    base = f"raw psycopg DISTINCT (region, urusan), prepared [{tenant}]"
    report.add(row(section, base, raw_t))
    report.add(row(section, f"  same, not prepared (custom plan: = ANY of {len(scope)} codes hashed)", custom_t, base))
    if rls_t:
        report.add(row(section, "  same, + SET LOCAL ROLE/tenant + RLS, in a tx", rls_t, base))
    report.add(row(section, "  AnalysisReadModel.active_pairs (async pool, no HTTP/GraphQL)", model_t, base))
    report.add(row(section, f"GraphQL coverage (TestClient), {len(scope)} regions x 32 urusan", gql_t, base))


# -- 4. consolidation and national roll-up ---------------------------------------------------


def _core(q: str) -> bool:
    """The period totals read (kept, or counted from the rows) and the reports rows read."""
    return "UNION ALL" in q or "period_totals WHERE" in q or ("reports WHERE kind" in q and "subject = ANY(" in q)


def _counted(url: str, tenant: str, province: str | None) -> Recorded:
    """The statement counting a past period's totals from the agreements' rows, as the read
    model ran it before it kept them (services.reporting.totals), recorded to be replayed."""
    period = Period.parse(PERIOD)

    async def count(pool: Any) -> Any:
        async with ReportingReadModel(pool).snapshot(tenant) as view:
            return await view.period_totals(period, period.end, province, counted=True)

    return only(app_sql(url, count)[1], _core)


def test_consolidation(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], settings: Settings, seeded: Seed,
    report: Report,
) -> None:
    section = f"4. GET /consolidations/{PROVINCE}/{PERIOD} (its consolidator, {seeded.agreements:,} agreements)"
    period = Period.parse(PERIOD)
    regions = load_regions()

    def consolidation(tenant: str) -> Callable[[Any], Awaitable[Any]]:
        return lambda pool: Compiler(ReportingReadModel(pool), regions, settings).consolidation(
            tenant, PROVINCE, period, TODAY)

    compiled, transactions = app_sql(bench_url, consolidation(PROVINCE))
    _, as_national = app_sql(bench_url, consolidation(NATIONAL))
    core = only(transactions, _core)  # baseline: the period totals and the reports rows read, bare
    assert sum(len(t) for t in core) == 2
    counting = _counted(bench_url, PROVINCE, PROVINCE)
    with psycopg.connect(bench_url) as conn:
        raw_t = measure(lambda: replay(conn, core, rls=False))
        totals = replay(conn, counting, rls=False)
        counted_t = measure(lambda: replay(conn, counting))
        bare_t = measure(lambda: replay(conn, transactions, rls=False))
        all_t = measure(lambda: replay(conn, transactions))
        national_t = measure(lambda: replay(conn, as_national))
    assert compiled.content["province_wide"]["agreements"] == next(r[2] for r in totals[-1] if r[0] == "all")
    model_t = measure_async(bench_url, lambda pool: lambda: consolidation(PROVINCE)(pool))

    call = get(client, token(PROVINCE, "consolidator"), f"/consolidations/{PROVINCE}/{PERIOD}")
    response = call()
    content = response.json()["content"]
    assert len(content["regions"]) == 27
    assert content["province_wide"] == compiled.content["province_wide"]
    assert content["completeness"] == compiled.content["completeness"]
    http_t = measure(call)
    ministry = get(client, token(NATIONAL, "monitor"), f"/consolidations/{PROVINCE}/{PERIOD}")
    assert ministry().json()["content"]["completeness"] == content["completeness"]
    ministry_t = measure(ministry)

    base = "raw psycopg: the kept period totals + reports rows"
    statements = sum(len(t) for t in transactions)
    report.add(row(section, base, raw_t))
    report.add(row(section, "  counting the province's totals from the rows instead, + RLS", counted_t, base))
    report.add(row(section, f"  every statement of the compile ({len(transactions)} tx, {statements}), bare (no RLS)",
                   bare_t, base))
    report.add(row(section, "  every statement of the compile, + SET LOCAL ROLE/tenant + RLS", all_t, base))
    report.add(row(section, "  every statement, as tenant national, + RLS", national_t, base))
    report.add(row(section, "  Compiler.consolidation (async pool, no HTTP)", model_t, base))
    report.add(row(section, f"GET /consolidations/{PROVINCE}/{PERIOD} (TestClient), {kib(response)}", http_t, base))
    report.add(row(section, "GET the same as the national monitor (TestClient)", ministry_t, base))


def test_national(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], settings: Settings, seeded: Seed,
    report: Report,
) -> None:
    section = f"4b. GET /national/{PERIOD} (national monitor, {seeded.agreements:,} agreements)"
    period = Period.parse(PERIOD)
    regions = load_regions()
    national = lambda pool: Compiler(ReportingReadModel(pool), regions, settings).national(  # noqa: E731
        NATIONAL, period, TODAY)
    compiled, transactions = app_sql(bench_url, national)
    core = only(transactions, _core)
    assert sum(len(t) for t in core) == 3  # totals, region reports, consolidations
    counting = _counted(bench_url, NATIONAL, None)
    with psycopg.connect(bench_url) as conn:
        raw_t = measure(lambda: replay(conn, core, rls=False))
        counted_t = measure(lambda: replay(conn, counting))
    with psycopg.connect(bench_url, autocommit=True) as conn:
        alive = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(AGREEMENTS, ALIVE),
                             period_params(period)).fetchone()[0]
    assert compiled.content["totals"]["agreements"] == alive
    model_t = measure_async(bench_url, lambda pool: lambda: national(pool))

    call = get(client, token(NATIONAL, "monitor"), f"/national/{PERIOD}")
    response = call()
    content = response.json()["content"]
    assert len(content["provinces"]) == 38
    assert content["totals"]["agreements"] == alive
    assert content["completeness"] == compiled.content["completeness"]
    http_t = measure(call)

    base = "raw psycopg: the kept period totals + reports rows"
    statements = sum(len(t) for t in transactions)
    report.add(row(section, base, raw_t))
    report.add(row(section, "  counting the national totals from the rows instead, + RLS", counted_t, base))
    report.add(row(section, f"  Compiler.national ({len(transactions)} tx, {statements} statements, no HTTP)", model_t,
                   base))
    report.add(row(section, f"GET /national/{PERIOD} (TestClient), {kib(response)}", http_t, base))


# -- 5. a region's live report -----------------------------------------------------------------


def test_live_region_report(
    bench_url: str, client: TestClient, token: Callable[..., dict[str, str]], settings: Settings, seeded: Seed,
    report: Report,
) -> None:
    section = f"5. GET /reports/{{id}}?live=true, {HEAVY} (party to {seeded.heavy_agreements} agreements)"
    period = Period.parse(PERIOD)
    regions = load_regions()
    region = regions.get(HEAVY)
    assert region is not None

    async def facts_of(pool: Any) -> Any:  # what Compiler.region_report reads, in its snapshot transaction
        async with ReportingReadModel(pool).snapshot(HEAVY) as view:
            return await view.region_facts(HEAVY, period)

    facts, transactions = app_sql(bench_url, facts_of)
    assert facts.agreements
    with psycopg.connect(bench_url) as conn:
        raw_t = measure(lambda: replay(conn, transactions, rls=False))
        rls_t = measure(lambda: replay(conn, transactions))
    model_t = measure_async(bench_url, lambda pool: lambda: facts_of(pool))
    rules = Compiler(None, regions, settings).rules  # type: ignore[arg-type]
    content = compile_region_report(region, period, TODAY, facts, rules, regions)
    assert content["summary"]["agreements"] == len(facts.agreements)
    compile_t = measure(lambda: compile_region_report(region, period, TODAY, facts, rules, regions))
    full_t = measure_async(bench_url, lambda pool: lambda: Compiler(
        ReportingReadModel(pool), regions, settings).region_report(HEAVY, HEAVY, period, TODAY))
    app = Reporting(reporting_env(bench_url, pool_size=1), clock=ManualClock(NOW))
    try:
        identity = Identity(sub=f"bench-{HEAVY}", name="Operator", tenant=HEAVY, roles=("operator",))
        load_t = measure(lambda: app.get_report(identity, seeded.heavy_report))
    finally:
        app.close()

    call = get(client, token(HEAVY, "operator"), f"/reports/{seeded.heavy_report}?live=true")
    response = call()
    body = response.json()
    assert body["content_source"] == "live"
    assert body["content"]["summary"]["agreements"] == len(facts.agreements)
    assert len(body["content"]["agreements"]) == len(facts.agreements)
    http_t = measure(call)

    base = f"raw psycopg facts query (agreements, progress, evaluations, positions) [{HEAVY}]"
    report.add(row(section, base, raw_t))
    report.add(row(section, "  same, + SET LOCAL ROLE/tenant + RLS, REPEATABLE READ tx", rls_t, base))
    report.add(row(section, "  Snapshot.region_facts (async pool: dict rows, jsonb decoded)", model_t, base))
    report.add(row(section, f"  compile_region_report alone (Python, {len(facts.agreements)} agreements)", compile_t,
                   base))
    report.add(row(section, "  Compiler.region_report (facts + compile, no HTTP)", full_t, base))
    report.add(row(section, "  Reporting.get_report (event store load of the draft)", load_t, base))
    report.add(row(section, f"GET /reports/{{id}}?live=true (TestClient), {kib(response)}", http_t, base))


# -- 6. through the real server ------------------------------------------------------------------


def test_through_the_real_server(
    bench_url: str, settings: Settings, seeded: Seed, report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cooperationStats, a consolidation and the national roll-up as the platform serves them:
    the reporting service under granian (one process), 16 keep-alive clients; each against the
    app's own statements for it (recorded, then replayed under row-level security) from 16
    threads on their own connections, in the same run. Twice: as it runs (the read model does
    not change during the window, so every answer after the first is served from what the
    process kept), and with nothing kept (what each answer costs to compute: what a reader
    pays after every change)."""
    monkeypatch.setenv("KSD_RATE_LIMIT_PER_TOKEN", "100000000")  # in the path, never tripped
    monkeypatch.setenv("KSD_RATE_LIMIT_PER_ADDRESS", "100000000")
    tokens = TokenService(Settings.from_env({}, jwt_secret=JWT_SECRET, data_dir=str(tmp_path)))
    token = tokens.issue(tenant=NATIONAL, roles=("monitor",), sub="bench-monitor")
    period, regions = Period.parse(PERIOD), load_regions()
    compiler = lambda pool: Compiler(ReportingReadModel(pool), regions, settings)  # noqa: E731
    stats = json.dumps({"query": STATS.format(by="PROVINCE, FORM", fields="province { code name } form")}).encode()
    cases = [
        ("GraphQL cooperationStats(groupBy: [PROVINCE, FORM]), national", _post("/graphql", token, stats),
         lambda pool: AnalysisReadModel(pool).stats(NATIONAL, ["province", "form"], AnalysisFilter(),
                                                    limit=settings.analysis_max_rows)),
        (f"GET /consolidations/{PROVINCE}/{PERIOD} as the national monitor",
         _get(f"/consolidations/{PROVINCE}/{PERIOD}", token),
         lambda pool: compiler(pool).consolidation(NATIONAL, PROVINCE, period, TODAY)),
        (f"GET /national/{PERIOD}", _get(f"/national/{PERIOD}", token),
         lambda pool: compiler(pool).national(NATIONAL, period, TODAY)),
    ]
    # A window long enough for the heaviest (the national roll-up of 100,000 agreements takes
    # seconds a call when 16 run at once): a call counts if it starts within it.
    seconds = max(SECONDS, float(os.environ.get("KSD_BENCH_SLOW_SECONDS", "15")))
    measured: dict[str, tuple[str, str, list[float], list[tuple[str, list[float]]]]] = {}
    for label, _, call in cases:
        _, transactions = app_sql(bench_url, call)
        section = f"6. {label} ({seeded.agreements:,} agreements), {CLIENTS} clients, through the real server"
        base = f"raw psycopg: the app's {sum(map(len, transactions))} statements, under RLS, 16 threads"
        raw = raw_threads(lambda conn, i, t=transactions: replay(conn, t), bench_url, seconds)
        measured[label] = (section, base, raw, [])
    # As it runs (an answer asked again while the read model has not changed is served from what
    # the process kept: shared.answers), then with nothing kept, every answer computed; one
    # server at a time (the run's connections stay bounded).
    for name, entries in (("the reporting service under granian (1 worker, uvloop)", "256"),
                          ("  the same, every answer computed (KSD_ANSWER_CACHE_ENTRIES=0)", "0")):
        monkeypatch.setenv("KSD_ANSWER_CACHE_ENTRIES", entries)
        server = Server(bench_url, tmp_path, group_commit="1", name=f"reporting-{entries}",
                        app="services.reporting.app:create_app")
        try:
            for label, request, _ in cases:
                samples, bad = uvloop.run(_drive(server.port, lambda i, r=request: r, lambda answer: None, seconds))
                assert not bad, bad[:3]
                measured[label][3].append((name, samples))
        finally:
            server.stop()
    for section, base, raw, rows in measured.values():
        if not raw:
            report.notes.append(f"{section}: no raw call started within {seconds:g} s ended")
            continue
        report.add(_result(section, base, raw, seconds, None))
        for name, samples in rows:
            if not samples:
                report.notes.append(f"{section}: {name.strip()}: no call started within {seconds:g} s ended")
                continue
            report.add(_result(section, name, samples, seconds, base))
