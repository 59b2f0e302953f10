"""The monitoring service's published contract: the only module of monitoring another service
imports (`shared.feeds`).

- The events of its log, as plain classes (`ContractEvent`: the fields each event stores,
  nothing of the aggregates that record them), and `TOPICS`, the topic each is stored under.
  Another service follows the log with `Log` (an application of monitoring's name, reading
  its tables in schema `SCHEMA`), which decodes each stored event into these classes.
- The alert rules other services evaluate on their own read models (reporting's compiled
  reports): `agreement_findings`, `region_finding`, their thresholds and kinds, and the words
  for them.

Stored topics never change: a progress report filed years ago is read under the topic it was
stored with. Should the domain classes move or gain a stored version (`class_version`), this
module maps the old topic and upcasts (`upcast_v1_v2`) so that readers keep reading the same
classes. No monitoring event is stored in more than one version today.

Each event also stores eventsourcing's `originator_topic` (`Filed`, `Recorded`: the class path
of the aggregate created). It names monitoring's own classes, which this contract hides; the
event's class already says what was created, so the contract leaves it out (decoding ignores it).
"""

from __future__ import annotations

from typing import Any

from services.monitoring.domain.alerts import (
    ACTIVE_STAGES,
    KIND_TITLES,
    SEVERITY_LABELS,
    Finding,
    Kind,
    Severity,
    Thresholds,
    agreement_findings,
    region_finding,
)
from shared.feeds import ContractEvent, contract_log

__all__ = [
    "ACTIVE_STAGES",
    "KIND_TITLES",
    "LOG_NAME",
    "SCHEMA",
    "SEVERITY_LABELS",
    "TOPICS",
    "EvaluationCorrected",
    "EvaluationRecorded",
    "Finding",
    "Kind",
    "Log",
    "ProgressReportCorrected",
    "ProgressReportFiled",
    "Severity",
    "Thresholds",
    "agreement_findings",
    "region_finding",
]

# Where monitoring stores its events: the schema, and the application's name (its tables are
# `<LOG_NAME>_events` and the notification log over them).
SCHEMA = "monitoring"
LOG_NAME = "monitoring"


class ProgressReportFiled(ContractEvent, frozen=True, kw_only=True):
    """A party region filed its progress report on an agreement for a semester (`period`,
    e.g. `2025-S2`). `originator_id` is the report's id (one per agreement, region and
    period); `content` holds the figures (indicators, budget, beneficiaries, activities,
    obstacles); `actor` who filed it (`sub`, `tenant`, `roles`)."""

    actor: dict[str, Any]
    agreement_id: str
    region: str
    period: str
    content: dict[str, Any]


class ProgressReportCorrected(ContractEvent, frozen=True, kw_only=True):
    """A filed progress report corrected: `content` replaces the report's whole content (the
    earlier versions stay in the log), with the `reason` given and the `actor` who corrected it."""

    actor: dict[str, Any]
    content: dict[str, Any]
    reason: str | None


class EvaluationRecorded(ContractEvent, frozen=True, kw_only=True):
    """A monitor's evaluation (monev) of an agreement for a period, by the `evaluator` (the
    province's code, or the national level). `originator_id` is the evaluation's id (one per
    agreement and period); `content` holds its score, recommendation and date evaluated."""

    actor: dict[str, Any]
    agreement_id: str
    evaluator: str
    period: str
    content: dict[str, Any]


class EvaluationCorrected(ContractEvent, frozen=True, kw_only=True):
    """A recorded evaluation corrected: `content` replaces the evaluation's whole content, with
    the `reason` given and the `actor` who corrected it."""

    actor: dict[str, Any]
    content: dict[str, Any]
    reason: str | None


# The stored topic of each event -> the class it is read as. Literals, on purpose: these are
# the strings in the event store, which stay what they are when the domain's classes move.
TOPICS: dict[str, type[ContractEvent]] = {
    "services.monitoring.domain.reports:ProgressReport.Filed": ProgressReportFiled,
    "services.monitoring.domain.reports:ProgressReport.Corrected": ProgressReportCorrected,
    "services.monitoring.domain.reports:Evaluation.Recorded": EvaluationRecorded,
    "services.monitoring.domain.reports:Evaluation.Corrected": EvaluationCorrected,
}

# Monitoring's event log, read as this contract's classes (never written through it).
Log = contract_log(LOG_NAME, TOPICS)
