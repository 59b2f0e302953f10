"""Wire types of the reporting REST API (msgspec Structs: validated when decoded)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from shared import wire
from shared.wire import Narrative, PeriodText

Text = Annotated[wire.Text, msgspec.Meta(min_length=1)]
ExportFormat = Literal["xlsx", "csv", "pdf"]


class ReportCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Start the caller's region's report for a period; the figures are compiled from the
    read models, the text is the operator's."""

    period: PeriodText
    narrative: Narrative = ""
    obstacles: Text | None = None
    follow_up: Text | None = None


class ReportEdit(msgspec.Struct, forbid_unknown_fields=True):
    """The fields sent replace the report's; those left out stay as they are."""

    narrative: Narrative | msgspec.UnsetType = msgspec.UNSET
    obstacles: Text | None | msgspec.UnsetType = msgspec.UNSET
    follow_up: Text | None | msgspec.UnsetType = msgspec.UNSET


class ReportSubmit(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text | None = None  # required when submitting again (a new revision)


class ConsolidationSubmit(msgspec.Struct, forbid_unknown_fields=True):
    narrative: Narrative | None = None  # the province's note to the ministry
    reason: Text | None = None  # required when submitting again (a new revision)
