"""Wire types of the monitoring REST API (msgspec Structs: validated when decoded)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from shared import wire
from shared.wire import Count, PeriodText, Quantity, Rupiah, Score, Sha256, Url

Text = Annotated[wire.Text, msgspec.Meta(min_length=1)]
Name = Annotated[wire.Name, msgspec.Meta(min_length=1)]


class Activity(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    description: Text | None = None


class Indicator(msgspec.Struct, forbid_unknown_fields=True):
    """An output indicator: what was promised (target) and what was done (achieved)."""

    name: Name
    unit: Annotated[wire.Label, msgspec.Meta(min_length=1, description="the indicator's unit, e.g. ton")]
    target: Quantity
    achieved: Quantity


class Budget(msgspec.Struct, forbid_unknown_fields=True):
    planned_idr: Rupiah
    realised_idr: Rupiah


class Beneficiaries(msgspec.Struct, forbid_unknown_fields=True):
    count: Count | None = None
    description: Text | None = None


class Attachment(msgspec.Struct, forbid_unknown_fields=True):
    """A supporting file: a document attached in the registry (by its SHA-256) or a link."""

    name: Name
    sha256: Sha256 | None = None
    url: Url | None = None


class ProgressReportIn(msgspec.Struct, forbid_unknown_fields=True):
    period: PeriodText
    activities: Annotated[list[Activity], msgspec.Meta(min_length=1, max_length=200)]
    indicators: Annotated[list[Indicator], msgspec.Meta(max_length=200)]
    budget: Budget
    beneficiaries: Beneficiaries | None = None
    obstacles: Text | None = None
    follow_up: Text | None = None
    attachments: Annotated[list[Attachment], msgspec.Meta(max_length=50)] = []
    correction_reason: Text | None = None  # with If-Match, when correcting a filed report

    def content(self) -> dict[str, Any]:
        data = msgspec.to_builtins(self)
        data.pop("period")
        data.pop("correction_reason", None)
        return data


class EvaluationIn(msgspec.Struct, forbid_unknown_fields=True):
    period: PeriodText
    findings: Text
    score: Score
    recommendation: Literal["dilanjutkan", "diperluas", "dihentikan"]
    evaluated_on: date
    follow_up: Text | None = None
    correction_reason: Text | None = None

    def content(self) -> dict[str, Any]:
        data = msgspec.to_builtins(self)
        data.pop("period")
        data.pop("correction_reason", None)
        return data
