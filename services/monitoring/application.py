"""The monitoring service's application layer: progress reports and evaluations, stored as
events in schema `monitoring` (with the audit hash chain, like the registry's).

Synchronous, like eventsourcing itself: HTTP handlers call it in a worker thread. What it
knows about an agreement comes from the monitoring read model (`AgreementFacts`), which
the worker builds from the registry's events; it never reads the registry's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.monitoring.domain.reports import Evaluation, ProgressReport, Record, evaluation_id, progress_report_id
from shared.application import ServiceApplication, check_expected_version
from shared.auth import Identity, require_roles
from shared.clock import Clock, SystemClock
from shared.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from shared.periods import Period
from shared.regions import kind_of, province_of
from shared.tenancy import NATIONAL, can_see

# Stages in which there is something to report on or evaluate: the framework is signed.
REPORTABLE_STAGES = frozenset({"kesepakatan_ditandatangani", "pelaksanaan", "berakhir"})


def evaluator_of(party_regions: Sequence[str]) -> str:
    """Who evaluates (UU 23/2014 Pasal 368): the province for cooperation among its own
    kab/kota (with or without other partners); the national level for provinces' and
    cross-province cooperation."""
    provinces = {province_of(r) for r in party_regions}
    if len(provinces) == 1 and all(kind_of(r) != "provinsi" for r in party_regions):
        return provinces.pop()
    return NATIONAL


@dataclass(frozen=True)
class AgreementFacts:
    """What the monitoring read model knows of an agreement."""

    id: UUID
    stage: str
    party_regions: tuple[str, ...]
    framework_signed_on: date | None = None

    @property
    def evaluator(self) -> str:
        return evaluator_of(self.party_regions)


@dataclass(frozen=True)
class Saved:
    aggregate: Any
    created: bool


class Monitoring(ServiceApplication):
    name = "monitoring"

    def __init__(self, env: dict[str, str] | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(env)
        self.clock = clock or SystemClock()

    # -- progress reports -------------------------------------------------------------------

    def file_progress_report(
        self,
        identity: Identity,
        agreement: AgreementFacts,
        *,
        period: str,
        content: dict,
        correction_reason: str | None = None,
        expected_version: int | None = None,
    ) -> Saved:
        """File a party's report for a period, or correct it (a new version; `If-Match`)."""
        self._check_visible(identity, agreement)
        require_roles("operator")(identity)
        if identity.tenant not in agreement.party_regions:
            raise Forbidden("Hanya daerah pihak kerja sama yang melaporkan kemajuannya.", code="not_a_party")
        self._check_reportable(agreement)
        parsed = _period(period)
        return self._file_or_correct(
            identity, progress_report_id(agreement.id, identity.tenant, parsed),
            lambda at: ProgressReport.file(agreement_id=agreement.id, region=identity.tenant, period=parsed,
                                           content=content, actor=identity.actor(), at=at,
                                           framework_signed_on=agreement.framework_signed_on),
            content=content, reason=correction_reason, expected_version=expected_version,
            what=f"Laporan {parsed} {identity.tenant}",
        )

    def get_progress_report(
        self, identity: Identity, agreement: AgreementFacts, report_id: UUID, version: int | None = None
    ) -> ProgressReport:
        self._check_visible(identity, agreement)
        return self._get_of(ProgressReport, agreement, report_id, version)

    # -- evaluations ---------------------------------------------------------------------------

    def record_evaluation(
        self,
        identity: Identity,
        agreement: AgreementFacts,
        *,
        period: str,
        content: dict,
        correction_reason: str | None = None,
        expected_version: int | None = None,
    ) -> Saved:
        self._check_visible(identity, agreement)
        require_roles("monitor")(identity)
        evaluator = agreement.evaluator
        if identity.tenant != evaluator:
            who = "tingkat nasional" if evaluator == NATIONAL else f"provinsi {evaluator}"
            raise Forbidden(f"Monev kerja sama ini dilakukan oleh {who}.", code="not_the_evaluator")
        self._check_reportable(agreement)
        parsed = _period(period)
        return self._file_or_correct(
            identity, evaluation_id(agreement.id, parsed),
            lambda at: Evaluation.record(agreement_id=agreement.id, evaluator=evaluator, period=parsed,
                                         content=content, actor=identity.actor(), at=at),
            content=content, reason=correction_reason, expected_version=expected_version,
            what=f"Evaluasi {parsed}",
        )

    def get_evaluation(
        self, identity: Identity, agreement: AgreementFacts, evaluation: UUID, version: int | None = None
    ) -> Evaluation:
        self._check_visible(identity, agreement)
        return self._get_of(Evaluation, agreement, evaluation, version)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _check_visible(identity: Identity, agreement: AgreementFacts) -> None:
        if not can_see(identity.tenant, agreement.party_regions):
            raise NotFound("Kerja sama tidak ditemukan.")

    @staticmethod
    def _check_reportable(agreement: AgreementFacts) -> None:
        if agreement.stage not in REPORTABLE_STAGES:
            raise RuleViolation(
                "framework_not_signed",
                f"Kerja sama ini masih pada tahap {agreement.stage}: kemajuan dan monev dicatat setelah"
                " kesepakatan ditandatangani.",
            )

    def _file_or_correct(
        self, identity: Identity, record_id: UUID, create: Callable[[datetime], Record], *, content: dict,
        reason: str | None, expected_version: int | None, what: str,
    ) -> Saved:
        """The first filing creates the record; a later one, on the version the caller saw
        (`If-Match`), is a correction. Either is decided before anything is saved."""
        existing = self.get_or_none(record_id)
        if existing is None:
            record = create(self.clock.now())
            self.save_or_conflict(record)
            return Saved(record, created=True)
        check_expected_version(existing.version, expected_version, what)
        existing.correct(content=content, reason=reason, actor=identity.actor(), at=self.clock.now())
        self.save_or_conflict(existing)
        return Saved(existing, created=False)

    def _get_of(self, cls: type[Any], agreement: AgreementFacts, aggregate_id: UUID, version: int | None) -> Any:
        try:
            aggregate: Any = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound("Tidak ditemukan.") from None
        if not isinstance(aggregate, cls) or aggregate.agreement_id != str(agreement.id):
            raise NotFound("Tidak ditemukan.")
        if version is not None and aggregate.version != version:
            raise NotFound(f"Versi {version} tidak ada.", code="version_not_found")
        return aggregate


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InvalidInput("Periode tidak valid.", errors=[{"field": "period", "message": str(exc)}]) from None
