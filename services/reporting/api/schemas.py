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
    obstacles: Text | msgspec.UnsetType | None = msgspec.UNSET
    follow_up: Text | msgspec.UnsetType | None = msgspec.UNSET


class ReportSubmit(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text | None = None  # required when submitting again (a new revision)


class ConsolidationSubmit(msgspec.Struct, forbid_unknown_fields=True):
    narrative: Narrative | None = None  # the province's note to the ministry
    reason: Text | None = None  # required when submitting again (a new revision)


Nip = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{18}$", examples=["197001011990031001"],
                                  description="NIP of a civil servant (ASN): 18 digits")]
Lines = Annotated[list[wire.Name], msgspec.Meta(max_length=6, description="at most 6 lines")]


class ProfileWrite(msgspec.Struct, forbid_unknown_fields=True):
    """A region's letter profile as its admin sets it (the whole profile: fields left out
    take their empty value). `version`: the version read (absent or 0 for a first save)."""

    government_name: wire.Title  # "Pemerintah Kota Bandung"
    signatory_title: wire.Title  # "Wali Kota Bandung", or "Sekretaris Daerah" signing a.n.
    address_lines: Lines = msgspec.field(default_factory=list)
    phone: wire.Label | None = None
    email: wire.Label | None = None
    website: wire.Url | None = None
    city: wire.Label | None = None  # where letters are signed: "Bandung"
    signatory_name: wire.Name | None = None
    signatory_is_civil_servant: bool = False
    nip: Nip | None = None  # civil servants only
    rank: wire.Label | None = None  # pangkat/golongan, civil servants only
    letter_number_pattern: wire.Reference = "000.5.3/{nomor}/{tahun}"
    addressee: Lines = msgspec.field(default_factory=list)  # replaces the default addressee lines
    version: wire.Count | None = None
