"""What a party asks the cooperation family to do: one command per lifecycle action.

Plain frozen dataclasses, already shaped by the HTTP schema but not yet checked against
the rules: `Agreement.execute` decides. Dates are calendar dates as the documents state
them (`date`); the time an action is recorded comes from the clock (`at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class Capacity(StrEnum):
    """In which capacity a signatory signs (DOMAIN.md, "Documents")."""

    KEPALA_DAERAH = "kepala_daerah"  # gubernur, bupati, wali kota (incl. Pj/Plt acting as such)
    PEJABAT_KUASA = "pejabat_kuasa"  # an official with a surat kuasa, e.g. the head of an OPD
    PERWAKILAN_MITRA = "perwakilan_mitra"  # whoever represents a non-region partner


class Ground(StrEnum):
    """Grounds on which a cooperation document ends (PP 28/2018 Pasal 29; DOMAIN.md)."""

    PARA_PIHAK_SEPAKAT = "para_pihak_sepakat"
    TUJUAN_TERCAPAI = "tujuan_tercapai"
    KEADAAN_KAHAR = "keadaan_kahar"  # keadaan kahar / perubahan mendasar
    WANPRESTASI = "wanprestasi"
    DIGANTIKAN_PERJANJIAN_BARU = "digantikan_perjanjian_baru"
    PERUBAHAN_PERATURAN = "perubahan_peraturan"
    OBJEK_HILANG = "objek_hilang"
    MERUGIKAN_KEPENTINGAN_NASIONAL = "merugikan_kepentingan_nasional"
    MASA_BERLAKU_HABIS = "masa_berlaku_habis"


# Grounds that end a document as planned (stage `berakhir`); every other ground ends it
# early (stage `diputus`).
NATURAL_ENDINGS = frozenset({Ground.MASA_BERLAKU_HABIS, Ground.TUJUAN_TERCAPAI})

FRAMEWORK = "framework"  # the `document` that names the framework (KB, MoU/LoI or NK)


@dataclass(frozen=True)
class Signatory:
    party: str  # a party region's code, or a non-region partner's name
    name: str
    position: str  # jabatan as written on the document, e.g. "Wali Kota Bandung"
    capacity: Capacity
    surat_kuasa: str | None = None  # number of the surat kuasa, for a pejabat_kuasa


@dataclass(frozen=True)
class SubmitOffer:
    reference: str  # nomor surat penawaran
    sent_on: date
    direction: str = "sent"  # "sent" by the initiator, or "received" from a third party
    note: str | None = None


@dataclass(frozen=True)
class RecordOfferResponse:
    decision: str  # "accepted" | "rejected"
    reference: str  # nomor surat jawaban
    responded_on: date
    party: str | None = None  # a non-region partner's name, recorded by the initiator
    note: str | None = None


@dataclass(frozen=True)
class RequestApproval:
    kind: str  # "dprd" | "central"
    reference: str  # nomor surat permohonan persetujuan
    requested_on: date
    document: str = FRAMEWORK


@dataclass(frozen=True)
class RecordApproval:
    kind: str  # "dprd" | "central"
    decision: str  # "approved" | "rejected"
    reference: str  # nomor keputusan/surat persetujuan
    decided_on: date
    document: str = FRAMEWORK
    note: str | None = None


@dataclass(frozen=True)
class SignFramework:
    number: str  # nomor naskah
    signed_on: date
    valid_from: date
    valid_until: date
    signatories: tuple[Signatory, ...]
    document_type: str | None = None  # mou | loi for the foreign forms; derived otherwise
    rencana_kerja: tuple[str, ...] = ()  # SINERGI: the NK's work plan


@dataclass(frozen=True)
class StartWorkPlan:
    started_on: date
    note: str | None = None


@dataclass(frozen=True)
class DraftPks:
    title: str
    object: str
    parties: tuple[str, ...] = ()  # a subset of the family's parties; empty: all of them
    value_idr: int | None = None
    burdens_community: bool | None = None  # None: as the family
    budgeted_in_apbd: bool | None = None  # None: as the family
    drafted_on: date | None = None  # None: the day it is recorded (WIB)


@dataclass(frozen=True)
class SignPks:
    pks: str
    number: str
    signed_on: date
    start_on: date
    end_on: date
    signatories: tuple[Signatory, ...]
    exception_reference: str | None = None  # sector law allowing a longer term


@dataclass(frozen=True)
class Amend:
    document: str
    reference: str  # nomor addendum
    signed_on: date
    changes: str
    value_idr: int | None = None


@dataclass(frozen=True)
class Extend:
    document: str
    reference: str  # nomor perpanjangan
    signed_on: date
    new_end: date
    exception_reference: str | None = None


@dataclass(frozen=True)
class Terminate:
    document: str
    ground: Ground
    reference: str
    terminated_on: date
    note: str | None = None


@dataclass(frozen=True)
class Cancel:
    reason: str
    document: str | None = None  # None: the whole family; "pks-N": an unsigned PKS draft
    reference: str | None = None
    cancelled_on: date | None = None  # None: the day it is recorded (WIB)


@dataclass(frozen=True)
class Correct:
    """A correction (ralat) of the facts a recorded step stated: its date, number, value or
    signatories, with the reason. `version`: the event that recorded the step (or an earlier
    correction of it); `changes`: field -> new value (`date`, `str`, `int`, or a tuple of
    `Signatory`), named as the step's event names them."""

    version: int
    changes: Mapping[str, Any]
    reason: str
    # The family's recorded events (version 1 first), supplied by the application, never by
    # the caller: the rules are re-checked on them with the corrected facts.
    history: tuple[Any, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class AttachDocument:
    kind: str
    name: str
    size: int
    media_type: str
    sha256: str
    document: str | None = None  # None: the family; "framework"; "pks-N"


@dataclass(frozen=True)
class Policy:
    """Rules that DOMAIN.md marks as configurable, passed in (the domain reads no settings)."""

    pks_max_years: int = 5


@dataclass(frozen=True)
class Caller:
    """Who acts: the caller's region and what every event records about them."""

    region: str
    actor: dict[str, Any]
