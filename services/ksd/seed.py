"""A realistic, reproducible dataset (`ksd seed --scale small|national [--seed N]`).

Built through the application, never with SQL behind its back: every agreement family is
started and driven through its lifecycle by the aggregate (`Agreement.start`,
`Agreement.execute`, so every rule of the law applies, legal dates included), its progress
reports and evaluations are the monitoring service's aggregates (`ProgressReport.file`,
`Evaluation.record`), the region reports the reporting service's (`RegionReport.start`, then
`submit` with the figures `compile_region_report` compiles from the families, as a region's
operator does: most on time, some late, some never sent), and all of them are stored by the
services' applications (`save`, many aggregates per transaction, through the audit hash chain).
The regions' reports are submitted on past days (their moments are those days, in WIB): the
moment is what makes a report on time or late.

Reproducible: the same seed (and scale) gives the same families, ids and legal facts; the
`digest` over every event's content (all but the moment it was recorded) says so. Every
autonomous region (`shared.regions`; not DKI Jakarta's administrative kab/kota) initiates at
least one family when the scale allows (`national`) and takes part in one (`small` too).
Legal dates run from 2023-01-01 to `LAST_DAY` (or yesterday, whichever is earlier); a family
whose next step would fall later stays at the stage it reached, as real ones do.

Events are marked in their `actor` with `seeded: {"seed": N}` so nobody mistakes them for
real records. Running the same seed again creates nothing new (saved families are skipped,
so an interrupted run resumes).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import msgspec
from psycopg import sql

from services.monitoring.application import evaluator_of
from services.monitoring.domain.alerts import Thresholds
from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.registry.contract import legal_date
from services.registry.domain.agreement import (
    Agreement,
    Category,
    Form,
    OtherParty,
    PksStage,
    RegionParty,
    Stage,
    add_years,
)
from services.registry.domain.commands import (
    FRAMEWORK,
    Amend,
    Caller,
    Cancel,
    Capacity,
    DraftPks,
    Extend,
    Ground,
    Policy,
    RecordApproval,
    RecordOfferResponse,
    RequestApproval,
    Signatory,
    SignFramework,
    SignPks,
    StartWorkPlan,
    SubmitOffer,
    Terminate,
)
from services.reporting.domain.compile import Facts, Rules, compile_region_report
from services.reporting.domain.reports import RegionReport, region_report_id
from services.reporting.domain.stages import stage_dates
from shared.clock import Clock, SystemClock
from shared.errors import KsdError
from shared.periods import WIB, Period, local_date
from shared.regions import RegionCatalog, load_regions
from shared.tenancy import NATIONAL

SEED_NAMESPACE = UUID("7d3f0b52-96c4-4e0b-8a3e-1f5c2a9d6e40")
SCALES = {"small": 600, "national": 100_000}
FIRST_DAY = date(2023, 1, 1)
# How the regions' semester reports went up the chain (the rest never sent, still a draft).
REPORT_ON_TIME, REPORT_LATE = 0.72, 0.16
REPORT_BATCH = 50
LAST_DAY = date(2026, 11, 30)  # the last legal date (earlier if today is earlier)

# Plausible shares of the forms (most cooperation is between regions or with third parties).
FORM_SHARES = ((Form.KSDD, 0.46), (Form.KSDPK, 0.36), (Form.SINERGI, 0.08), (Form.KSDPL, 0.05), (Form.KSDLL, 0.05))
# Urusan codes as in `shared.urusan` (Permendagri 90/2019): those a cooperation plausibly has.
URUSAN = ("1.01", "1.02", "1.03", "1.04", "1.05", "1.06", "2.07", "2.08", "2.09", "2.10", "2.11", "2.12", "2.13",
          "2.15", "2.16", "2.17", "2.18", "2.22", "3.25", "3.26", "3.27", "3.28", "3.29", "3.30")
TOPICS = (
    ("Pengelolaan sampah regional", "Pengolahan sampah di tempat pemrosesan akhir bersama", ("1.03", "2.11")),
    ("Penyediaan air minum", "Pemanfaatan sumber air baku dan jaringan SPAM lintas wilayah", ("1.03",)),
    ("Pengembangan pariwisata terpadu", "Promosi dan paket wisata bersama", ("3.26",)),
    ("Peningkatan layanan kesehatan rujukan", "Rujukan pasien dan berbagi tenaga kesehatan", ("1.02",)),
    ("Pendidikan vokasi", "Magang, beasiswa dan sertifikasi kompetensi", ("1.01", "2.07")),
    ("Penanggulangan bencana", "Kesiapsiagaan dan tanggap darurat bersama", ("1.05",)),
    ("Transportasi antarwilayah", "Layanan angkutan umum yang melintasi batas daerah", ("2.15",)),
    ("Ketahanan pangan", "Distribusi dan cadangan pangan daerah", ("2.09", "3.27")),
    ("Pengembangan UMKM", "Pelatihan, pemasaran dan pembiayaan usaha mikro", ("2.17",)),
    ("Digitalisasi layanan publik", "Integrasi sistem informasi pemerintahan", ("2.16",)),
    ("Pengelolaan daerah aliran sungai", "Konservasi dan pengendalian banjir di DAS bersama", ("1.03", "2.11")),
    ("Peningkatan investasi", "Promosi investasi dan pelayanan perizinan terpadu", ("2.18",)),
)
COMPANIES = ("Nusantara", "Sejahtera", "Mandiri", "Karya", "Lestari", "Sentosa", "Abadi", "Prima", "Jaya", "Makmur")
FIELDS = ("Energi", "Air", "Logistik", "Agro", "Digital", "Konstruksi", "Medika", "Wisata", "Tekstil", "Pangan")
OTHER_TYPES = ("badan_usaha", "bumn", "bumd", "perguruan_tinggi_swasta", "ormas")
FOREIGN_CITIES = (("Hamamatsu City", "Jepang"), ("Busan Metropolitan City", "Korea Selatan"),
                  ("Provinsi Guangxi", "Tiongkok"), ("Negara Bagian Queensland", "Australia"),
                  ("Kota Rotterdam", "Belanda"), ("Provinsi Gyeonggi", "Korea Selatan"),
                  ("Kota Penang", "Malaysia"), ("Prefektur Okinawa", "Jepang"))
FOREIGN_BODIES = (("Japan International Cooperation Agency", "Jepang"), ("Deutsche Gesellschaft für "
                  "Internationale Zusammenarbeit", "Jerman"), ("Korea International Cooperation Agency",
                  "Korea Selatan"), ("Agence Française de Développement", "Prancis"),
                  ("United Nations Development Programme", "Amerika Serikat"))
MINISTRIES = (("Kementerian Pekerjaan Umum", "kementerian"), ("Kementerian Kesehatan", "kementerian"),
              ("Kementerian Pertanian", "kementerian"), ("Badan Pusat Statistik", "lembaga_pemerintah_nonkementerian"),
              ("Badan Nasional Penanggulangan Bencana", "lembaga_pemerintah_nonkementerian"))
EARLY_ENDINGS = (Ground.PARA_PIHAK_SEPAKAT, Ground.KEADAAN_KAHAR, Ground.WANPRESTASI,
                 Ground.DIGANTIKAN_PERJANJIAN_BARU, Ground.PERUBAHAN_PERATURAN)


class _Later(Exception):
    """The next step would happen after the last legal date: the family stays where it is."""


@dataclass
class SeedReport:
    scale: str
    seed: int
    families: int = 0
    skipped: int = 0  # already saved by an earlier run of the same seed
    events: dict[str, int] = field(default_factory=lambda: {"registry": 0, "monitoring": 0, "reporting": 0})
    forms: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    initiators: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # steps the aggregate refused (a seed bug)
    reports: dict[str, int] = field(default_factory=dict)  # the regions' reports by timeliness
    # The region reports' phase (after the families): reports compiled so far, of how many.
    reports_done: int = 0
    reports_planned: int = 0
    seconds: float = 0.0
    digest: str = ""

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    @property
    def rate(self) -> float:
        return self.total_events / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        return [
            f"Seed {self.seed} ({self.scale}): {self.families:,} kerja sama ({self.skipped:,} sudah ada), "
            f"{self.total_events:,} peristiwa dalam {self.seconds:,.1f} detik = {self.rate:,.0f} peristiwa/detik",
            "  bentuk: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.forms.items())),
            "  tahap: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.stages.items())),
            "  peristiwa: " + ", ".join(f"{k} {v:,}" for k, v in self.events.items()),
            "  laporan daerah: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.reports.items())),
            f"  daerah aktif: {len(self.regions)} (pemrakarsa {len(self.initiators)}); digest {self.digest}",
        ]


class _Family:
    """One family's generator: a random walk through the lifecycle with legal dates."""

    def __init__(self, seeder: Seeder, index: int, rng: random.Random, initiator: str) -> None:
        self.s, self.i, self.rng, self.initiator = seeder, index, rng, initiator
        self.cursor = FIRST_DAY

    def step(self, low: int, high: int) -> date:
        day = self.cursor + timedelta(days=self.rng.randint(low, high))
        if day > self.s.last_day:
            raise _Later
        self.cursor = day
        return day

    def do(self, agreement: Agreement, command: Any, region: str | None = None) -> None:
        caller = Caller(region or self.initiator, self.s.actor(region or self.initiator))
        agreement.execute(command, by=caller, at=self.s.at, policy=self.s.policy)

    def build(self) -> Agreement:
        rng, s = self.rng, self.s
        form = _choose(rng, FORM_SHARES)
        category, partners = self.partners(form)
        title, obj, urusan = rng.choice(TOPICS)
        urusan = tuple(dict.fromkeys((*urusan, *rng.sample(URUSAN, rng.randint(0, 1)))))
        span = (s.last_day - FIRST_DAY).days
        self.cursor = FIRST_DAY + timedelta(days=int(span * rng.random() ** 1.8))  # more families started early
        agreement = Agreement.start(
            id=uuid5(SEED_NAMESPACE, f"{s.seed}/{self.i}"), actor=s.actor(self.initiator), at=s.at, form=form,
            category=category, title=f"{title} ({self.i + 1})", object=obj, urusan=urusan,
            initiator=self.initiator, partners=partners,
            value_idr=rng.randrange(50, 50_000) * 10_000_000 if rng.random() < 0.85 else None,
            burdens_community=rng.random() < 0.2, budgeted_in_apbd=rng.random() < 0.7,
            adjacency=s.regions, drafted_on=self.cursor,
        )
        with contextlib.suppress(_Later):
            self.lifecycle(agreement)
        return agreement

    def partners(self, form: Form) -> tuple[Category | None, list[Any]]:
        rng, s = self.rng, self.s
        if form is Form.KSDD:
            neighbours = sorted(n for n in s.regions.neighbours(self.initiator) if n in s.eligible_set)
            if "." in self.initiator:
                neighbours.append(self.initiator.split(".")[0])  # its own province
            if neighbours and rng.random() < 0.6:
                return Category.WAJIB, [RegionParty(rng.choice(neighbours))]
            drawn = (rng.choice(s.eligible) for _ in range(rng.choice((1, 1, 2, 2, 3))))
            picks = {r for r in drawn if r != self.initiator}
            fallback = neighbours[0] if neighbours else s.eligible[0]
            return Category.SUKARELA, [RegionParty(r) for r in sorted(picks)] or [RegionParty(fallback)]
        if form is Form.KSDPK:
            name = f"PT {rng.choice(COMPANIES)} {rng.choice(FIELDS)} {rng.randint(1, 999)}"
            kind = rng.choice(OTHER_TYPES)
            if kind == "perguruan_tinggi_swasta":
                name = f"Universitas {rng.choice(COMPANIES)} {rng.choice(FIELDS)}"
            elif kind == "ormas":
                name = f"Yayasan {rng.choice(COMPANIES)} {rng.choice(FIELDS)}"
            return None, [OtherParty(name, kind)]
        if form is Form.KSDPL:
            name, country = rng.choice(FOREIGN_CITIES)
            return None, [OtherParty(name, "pemerintah_daerah_luar_negeri", country)]
        if form is Form.KSDLL:
            name, country = rng.choice(FOREIGN_BODIES)
            return None, [OtherParty(name, "lembaga_luar_negeri", country)]
        name, kind = rng.choice(MINISTRIES)
        return None, [OtherParty(name, kind)]

    def ref(self, what: str, day: date) -> str:
        return f"{what}/{self.i + 1}/{self.initiator}/{day.year}"

    def approvals(self, agreement: Agreement, document: str, reject: bool = False) -> None:
        for kind, region, _ in agreement.required_approvals(document):
            asked = self.step(3, 20)
            self.do(agreement, RequestApproval(kind, self.ref(f"PMH-{kind.upper()}-{document}", asked), asked,
                                               document=document), region=region)
            decided = self.step(7, 40)
            decision = "rejected" if reject else "approved"
            recorder = NATIONAL if kind == "central" else region
            self.do(agreement, RecordApproval(kind, decision, self.ref(f"KEP-{kind.upper()}-{document}", decided),
                                              decided, document=document), region=recorder)
            if reject:
                return

    def signatories(self, agreement: Agreement, parties: list[str], *, pks: bool) -> tuple[Signatory, ...]:
        out = []
        for party in parties:
            region = self.s.regions.get(party)
            if region is None:
                out.append(Signatory(party, f"Perwakilan {party[:40]}", "Direktur", Capacity.PERWAKILAN_MITRA))
            elif pks and self.rng.random() < 0.5:
                out.append(Signatory(party, f"Kepala Dinas {region.name}", f"Kepala Dinas, {region.name}",
                                     Capacity.PEJABAT_KUASA, surat_kuasa=self.ref("SK", self.cursor)))
            else:
                head = {"provinsi": "Gubernur", "kabupaten": "Bupati"}.get(region.kind, "Wali Kota")
                out.append(Signatory(party, f"{head} {region.name}", f"{head} {region.name}", Capacity.KEPALA_DAERAH))
        return tuple(out)

    def lifecycle(self, agreement: Agreement) -> None:
        rng = self.rng
        fate = rng.random()
        if fate < 0.03:
            return  # still in persiapan
        sent = self.step(14, 60)
        self.do(agreement, SubmitOffer(self.ref("PNW", sent), sent))
        if fate < 0.06:
            return  # waiting for answers
        rejected = fate < 0.08
        for party in agreement.parties:
            if party["role"] != "partner":
                continue
            answered = self.step(5, 45)
            decision = "rejected" if rejected else "accepted"
            if party["kind"] == "region":
                self.do(agreement, RecordOfferResponse(decision, self.ref("JWB", answered), answered),
                        region=party["region"])
            else:
                self.do(agreement, RecordOfferResponse(decision, self.ref("JWB", answered), answered,
                                                       party=party["name"]))
            if rejected:
                return
        if fate < 0.11:
            cancelled = self.step(30, 120)
            self.do(agreement, Cancel("Para pihak tidak melanjutkan penyusunan kesepakatan.", cancelled_on=cancelled))
            return
        self.approvals(agreement, FRAMEWORK)
        if fate < 0.13:
            return  # the framework is being drafted
        signed = self.step(7, 60)
        years = rng.choice((3, 5, 5, 5))
        self.do(agreement, SignFramework(
            number=self.ref("KB" if Form(agreement.form) is Form.KSDD else "NSK", signed), signed_on=signed,
            valid_from=signed, valid_until=add_years(signed, years),
            signatories=self.signatories(agreement, agreement.party_keys, pks=False),
            rencana_kerja=("Penyusunan rencana aksi", "Pelaksanaan kegiatan bersama", "Evaluasi tahunan")
            if Form(agreement.form) is Form.SINERGI else (),
        ))
        if fate < 0.18:
            return  # signed, nothing implemented yet
        if Form(agreement.form) is Form.SINERGI:
            self.do(agreement, StartWorkPlan(self.step(14, 90)))
        else:
            for n in range(rng.choice((1, 2, 3, 3, 4, 5))):
                try:
                    self.pks(agreement, n)
                except _Later:
                    break
        if fate < 0.75:
            return  # in force
        self.end(agreement)

    def pks(self, agreement: Agreement, n: int) -> None:
        rng = self.rng
        drafted = self.step(7, 60)
        self.do(agreement, DraftPks(
            title=f"PKS {agreement.title} tahap {n + 1}", object=agreement.object,
            value_idr=rng.randrange(10, 5_000) * 10_000_000 if rng.random() < 0.9 else None, drafted_on=drafted))
        pks = agreement.pks[-1]
        if rng.random() < 0.05:
            self.do(agreement, Cancel("Rancangan PKS tidak dilanjutkan.", document=pks["id"],
                                      cancelled_on=self.step(7, 60)))
            return
        self.approvals(agreement, pks["id"])
        signed = self.step(7, 45)
        until = date.fromisoformat((agreement.framework or {})["valid_until"])  # signed: it has one
        end = min(add_years(signed, rng.choice((1, 2, 3))), until)
        if end <= signed:
            return
        self.do(agreement, SignPks(pks["id"], self.ref(f"PKS-{n + 1}", signed), signed, signed, end,
                                   self.signatories(agreement, list(pks["parties"]), pks=True)))
        if rng.random() < 0.3:
            day = self.step(60, 200)
            self.do(agreement, Amend(pks["id"], self.ref(f"ADD-{n + 1}", day), day,
                                     "Perubahan rincian kegiatan dan jadwal pelaksanaan."))
        if rng.random() < 0.2 and end < until:
            day = self.step(30, 200)
            self.do(agreement, Extend(pks["id"], self.ref(f"PPJ-{n + 1}", day), day,
                                      min(add_years(end, 1), until)))

    def end(self, agreement: Agreement) -> None:
        """Terminate every PKS, then the framework (the family ends)."""
        rng = self.rng
        for pks in agreement.pks:
            if pks["stage"] == PksStage.DITANDATANGANI.value:
                day = self.step(30, 240)
                ground = Ground.MASA_BERLAKU_HABIS if rng.random() < 0.7 else rng.choice(EARLY_ENDINGS)
                self.do(agreement, Terminate(pks["id"], ground, self.ref(f"AKH-{pks['id']}", day), day))
            elif pks["stage"] in (PksStage.PENYUSUNAN.value, PksStage.MENUNGGU_PERSETUJUAN_DPRD.value):
                self.do(agreement, Cancel("Tidak dilanjutkan karena kerja sama berakhir.", document=pks["id"],
                                          cancelled_on=self.step(1, 30)))
        day = self.step(15, 120)
        ground = Ground.TUJUAN_TERCAPAI if rng.random() < 0.6 else rng.choice(EARLY_ENDINGS)
        self.do(agreement, Terminate(FRAMEWORK, ground, self.ref("AKH-KB", day), day))


@dataclass
class _Compiled:
    """A family as a region's report reads it: its state now, its stage history (since,
    version, stage; as the reporting read model's `agreement_stages`) and monitoring rows."""

    # The state as the read model stores it (JSON) and the monitoring rows, compressed: a
    # national seed holds 100,000 of them.
    packed: bytes
    stages: list[tuple[date, int, str]]

    def unpack(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        state, progress, evaluations = msgspec.json.decode(zlib.decompress(self.packed))
        return state, progress, evaluations

    def stage_on(self, day: date) -> str:
        """The stage of the latest change that had legally happened by `day`; before any, the first."""
        happened = [(version, stage) for since, version, stage in self.stages if since <= day]
        return max(happened)[1] if happened else self.stages[0][2]


def _report_periods(last_day: date) -> list[Period]:
    """The semesters a region reports on: from the first legal day, those ended before `last_day`."""
    periods, period = [], Period.semester_of(FIRST_DAY)
    while period.end < last_day:
        periods.append(period)
        period = period.next()
    return periods


def _working_hours(day: date, hour: int) -> datetime:
    """A moment of `day` in the ministry's zone (WIB), during office hours."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=WIB)


def _choose(rng: random.Random, shares: tuple[tuple[Any, float], ...]) -> Any:
    x = rng.random()
    for value, share in shares:
        x -= share
        if x < 0:
            return value
    return shares[-1][0]


def _period_end_or(day: date | None, last: date) -> date:
    return min(day, last) if day else last


class Seeder:
    """Generates and saves; `registry`, `monitoring`, `reporting`: the services' applications
    (None: generate only, e.g. to compute the digest)."""

    def __init__(self, *, seed: int, scale: str, registry: Any = None, monitoring: Any = None, reporting: Any = None,
                 clock: Clock | None = None, regions: RegionCatalog | None = None, batch_size: int = 500,
                 progress: Callable[[SeedReport], None] | None = None, progress_seconds: float = 3.0,
                 count: int | None = None, report_deadline_days: int = 30) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}")
        self.seed, self.scale, self.count = seed, scale, count or SCALES[scale]
        self.registry, self.monitoring, self.reporting = registry, monitoring, reporting
        self.clock = clock or SystemClock()
        self.regions = regions or load_regions()
        self.policy = Policy()
        self.batch_size = batch_size
        self.progress, self.progress_seconds = progress, progress_seconds
        self._started = self._last_progress = time.monotonic()
        self.eligible = sorted(r.code for r in self.regions.all() if self.regions.is_party_eligible(r.code))
        self.eligible_set = frozenset(self.eligible)
        self.at = self.clock.now()
        self.last_day = min(LAST_DAY, local_date(self.at) - timedelta(days=1))
        self.report = SeedReport(scale, seed)
        self._digest = hashlib.sha256()
        self._actors: dict[str, dict] = {}
        # What the regions' reports are compiled from: each family alive in a report period
        # (its state, stage history and monitoring rows), by region and period.
        self.deadline_days = getattr(reporting, "report_deadline_days", report_deadline_days)
        self.report_periods = _report_periods(self.last_day)
        self._families: list[_Compiled] = []
        # (region, family index -> its unpacked parts): the families of the region being reported.
        self._unpacking: tuple[str | None, dict[int, Any]] = (None, {})
        self._alive: dict[tuple[str, Period], list[int]] = {}

    def actor(self, tenant: str) -> dict:
        actor = self._actors.get(tenant)
        if actor is None:
            roles = ["approver"] if tenant == NATIONAL else ["operator"]
            actor = self._actors[tenant] = {"sub": f"seed:{self.seed}", "tenant": tenant, "roles": roles,
                                            "seeded": {"seed": self.seed}}
        return actor

    def initiators(self) -> Iterator[str]:
        """Every autonomous region first (in a seeded order), then at random."""
        rng = random.Random(f"{self.seed}/initiators")  # noqa: S311 - seeded on purpose: the same seed gives the same demonstration data
        first = list(self.eligible)
        rng.shuffle(first)
        yield from first
        while True:
            yield rng.choice(self.eligible)

    def run(self) -> SeedReport:
        self._started = self._last_progress = time.monotonic()
        initiators = self.initiators()
        chunk: list[tuple[Agreement, list[Any]]] = []
        for i in range(self.count):
            self.at = self.clock.now()
            rng = random.Random(f"{self.seed}/{i}")  # noqa: S311 - seeded on purpose: the same seed gives the same demonstration data
            family = _Family(self, i, rng, next(initiators))
            try:
                agreement = family.build()
            except KsdError as exc:  # a generator bug: count it and go on
                self.report.refused.append(f"{i}: {exc.code}: {exc.detail}")
                continue
            records = self.records(agreement, rng)
            self.remember(agreement, records)
            chunk.append((agreement, records))
            if len(chunk) >= self.batch_size:
                self.save(chunk)
                chunk = []
            self._tick()
        if chunk:
            self.save(chunk)
        self.save_region_reports()
        self.report.seconds = time.monotonic() - self._started
        self.report.digest = self._digest.hexdigest()
        return self.report

    def _tick(self) -> None:
        """Hand the report so far to `progress`, at most every `progress_seconds`."""
        now = time.monotonic()
        if self.progress and now - self._last_progress >= self.progress_seconds:
            self._last_progress = now
            self.report.seconds = now - self._started
            self.progress(self.report)

    # -- monitoring and reporting --------------------------------------------------------------

    def records(self, agreement: Agreement, rng: random.Random) -> list[Any]:
        """Progress reports of each party region for the semesters the family was in force,
        and an evaluation for some of its years."""
        framework = agreement.framework
        if framework is None or agreement.stage not in ("pelaksanaan", "berakhir"):
            return []
        signed = date.fromisoformat(framework["signed_on"])
        ended = getattr(agreement, "ended_on", None)
        ended = date.fromisoformat(ended) if ended else None
        last = _period_end_or(ended, self.last_day)
        out: list[Any] = []
        period = Period.semester_of(signed)
        evaluator = evaluator_of(agreement.party_regions)
        while period.start <= last:
            for region in agreement.party_regions:
                if rng.random() < 0.9:
                    planned = rng.randrange(10, 2_000) * 1_000_000
                    target = rng.randint(10, 500)
                    out.append(ProgressReport.file(
                        agreement_id=agreement.id, region=region, period=period, actor=self.actor(region),
                        at=self.at, framework_signed_on=signed, content={
                            "activities": [{"name": "Pelaksanaan kegiatan kerja sama", "description": None}],
                            "indicators": [{"name": "Keluaran kegiatan", "unit": "kegiatan", "target": target,
                                            "achieved": rng.randint(0, target)}],
                            "budget": {"planned_idr": planned, "realised_idr": rng.randint(0, planned)},
                            "beneficiaries": {"count": rng.randint(0, 50_000), "description": None},
                            "obstacles": None, "follow_up": None, "attachments": [],
                        }))
            if period.end < last and period.end.month == 12 and rng.random() < 0.8:
                year = Period.parse(str(period.year))
                evaluated = min(year.end + timedelta(days=rng.randint(10, 60)), self.last_day)
                out.append(Evaluation.record(
                    agreement_id=agreement.id, evaluator=evaluator, period=year, actor=self.actor(evaluator),
                    at=self.at, content={
                        "findings": "Kegiatan berjalan sesuai rencana kerja dengan beberapa kendala anggaran.",
                        "score": rng.randint(55, 95),
                        "recommendation": rng.choice(("dilanjutkan", "dilanjutkan", "diperluas", "dihentikan")),
                        "evaluated_on": evaluated.isoformat(), "follow_up": None}))
            period = period.next()
        return out

    def remember(self, agreement: Agreement, records: list[Any]) -> None:
        """Keep what the regions' reports will be compiled from: the family as the read model
        holds it (its state, when it began and ended, its stage history) and its monitoring
        rows, for each report period it was alive in."""
        began = min([local_date(self.at)] + [date.fromisoformat(d) for d in (
            (agreement.framework or {}).get("signed_on"), (agreement.offer or {}).get("sent_on")) if d])
        ended = getattr(agreement, "ended_on", None)
        ended = date.fromisoformat(ended) if ended else None
        periods = [p for p in self.report_periods if began <= p.end and (ended is None or ended >= p.start)]
        if not periods:
            return
        state = agreement.to_state()
        stages = [(local_date(self.at), 1, Stage.PERSIAPAN.value)]
        for event in agreement.pending_events[1:]:
            stage = getattr(event, "stage", None)
            if isinstance(stage, str) and stage != stages[-1][2]:
                stages.append((legal_date(event), event.originator_version, stage))
        dates = stage_dates(state)
        stages = [(dates.get(stage, since), version, stage) for since, version, stage in stages]
        # The monitoring rows as the reports read them; each as filed the day after its period
        # (they are recorded now: their moment would make the dataset differ run to run).
        progress, evaluations = [], []
        for record in records:
            filed = _working_hours(Period.parse(str(record.period)).end + timedelta(days=1), 10).isoformat()
            if isinstance(record, ProgressReport):
                progress.append({"agreement_id": str(agreement.id), "region": record.region,
                                 "period": str(record.period), "version": record.version,
                                 "content": record.content, "filed_at": filed})
            else:
                evaluations.append({"agreement_id": str(agreement.id), "period": str(record.period),
                                    "evaluator": record.evaluator, "version": record.version,
                                    "content": record.content, "recorded_at": filed})
        index = len(self._families)
        packed = zlib.compress(msgspec.json.encode((state, progress, evaluations)), 1)
        self._families.append(_Compiled(packed, stages))
        for region in agreement.party_regions:
            for period in periods:
                self._alive.setdefault((region, period), []).append(index)

    def save_region_reports(self) -> None:
        """Each active region's report for every semester that has ended: drafted by the
        region after the semester, and most submitted with the figures compiled from its
        families (on time, within `deadline_days` of the semester's end, or late); some never
        sent (a draft, "belum menyampaikan"). Reproducible: the days come from the seed."""
        rules = Rules(Thresholds())
        reports: list[RegionReport] = []
        timeliness: Counter[str] = Counter()
        self.report.reports_planned = len(self.report.regions) * len(self.report_periods)
        for region in sorted(self.report.regions):
            for period in self.report_periods:
                rng = random.Random(f"{self.seed}/report/{region}/{period}")  # noqa: S311 - seeded: reproducible data
                fate, deadline = rng.random(), period.due(self.deadline_days)
                if fate < REPORT_ON_TIME:
                    sent = period.end + timedelta(days=rng.randint(5, self.deadline_days))
                elif fate < REPORT_ON_TIME + REPORT_LATE:
                    sent = deadline + timedelta(days=rng.randint(1, 75))
                else:
                    sent = None
                if sent is not None and sent > self.last_day:
                    sent = None  # not yet sent
                drafted = period.end + timedelta(days=rng.randint(1, 4))
                if sent is not None:
                    drafted = min(drafted, sent)
                report = RegionReport.start(
                    id=region_report_id(region, period), subject=region, period=period,
                    kinds=frozenset({"semester", "annual"}), actor=self.actor(region),
                    at=_working_hours(drafted, 9) if sent is not None else self.at,
                    narrative=f"Laporan kerja sama daerah {region} periode {period}.")
                if sent is not None:
                    report.submit(content=self.compile(region, period, sent, rules), sources={}, deadline=deadline,
                                  reason=None, actor=self.actor(region), at=_working_hours(sent, 14))
                timeliness[report.timeliness.value] += 1
                reports.append(report)
                self.report.reports_done += 1
                if len(reports) >= REPORT_BATCH:  # a compiled report is large: save as they come
                    self._save_reports(reports)
                    reports = []
                self._tick()
        self._save_reports(reports)
        self.report.reports = dict(timeliness)

    def _save_reports(self, reports: list[RegionReport]) -> None:
        for report in reports:
            self._hash(report)
        if self.reporting is not None:
            self.report.events["reporting"] += _save_new(self.reporting, reports)
        else:
            self.report.events["reporting"] += sum(len(r.pending_events) for r in reports)

    def compile(self, region: str, period: Period, today: date, rules: Rules) -> dict[str, Any]:
        """The region's report for `period` as the reporting service compiles it on `today`:
        each family it was party to, by its stage on the period's last day."""
        indexes = self._alive.get((region, period), [])
        families = [self._families[i] for i in indexes]
        unpacked = [self._unpacked(region, i) for i in indexes]
        facts = Facts(
            agreements=[state for state, _, _ in unpacked],
            stages={u[0]["_id"]: f.stage_on(period.end) for u, f in zip(unpacked, families, strict=True)},
            progress=[r for _, rows, _ in unpacked for r in rows],
            evaluations=[r for _, _, rows in unpacked for r in rows],
        )
        subject = self.regions.get(region)
        if subject is None:  # the regions reported on come from the catalogue
            raise LookupError(f"region {region} is not in the catalogue")
        content = compile_region_report(subject, period, today, facts, rules, self.regions)
        return msgspec.json.decode(msgspec.json.encode(content))  # as stored: JSON values only

    def _unpacked(self, region: str, index: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """A family unpacked once for all of a region's reports (they come region by region): each
        period's report read the same family again (half the reports' time at the national scale).
        The compiler only reads them."""
        if self._unpacking[0] != region:
            self._unpacking = (region, {})
        cache = self._unpacking[1]
        found = cache.get(index)
        if found is None:
            found = cache[index] = self._families[index].unpack()
        return found

    # -- saving ------------------------------------------------------------------------------

    def _hash(self, aggregate: Any) -> None:
        for event in aggregate.pending_events:
            data = {k: v for k, v in vars(event).items() if k != "timestamp"}
            self._digest.update(type(event).__qualname__.encode())
            self._digest.update(msgspec.json.encode(data, order="sorted"))

    def save(self, chunk: list[tuple[Agreement, list[Any]]]) -> None:
        agreements = [a for a, _ in chunk]
        records = [r for _, rs in chunk for r in rs]
        for aggregate in (*agreements, *records):
            self._hash(aggregate)
        if self.registry is not None:
            saved = _save_new(self.registry, agreements)
            self.report.skipped += sum(1 for a in agreements if a.__dict__.get("_seed_skipped"))
            self.report.events["registry"] += saved
        else:
            self.report.events["registry"] += sum(len(a.pending_events) for a in agreements)
        if self.monitoring is not None:
            self.report.events["monitoring"] += _save_new(self.monitoring, records)
        else:
            self.report.events["monitoring"] += sum(len(r.pending_events) for r in records)
        for agreement in agreements:
            self.report.families += 1
            self.report.forms[agreement.form] = self.report.forms.get(agreement.form, 0) + 1
            self.report.stages[agreement.stage] = self.report.stages.get(agreement.stage, 0) + 1
            self.report.initiators.add(agreement.initiator)
            self.report.regions.update(agreement.party_regions)


def _present(app: Any, ids: list[UUID]) -> set[UUID]:
    """Which of these aggregates `app`'s store holds already (one query)."""
    if not ids:
        return set()
    recorder = app.recorder
    datastore = recorder.datastore
    table = sql.Identifier(datastore.schema, recorder.events_table_name)
    query = sql.SQL("SELECT originator_id FROM {} WHERE originator_id = ANY(%s) AND originator_version = 1")
    with datastore.transaction(commit=False) as curs:
        curs.execute(query.format(table), (ids,))
        return {row["originator_id"] for row in curs.fetchall()}


def _save_new(app: Any, aggregates: list[Any]) -> int:
    """Save, in one transaction, those not saved by an earlier run of the same seed (marked
    `_seed_skipped`); answers the number of events stored."""
    present = _present(app, [a.id for a in aggregates])
    new = []
    for aggregate in aggregates:
        if aggregate.id in present:
            aggregate.__dict__["_seed_skipped"] = True
        else:
            new.append(aggregate)
    count = sum(len(a.pending_events) for a in new)
    if new:
        app.save(*new)
    return count


def seed(database_url: str, *, scale: str, seed: int = 1, progress: Callable[[SeedReport], None] | None = None,
         clock: Clock | None = None, batch_size: int = 500, count: int | None = None) -> SeedReport:
    """Seed the database at `database_url` (migrated) through the three services' applications."""
    from services.monitoring.application import Monitoring
    from services.monitoring.setup import monitoring_env
    from services.registry.application import Registry
    from services.registry.setup import registry_env
    from services.reporting.application import Reporting
    from services.reporting.setup import reporting_env

    registry = Registry(registry_env(database_url, pool_size=1), clock=clock)
    monitoring = Monitoring(monitoring_env(database_url, pool_size=1), clock=clock)
    reporting = Reporting(reporting_env(database_url, pool_size=1), clock=clock, regions=registry.regions)
    try:
        return Seeder(seed=seed, scale=scale, registry=registry, monitoring=monitoring, reporting=reporting,
                      clock=clock, regions=registry.regions, batch_size=batch_size, progress=progress,
                      count=count).run()
    finally:
        for app in (registry, monitoring, reporting):
            app.close()
