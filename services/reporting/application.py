"""The reporting service's application layer: region reports and provincial
consolidations, stored as events in schema `reporting` (with the audit hash chain).

Synchronous, like eventsourcing itself: HTTP handlers call it in a worker thread. What a
report contains is compiled by the caller from this service's read model (which follows
the registry's and the monitoring service's events) and handed in; this layer decides who
may do what, and records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.reporting.domain.profiles import (
    ProfileFields,
    RegionProfile,
    default_profile,
    profile_id,
)
from services.reporting.domain.reports import (
    Consolidation,
    RegionReport,
    Report,
    consolidation_id,
    region_report_id,
)
from shared.application import ServiceApplication, check_expected_version
from shared.auth import Identity, require_roles
from shared.clock import Clock, SystemClock
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, VersionConflict
from shared.periods import Period
from shared.regions import RegionCatalog, load_regions
from shared.tenancy import NATIONAL, can_see

# Who reads a consolidation or the national roll-up (API.md): the province's consolidator
# or monitor, and the ministry's monitors and auditors.
CONSOLIDATION_READERS = ("consolidator", "monitor", "auditor")
NATIONAL_READERS = ("monitor", "auditor", "consolidator")


@dataclass(frozen=True)
class ReportText:
    narrative: str = ""
    obstacles: str | None = None
    follow_up: str | None = None


@dataclass(frozen=True)
class Compiled:
    """A compile handed in for a submission: the content and the read models' positions."""

    content: dict[str, Any]
    sources: dict[str, Any]


@dataclass(frozen=True)
class Saved:
    report: Report
    created: bool


@dataclass(frozen=True)
class Profile:
    """A tenant's letter profile: as its admin configured it, or the default (`configured` false)."""

    tenant: str
    fields: ProfileFields
    configured: bool
    version: int | None = None
    updated_at: str | None = None


def parse_period(text: str, field: str = "period") -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InvalidInput("Periode tidak valid.", errors=[{"field": field, "message": str(exc)}]) from None


def check_consolidation_reader(identity: Identity, province: str) -> None:
    """A province's consolidation is the province's and the ministry's business."""
    known = load_regions().get(province)
    if identity.tenant not in (province, NATIONAL) or known is None or known.kind != "provinsi":
        raise NotFound("Konsolidasi tidak ditemukan.")
    require_roles(*CONSOLIDATION_READERS)(identity)


def check_national_reader(identity: Identity) -> None:
    if identity.tenant != NATIONAL:
        raise NotFound("Rekapitulasi nasional hanya untuk tingkat nasional.")
    require_roles(*NATIONAL_READERS)(identity)


class Reporting(ServiceApplication):
    name = "reporting"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock | None = None,
        period_kinds: frozenset[str] = frozenset({"semester", "annual"}),
        report_deadline_days: int = 30,
        consolidation_deadline_days: int = 60,
        regions: RegionCatalog | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock or SystemClock()
        self.period_kinds = period_kinds
        self.report_deadline_days = report_deadline_days
        self.consolidation_deadline_days = consolidation_deadline_days
        self.regions = regions or load_regions()

    # -- region reports ------------------------------------------------------------------------

    def draft_report(self, identity: Identity, period: str, text: ReportText) -> Saved:
        """Start the caller's region's report for a period. The same request again returns
        the report as it is (a safe retry); another text for an existing report is a 409."""
        self._check_operator(identity)
        parsed = parse_period(period)
        report_id = region_report_id(identity.tenant, parsed)
        existing = self.get_or_none(report_id)
        if existing is not None:
            if (existing.narrative, existing.obstacles, existing.follow_up) == (
                text.narrative, text.obstacles, text.follow_up
            ):
                return Saved(existing, created=False)
            raise Conflict(
                f"Laporan {identity.tenant} periode {parsed} sudah ada; ubah dengan PATCH /reports/{report_id}.",
                code="report_exists", report_id=str(report_id), current_version=existing.version,
            )
        report = RegionReport.start(
            id=report_id, subject=identity.tenant, period=parsed, kinds=self.period_kinds, actor=identity.actor(),
            at=self.clock.now(), narrative=text.narrative, obstacles=text.obstacles, follow_up=text.follow_up,
        )
        self.save_or_conflict(report)
        return Saved(report, created=True)

    def edit_report(self, identity: Identity, report_id: UUID, text: ReportText, expected_version: int) -> RegionReport:
        report = self._own_report(identity, report_id)
        check_expected_version(report.version, expected_version, f"Laporan {report.region} {report.period}")
        report.edit(narrative=text.narrative, obstacles=text.obstacles, follow_up=text.follow_up,
                    actor=identity.actor(), at=self.clock.now())
        self.save_or_conflict(report)
        return report

    def submit_report(
        self, identity: Identity, report_id: UUID, compiled: Compiled, expected_version: int,
        reason: str | None = None, request_key: str | None = None,
    ) -> RegionReport:
        """Send the report up the chain, freezing `compiled` (made for this report's region
        and period) as the next revision."""
        report = self._own_report(identity, report_id)
        check_expected_version(report.version, expected_version, f"Laporan {report.region} {report.period}")
        report.submit(
            content=compiled.content, sources=compiled.sources, reason=reason, actor=identity.actor(),
            at=self.clock.now(), deadline=Period.parse(report.period).due(self.report_deadline_days),
            request_key=request_key,
        )
        self.save_or_conflict(report)
        return report

    def report_to_submit(self, identity: Identity, report_id: UUID) -> RegionReport:
        """The caller's own region's report, as it stands before a submission."""
        return self._own_report(identity, report_id)

    def get_report(self, identity: Identity, report_id: UUID, version: int | None = None) -> RegionReport:
        """A report the caller may see: its region's, its province's, or the ministry's."""
        try:
            report: Report = self.repository.get(report_id, version=version)
        except AggregateNotFoundError:
            raise NotFound("Laporan tidak ditemukan.") from None
        if not isinstance(report, RegionReport) or not can_see(identity.tenant, [report.region]):
            raise NotFound("Laporan tidak ditemukan.")
        return report

    # -- provincial consolidation ----------------------------------------------------------------

    def get_consolidation(self, identity: Identity, province: str, period: Period) -> Consolidation | None:
        check_consolidation_reader(identity, province)
        return self.get_or_none(consolidation_id(province, period))

    def consolidation_to_submit(self, identity: Identity, province: str, period: Period) -> Consolidation | None:
        """The province's consolidation (None before its first submission), for its consolidator."""
        check_consolidation_reader(identity, province)
        if identity.tenant != province:
            raise Forbidden("Konsolidasi disampaikan oleh provinsinya sendiri.", code="not_the_province")
        require_roles("consolidator")(identity)
        return self.get_or_none(consolidation_id(province, period))

    def submit_consolidation(
        self, identity: Identity, province: str, period: Period, compiled: Compiled, *,
        expected_version: int | None, narrative: str | None = None, reason: str | None = None,
        request_key: str | None = None,
    ) -> Saved:
        """Send the province's consolidation to the ministry; kab/kota that have not
        reported go with it, listed as missing. Again, on the version seen: a new revision."""
        consolidation = self.consolidation_to_submit(identity, province, period)
        now = self.clock.now()
        deadline = period.due(self.consolidation_deadline_days)
        created = consolidation is None
        if consolidation is None:
            consolidation = Consolidation.start(
                id=consolidation_id(province, period), subject=province, period=period, kinds=self.period_kinds,
                actor=identity.actor(), at=now, narrative=narrative or "",
            )
        else:
            check_expected_version(consolidation.version, expected_version, f"Konsolidasi {province} {period}")
        consolidation.submit(content=compiled.content, sources=compiled.sources, deadline=deadline, reason=reason,
                             narrative=narrative, actor=identity.actor(), at=now, request_key=request_key)
        self.save_or_conflict(consolidation)
        return Saved(consolidation, created=created)

    # -- region profiles (the letter parts of every export) ----------------------------------------

    def _profile_tenant(self, tenant: str) -> Any:
        """The region a profile is for (None for the national level); unknown or not
        autonomous: 404."""
        if tenant == NATIONAL:
            return None
        region = self.regions.get(tenant)
        if region is None or not region.autonomous:
            raise NotFound("Profil daerah tidak ditemukan.")
        return region

    def profile(self, tenant: str) -> Profile:
        """The profile letters are printed with (no caller check: the export already made it)."""
        region = self._profile_tenant(tenant)
        aggregate = self.get_or_none(profile_id(tenant))
        if aggregate is None:
            return Profile(tenant, default_profile(tenant, region), configured=False)
        return Profile(tenant, aggregate.fields(), configured=True, version=aggregate.version,
                       updated_at=aggregate.modified_on.isoformat())

    def read_profile(self, identity: Identity, tenant: str) -> Profile:
        """Readable by the region itself, its province and the national level."""
        self._profile_tenant(tenant)
        visible = identity.is_national or (tenant != NATIONAL and can_see(identity.tenant, [tenant]))
        if not visible:
            raise NotFound("Profil daerah tidak ditemukan.")
        return self.profile(tenant)

    def save_profile(
        self, identity: Identity, tenant: str, fields: ProfileFields, expected_version: int | None,
    ) -> Profile:
        """The tenant's own `admin` keeps its profile; `expected_version` is the version it
        read (None or 0 for a first save)."""
        self._profile_tenant(tenant)
        require_roles("admin")(identity)
        if identity.tenant != tenant:
            raise Forbidden("Profil daerah diubah oleh admin daerahnya sendiri.", code="not_the_region")
        aggregate = self.get_or_none(profile_id(tenant))
        if aggregate is None:
            if expected_version:
                raise VersionConflict(f"Profil {tenant} belum pernah disimpan (versi 0), bukan versi "
                                      f"{expected_version}.", current_version=0)
            aggregate = RegionProfile.configure(tenant=tenant, fields=fields, actor=identity.actor())
        else:
            check_expected_version(aggregate.version, expected_version, f"Profil {tenant}")
            aggregate.change(fields=fields, actor=identity.actor())
        self.save_or_conflict(aggregate)
        return self.profile(tenant)

    def submitted_contents(self, period: Period, revisions: dict[str, int]) -> dict[str, dict[str, Any]]:
        """Each region's report content as of the revision named (what a consolidation counted);
        for the caller's consolidation, already checked."""
        contents = {}
        for code, revision in revisions.items():
            report = self.get_or_none(region_report_id(code, period)) if revision else None
            if isinstance(report, RegionReport) and len(report.submissions) >= revision:
                contents[code] = report.submissions[revision - 1]["content"]
        return contents

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _check_operator(identity: Identity) -> None:
        require_roles("operator")(identity)
        if identity.is_national:
            raise Forbidden("Tingkat nasional tidak menyusun laporan daerah.", code="tenant_not_a_region")

    def _own_report(self, identity: Identity, report_id: UUID) -> RegionReport:
        report = self.get_report(identity, report_id)
        self._check_operator(identity)
        if report.region != identity.tenant:
            raise Forbidden("Laporan disusun dan disampaikan oleh daerahnya sendiri.", code="not_the_region")
        return report
