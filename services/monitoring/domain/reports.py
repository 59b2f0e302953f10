"""Progress reports and evaluations (monev): the monitoring service's own aggregates.

Pure: no I/O, no clock. One progress report per party region per period per agreement, and
one evaluation per agreement per period; a correction is a new version of the same
aggregate, so the history of what was reported stays readable. Events hold primitives only.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.errors import RuleViolation
from shared.periods import EARLIEST_DAY, Period, local_date

# Report and evaluation ids derive from what makes them unique, so two concurrent first
# filings of the same report collide on the event store's (id, version) and one gets 409.
_NAMESPACE = UUID("0d8f6a52-3c1b-4b7e-9f65-6a1e2f8b7c30")


def progress_report_id(agreement_id: UUID, region: str, period: Period) -> UUID:
    return uuid5(_NAMESPACE, f"progress\x1f{agreement_id}\x1f{region}\x1f{period}")


def evaluation_id(agreement_id: UUID, period: Period) -> UUID:
    return uuid5(_NAMESPACE, f"evaluation\x1f{agreement_id}\x1f{period}")


class Recommendation(StrEnum):
    """The monev recommendation (DOMAIN.md, "Monitoring and evaluation")."""

    DILANJUTKAN = "dilanjutkan"
    DIPERLUAS = "diperluas"
    DIHENTIKAN = "dihentikan"


def check_report_content(content: dict[str, Any]) -> None:
    """Figures must add up: targets, achievements and rupiah are never negative."""
    for i, indicator in enumerate(content.get("indicators", [])):
        for key in ("target", "achieved"):
            if indicator[key] < 0:
                raise RuleViolation("negative_figure", f"Indikator ke-{i + 1}: {key} tidak boleh negatif.")
    budget = content.get("budget") or {}
    for key in ("planned_idr", "realised_idr"):
        if (budget.get(key) or 0) < 0:
            raise RuleViolation("negative_figure", f"Anggaran: {key} tidak boleh negatif.")
    if ((content.get("beneficiaries") or {}).get("count") or 0) < 0:
        raise RuleViolation("negative_figure", "Jumlah penerima manfaat tidak boleh negatif.")


def check_evaluation_content(content: dict[str, Any], today: date) -> None:
    Recommendation(content["recommendation"])  # the schema already limits it; a second wall
    if not 0 <= content["score"] <= 100:
        raise RuleViolation("score_out_of_range", "Nilai evaluasi antara 0 dan 100.")
    evaluated_on = date.fromisoformat(content["evaluated_on"])
    if evaluated_on < EARLIEST_DAY:
        raise RuleViolation("date_too_early", "Tanggal evaluasi mendahului Proklamasi (17 Agustus 1945); "
                            "periksa tahunnya.")
    if evaluated_on > today:
        raise RuleViolation("date_in_future", "Tanggal evaluasi tidak boleh di masa depan.")


def check_period_after_framework(period: Period, framework_signed_on: date | None) -> None:
    """Progress is reported on the cooperation the framework set up: no period that ended
    before the framework was signed (DOMAIN.md, "Monitoring and evaluation")."""
    if framework_signed_on is not None and period.end < framework_signed_on:
        raise RuleViolation(
            "period_before_framework",
            f"Periode {period} berakhir ({period.end.isoformat()}) sebelum kesepakatannya ditandatangani "
            f"({framework_signed_on.isoformat()}); laporkan kemajuan mulai periode penandatanganan.",
            conflicts_with={"step": "sign-framework", "date": framework_signed_on.isoformat()},
        )


def check_period_started(period: Period, today: date, *, semester_only: bool) -> None:
    if semester_only and not period.is_semester:
        raise RuleViolation(
            "period_not_a_semester",
            f"Laporan kemajuan disampaikan per semester (misalnya {period.year}-S1).",
        )
    if period.start > today:
        raise RuleViolation("period_not_started", f"Periode {period} belum dimulai.")


class Record(Aggregate):
    """What progress reports and evaluations share: content that is corrected by a new
    version (the event keeps what it replaced readable), each correction with its reason.
    Each kind of record defines `check(content, today)`: the rules its content keeps.
    eventsourcing gives each subclass its own `Corrected` class and topic."""

    if TYPE_CHECKING:  # each subclass sets them (annotations here would become its fields)
        content: dict[str, Any]
        corrections: list[dict[str, Any]]

        def check(self, content: dict[str, Any], today: date) -> None: ...

    class Corrected(Aggregate.Event):
        actor: dict[str, Any]
        content: dict[str, Any]
        reason: str | None

        def apply(self, record: Record) -> None:
            record.content = dict(self.content)
            record.corrections.append(
                {"version": self.originator_version, "at": self.timestamp.isoformat(), "reason": self.reason,
                 "by": self.actor["tenant"]}
            )

    def correct(self, *, content: dict[str, Any], reason: str | None, actor: dict[str, Any], at: datetime) -> None:
        self.check(content, local_date(at))
        if content == self.content:
            raise RuleViolation("nothing_changed", "Koreksi tidak mengubah isinya.")
        self.trigger_event(self.Corrected, timestamp=at, actor=dict(actor), content=content, reason=reason)


class ProgressReport(Record):
    """A party region's progress on one agreement in one period."""

    class Filed(Aggregate.Created):
        actor: dict[str, Any]
        agreement_id: str
        region: str
        period: str
        content: dict[str, Any]

    def __init__(
        self, *, actor: dict[str, Any], agreement_id: str, region: str, period: str, content: dict[str, Any]
    ) -> None:
        self.agreement_id = agreement_id
        self.region = region
        self.period = period
        self.content = dict(content)
        self.filed_by = dict(actor)
        self.corrections: list[dict[str, Any]] = []

    def check(self, content: dict[str, Any], today: date) -> None:
        check_report_content(content)

    @classmethod
    def file(
        cls, *, agreement_id: UUID, region: str, period: Period, content: dict[str, Any], actor: dict[str, Any],
        at: datetime,
        framework_signed_on: date | None = None,
    ) -> ProgressReport:
        check_period_started(period, local_date(at), semester_only=True)
        check_period_after_framework(period, framework_signed_on)
        check_report_content(content)
        return cls._create(
            cls.Filed,
            id=progress_report_id(agreement_id, region, period),
            timestamp=at,
            actor=dict(actor),
            agreement_id=str(agreement_id),
            region=region,
            period=str(period),
            content=content,
        )


class Evaluation(Record):
    """A monitor's evaluation (monev) of one agreement for one period."""

    class Recorded(Aggregate.Created):
        actor: dict[str, Any]
        agreement_id: str
        evaluator: str
        period: str
        content: dict[str, Any]

    def __init__(
        self, *, actor: dict[str, Any], agreement_id: str, evaluator: str, period: str, content: dict[str, Any]
    ) -> None:
        self.agreement_id = agreement_id
        self.evaluator = evaluator
        self.period = period
        self.content = dict(content)
        self.recorded_by = dict(actor)
        self.corrections: list[dict[str, Any]] = []

    def check(self, content: dict[str, Any], today: date) -> None:
        check_evaluation_content(content, today)

    @classmethod
    def record(
        cls, *, agreement_id: UUID, evaluator: str, period: Period, content: dict[str, Any], actor: dict[str, Any],
        at: datetime
    ) -> Evaluation:
        check_period_started(period, local_date(at), semester_only=False)
        check_evaluation_content(content, local_date(at))
        return cls._create(
            cls.Recorded,
            id=evaluation_id(agreement_id, period),
            timestamp=at,
            actor=dict(actor),
            agreement_id=str(agreement_id),
            evaluator=evaluator,
            period=str(period),
            content=content,
        )
