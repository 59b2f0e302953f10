"""Region reports and provincial consolidations: the reporting chain's own aggregates
(UU 23/2014 Pasal 368; DOMAIN.md, "Reporting": bupati/wali kota -> gubernur -> Menteri).

Pure: no I/O, no clock, no settings. A report is drafted, then submitted; the submission
freezes what was compiled at that moment (the figures and the read models' positions they
came from) inside its event, so later changes to an agreement never alter it. Submitting
again makes a new revision; every revision stays in the history. Whether a submission was
on time is decided when it is made and recorded with it: a later change of the deadline
setting never rewrites the past.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Self
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.errors import Conflict, RuleViolation
from shared.periods import Period, local_date, tanggal

_NAMESPACE = UUID("6c7d1a0e-2b54-4f0f-8d6e-3a9c5e4b2f17")


def region_report_id(region: str, period: Period) -> UUID:
    """One report per region and period: two concurrent first drafts collide (409)."""
    return uuid5(_NAMESPACE, f"region-report\x1f{region}\x1f{period}")


def consolidation_id(province: str, period: Period) -> UUID:
    return uuid5(_NAMESPACE, f"consolidation\x1f{province}\x1f{period}")


class Status(StrEnum):
    DRAF = "draf"
    DISAMPAIKAN = "disampaikan"


class Timeliness(StrEnum):
    """A region's (or province's) standing for a period, by its first submission."""

    TEPAT_WAKTU = "tepat_waktu"
    TERLAMBAT = "terlambat"
    BELUM_MENYAMPAIKAN = "belum_menyampaikan"


TIMELINESS_LABELS = {
    Timeliness.TEPAT_WAKTU: "Tepat waktu",
    Timeliness.TERLAMBAT: "Terlambat",
    Timeliness.BELUM_MENYAMPAIKAN: "Belum menyampaikan",
}


def check_period_open(period: Period, today: date, kinds: frozenset[str]) -> None:
    """A report is for a period kind the platform collects, and a period that has begun."""
    if period.kind not in kinds:
        allowed = " dan ".join(sorted("semester (2026-S1)" if k == "semester" else "tahunan (2026)" for k in kinds))
        raise RuleViolation("period_kind_not_collected",
                            f"Laporan periode {period} tidak dipungut; periode yang berlaku: {allowed}.")
    if period.start > today:
        raise RuleViolation("period_not_started", f"Periode {period} belum dimulai.")


class Report(Aggregate):
    """What region reports and consolidations share: a subject (a region, or a province
    consolidating), a period, the operator's text, and the revisions submitted. eventsourcing
    gives each subclass its own event classes and topics."""

    class Started(Aggregate.Created):
        actor: dict[str, Any]
        subject: str
        period: str
        narrative: str
        obstacles: str | None
        follow_up: str | None

    class Edited(Aggregate.Event):
        actor: dict[str, Any]
        narrative: str
        obstacles: str | None
        follow_up: str | None

        def apply(self, report: Report) -> None:
            report.narrative, report.obstacles, report.follow_up = self.narrative, self.obstacles, self.follow_up

    class Submitted(Aggregate.Event):
        """A revision as it went up the chain: its text, the compiled figures, and where in
        the event logs those figures were read (`sources`)."""

        actor: dict[str, Any]
        revision: int
        submitted_on: str
        deadline: str
        on_time: bool
        reason: str | None
        narrative: str
        obstacles: str | None
        follow_up: str | None
        content: dict[str, Any]
        sources: dict[str, Any]
        request_key: str | None  # the Idempotency-Key it was sent with: a retry finds it

        def apply(self, report: Report) -> None:
            report.narrative, report.obstacles, report.follow_up = self.narrative, self.obstacles, self.follow_up
            report.submissions.append({
                "revision": self.revision, "version": self.originator_version,
                "submitted_at": self.timestamp.isoformat(), "submitted_on": self.submitted_on,
                "deadline": self.deadline, "on_time": self.on_time, "reason": self.reason,
                "by": dict(self.actor), "narrative": self.narrative, "obstacles": self.obstacles,
                "follow_up": self.follow_up, "content": self.content, "sources": self.sources,
                "request_key": self.request_key,
            })

    # Whether a submission must carry a narrative (a region's report does; a province's
    # consolidation may go without a note).
    narrative_required = True

    def __init__(
        self, *, actor: dict[str, Any], subject: str, period: str, narrative: str, obstacles: str | None,
        follow_up: str | None,
    ) -> None:
        self.subject = subject
        self.period = period
        self.narrative = narrative
        self.obstacles = obstacles
        self.follow_up = follow_up
        self.created_by = dict(actor)
        self.submissions: list[dict[str, Any]] = []

    @classmethod
    def start(
        cls, *, id: UUID, subject: str, period: Period, kinds: frozenset[str], actor: dict[str, Any], at: datetime,  # noqa: A002
        narrative: str = "", obstacles: str | None = None, follow_up: str | None = None,
    ) -> Self:
        check_period_open(period, local_date(at), kinds)
        return cls._create(
            cls.Started, id=id, timestamp=at, actor=dict(actor), subject=subject, period=str(period),
            narrative=narrative, obstacles=obstacles, follow_up=follow_up,
        )

    # -- reading ----------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return Status.DISAMPAIKAN if self.submissions else Status.DRAF

    @property
    def revision(self) -> int:
        return len(self.submissions)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.submissions[-1] if self.submissions else None

    @property
    def timeliness(self) -> Timeliness:
        """By the first submission: a later revision neither cures nor causes lateness."""
        if not self.submissions:
            return Timeliness.BELUM_MENYAMPAIKAN
        return Timeliness.TEPAT_WAKTU if self.submissions[0]["on_time"] else Timeliness.TERLAMBAT

    def _text(self) -> tuple[str, str | None, str | None]:
        return self.narrative, self.obstacles, self.follow_up

    def is_retry(self, request_key: str | None, reason: str | None, narrative: str | None) -> bool:
        """Whether a submission is the retry of the latest one (same Idempotency-Key and
        body): it then answers as before and records nothing. The same key with another
        body is a conflict."""
        latest = self.latest
        if not request_key or latest is None or latest["request_key"] != request_key:
            return False
        if (reason or None, narrative if narrative is not None else latest["narrative"]) != (
            latest["reason"], latest["narrative"]
        ):
            raise Conflict("Idempotency-Key ini sudah dipakai untuk penyampaian dengan isi lain.",
                           code="idempotency_key_reused")
        return True

    # -- deciding ---------------------------------------------------------------------------

    def edit(
        self, *, narrative: str, obstacles: str | None, follow_up: str | None, actor: dict[str, Any], at: datetime
    ) -> None:
        if (narrative, obstacles, follow_up) == self._text():
            raise RuleViolation("nothing_changed", "Perubahan tidak mengubah isi laporan.")
        self.trigger_event(self.Edited, timestamp=at, actor=dict(actor), narrative=narrative, obstacles=obstacles,
                           follow_up=follow_up)

    def submit(
        self, *, content: dict[str, Any], sources: dict[str, Any], deadline: date, reason: str | None,
        actor: dict[str, Any], at: datetime,
        narrative: str | None = None, obstacles: str | None = None, follow_up: str | None = None,
        request_key: str | None = None,
    ) -> None:
        """Freeze `content` as the next revision. The period must be over; a revision after
        the first says why it was made."""
        today = local_date(at)
        period = Period.parse(self.period)
        if today <= period.end:
            raise RuleViolation(
                "period_not_ended",
                f"Periode {period} berakhir {tanggal(period.end)}; laporan disampaikan setelah periode berakhir.",
            )
        text = (
            self.narrative if narrative is None else narrative,
            self.obstacles if obstacles is None else obstacles,
            self.follow_up if follow_up is None else follow_up,
        )
        if self.narrative_required and not text[0].strip():
            raise RuleViolation("narrative_required", "Isi uraian (narasi) laporan sebelum menyampaikannya.")
        if self.submissions and not (reason or "").strip():
            raise RuleViolation(
                "revision_reason_required",
                f"Laporan ini sudah disampaikan (revisi {self.revision}); sebutkan alasan penyampaian ulang.",
            )
        self.trigger_event(
            self.Submitted, timestamp=at, actor=dict(actor), revision=self.revision + 1,
            submitted_on=today.isoformat(), deadline=deadline.isoformat(), on_time=today <= deadline,
            reason=(reason or "").strip() or None, narrative=text[0], obstacles=text[1], follow_up=text[2],
            content=content, sources=dict(sources), request_key=request_key,
        )


class RegionReport(Report):
    """A region's report for a period: every agreement it is party to, as compiled from the
    read models, and the operator's narrative. A province reports its own agreements too."""

    @property
    def region(self) -> str:
        return self.subject


class Consolidation(Report):
    """A province's consolidation of its kab/kota's reports for a period, sent to the
    ministry; regencies that have not reported stay listed as missing."""

    narrative_required = False

    @property
    def province(self) -> str:
        return self.subject
