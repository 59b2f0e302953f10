"""The reporting service's published contract: its events, as other services (and this
service's own read model) may read them.

This module is reporting's only surface for the other services. It imports nothing of
reporting's own code (only `shared.feeds`), so a reader never loads the aggregates.

- The events of its log, as plain classes (`ContractEvent`: the fields each event stores,
  nothing of the aggregates that record them). Region reports and provincial consolidations
  are two aggregates: each kind of event has a class per aggregate (`RegionReportStarted`,
  `ConsolidationStarted`, ...), subclasses of one class per kind (`ReportStarted`, ...) for a
  reader that treats both alike; `kind` (a class attribute, `REGION` or `CONSOLIDATION`) says
  which. The same log holds the regions' letter profiles (`ProfileConfigured`, `ProfileChanged`).
- `TOPICS`: the topic each was stored under. Stored topics never change: should reporting's
  classes move or be renamed, this table keeps reading the old topics; should an event gain a
  stored version (`class_version`), its class here upcasts (`upcast_v1_v2`). No reporting event
  is stored in more than one version today.
- `Log`: an eventsourcing application of reporting's name (its tables, in schema `SCHEMA`)
  that reads its event log as these classes (`shared.feeds.contract_log`), for a projection
  runner.

Dates are ISO strings (`2026-07-30`); `timestamp` is when the event was recorded (transaction
time, UTC). Periods are `2026-S1` (a semester) or `2026` (a year). Each created event also
stores eventsourcing's `originator_topic` (the class path of the aggregate created): it names
reporting's own classes, which this contract hides; the event's class already says what was
created, so the contract leaves it out (decoding ignores it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from shared.feeds import ContractEvent, contract_log

__all__ = [
    "CONSOLIDATION",
    "LOG_NAME",
    "REGION",
    "SCHEMA",
    "TOPICS",
    "ConsolidationEdited",
    "ConsolidationStarted",
    "ConsolidationSubmitted",
    "Event",
    "Log",
    "ProfileChanged",
    "ProfileConfigured",
    "RegionReportEdited",
    "RegionReportStarted",
    "RegionReportSubmitted",
    "ReportEdited",
    "ReportEvent",
    "ReportStarted",
    "ReportSubmitted",
]

# Where reporting stores its events: the schema, and the application's name (its tables are
# `<LOG_NAME>_events` and the notification log over them).
SCHEMA = "reporting"
LOG_NAME = "reporting"

# What a report event's `kind` says: a region's report, or a province's consolidation.
REGION = "region"
CONSOLIDATION = "consolidation"


class Event(ContractEvent, frozen=True, kw_only=True):
    """Any event of reporting's log. `actor`: who recorded it (`sub`, `tenant`, `roles`, ...)."""

    actor: dict[str, Any]


# -- reports: a region's report, or a province's consolidation -------------------------------------

class ReportEvent(Event, frozen=True, kw_only=True):
    """Any event of a region report or a consolidation (`originator_id`: the report's id, one
    per region, or province, and period)."""

    # REGION or CONSOLIDATION: the aggregate the event belongs to (set by each concrete class).
    kind: ClassVar[str] = ""


class ReportStarted(ReportEvent, frozen=True, kw_only=True):
    """A report was started (drafted) for a period: `subject` is the reporting region (or the
    consolidating province), `period` the period reported on, with the operator's text
    (`narrative`, `obstacles`, `follow_up`) as drafted."""

    subject: str
    period: str
    narrative: str
    obstacles: str | None
    follow_up: str | None


class ReportEdited(ReportEvent, frozen=True, kw_only=True):
    """The report's text was changed: the new `narrative`, `obstacles` and `follow_up`."""

    narrative: str
    obstacles: str | None
    follow_up: str | None


class ReportSubmitted(ReportEvent, frozen=True, kw_only=True):
    """A revision of the report was submitted up the chain (bupati/wali kota -> gubernur ->
    Menteri), frozen as it went: `revision` (1 for the first submission), the day it was
    submitted (`submitted_on`, local date) and the `deadline` it was due by, whether it was
    `on_time`, the `reason` given for a revision after the first, its text, the compiled
    figures (`content`), where in the event logs those figures were read (`sources`), and the
    Idempotency-Key it was sent with (`request_key`)."""

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
    request_key: str | None


class RegionReportStarted(ReportStarted, frozen=True, kw_only=True):
    """A region's report for a period was started (drafted) by its operator; `subject` is the
    region's code."""

    kind: ClassVar[str] = REGION


class RegionReportEdited(ReportEdited, frozen=True, kw_only=True):
    """A region's report's text was changed by its operator."""

    kind: ClassVar[str] = REGION


class RegionReportSubmitted(ReportSubmitted, frozen=True, kw_only=True):
    """A region's report was submitted to its province (a new revision each time); `content`
    holds every agreement the region is party to, as compiled, and their summary."""

    kind: ClassVar[str] = REGION


class ConsolidationStarted(ReportStarted, frozen=True, kw_only=True):
    """A province's consolidation for a period was started (with its first submission);
    `subject` is the province's code."""

    kind: ClassVar[str] = CONSOLIDATION


class ConsolidationEdited(ReportEdited, frozen=True, kw_only=True):
    """A consolidation's text was changed. (The consolidation's aggregate can record it;
    reporting's application records none today: a consolidation's text goes with each
    submission.)"""

    kind: ClassVar[str] = CONSOLIDATION


class ConsolidationSubmitted(ReportSubmitted, frozen=True, kw_only=True):
    """A province's consolidation was submitted to the ministry (a new revision each time);
    `content` holds each kab/kota with its standing and the figures of its latest submitted
    report (those that have not reported listed as such), their `completeness` and totals,
    the province-wide figures and the province's own report."""

    kind: ClassVar[str] = CONSOLIDATION


# -- region profiles: the letter parts of every exported document ---------------------------------

class ProfileConfigured(Event, frozen=True, kw_only=True):
    """A tenant's letter profile was saved for the first time by its admin: `tenant` (a region's
    code, or `national`), and the whole `profile` (kop surat, city of signing, signatory and,
    for a civil servant, NIP and rank, letter-number pattern, addressee)."""

    tenant: str
    profile: dict[str, Any]


class ProfileChanged(Event, frozen=True, kw_only=True):
    """A tenant's letter profile was changed by its admin: `profile` is the whole profile as it
    now stands (the earlier ones stay in the log)."""

    profile: dict[str, Any]


# The stored topic of each event -> the class it is read as. Literals, on purpose: these are
# the strings in the event store, which stay what they are when the domain's classes move.
TOPICS: dict[str, type[ContractEvent]] = {
    "services.reporting.domain.reports:RegionReport.Started": RegionReportStarted,
    "services.reporting.domain.reports:RegionReport.Edited": RegionReportEdited,
    "services.reporting.domain.reports:RegionReport.Submitted": RegionReportSubmitted,
    "services.reporting.domain.reports:Consolidation.Started": ConsolidationStarted,
    "services.reporting.domain.reports:Consolidation.Edited": ConsolidationEdited,
    "services.reporting.domain.reports:Consolidation.Submitted": ConsolidationSubmitted,
    "services.reporting.domain.profiles:RegionProfile.Configured": ProfileConfigured,
    "services.reporting.domain.profiles:RegionProfile.Changed": ProfileChanged,
}

# Reporting's event log, read as this contract's classes (never written through it).
Log = contract_log(LOG_NAME, TOPICS)
