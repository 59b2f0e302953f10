"""The words the rules and the aggregate share: forms, categories, stages, parties, and the
view of a family the rules read. No rule is stated here (the themes' modules state them);
`services.registry.domain.agreement` re-exports every name, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Form(StrEnum):
    """Bentuk kerja sama (PP 28/2018)."""

    KSDD = "KSDD"  # dengan daerah lain
    KSDPK = "KSDPK"  # dengan pihak ketiga
    KSDPL = "KSDPL"  # dengan pemerintah daerah di luar negeri
    KSDLL = "KSDLL"  # dengan lembaga di luar negeri
    SINERGI = "SINERGI"  # sinergi dengan kementerian/lembaga


class Category(StrEnum):
    """KSDD only: wajib (adjacent regions, externalities, joint efficiency) or sukarela."""

    WAJIB = "wajib"
    SUKARELA = "sukarela"


class Stage(StrEnum):
    """Stages of the family (DOMAIN.md, "Lifecycle")."""

    PERSIAPAN = "persiapan"
    PENAWARAN = "penawaran"
    PENYUSUNAN_KESEPAKATAN = "penyusunan_kesepakatan"
    KESEPAKATAN_DITANDATANGANI = "kesepakatan_ditandatangani"
    PELAKSANAAN = "pelaksanaan"
    BERAKHIR = "berakhir"
    DIBATALKAN = "dibatalkan"


FOREIGN_FORMS = frozenset({Form.KSDPL, Form.KSDLL})


@dataclass(frozen=True)
class RegionParty:
    region: str


@dataclass(frozen=True)
class OtherParty:
    name: str
    type: str
    country: str | None = None


Party = RegionParty | OtherParty


class PksStage(StrEnum):
    """Stages of one Perjanjian Kerja Sama (DOMAIN.md, "Lifecycle")."""

    PENYUSUNAN = "penyusunan"
    MENUNGGU_PERSETUJUAN_DPRD = "menunggu_persetujuan_dprd"
    DITANDATANGANI = "ditandatangani"
    BERAKHIR = "berakhir"
    DIPUTUS = "diputus"
    DIBATALKAN = "dibatalkan"  # a draft abandoned before signature


class FrameworkStage(StrEnum):
    """The framework is recorded when it is signed; until then the family's stage says
    where its drafting stands."""

    DITANDATANGANI = "ditandatangani"
    BERAKHIR = "berakhir"
    DIPUTUS = "diputus"


CLOSED = frozenset({Stage.BERAKHIR, Stage.DIBATALKAN})
SIGNED = frozenset({Stage.KESEPAKATAN_DITANDATANGANI, Stage.PELAKSANAAN})
PKS_OPEN = frozenset({PksStage.PENYUSUNAN, PksStage.MENUNGGU_PERSETUJUAN_DPRD})
PKS_CLOSED = frozenset({PksStage.BERAKHIR, PksStage.DIPUTUS, PksStage.DIBATALKAN})


class Adjacency(Protocol):
    """Which regions share a land border (the bundled reference data, passed in)."""

    def are_adjacent(self, a: str, b: str) -> bool: ...


class Family(Protocol):
    """What the rules read of a cooperation family's state (the aggregate, read only)."""

    @property
    def stage(self) -> str: ...

    @property
    def form(self) -> str: ...

    @property
    def burdens_community(self) -> bool: ...

    @property
    def budgeted_in_apbd(self) -> bool: ...

    @property
    def offer(self) -> dict[str, Any] | None: ...

    @property
    def responses(self) -> dict[str, dict[str, Any]]: ...

    @property
    def approvals(self) -> list[dict[str, Any]]: ...

    @property
    def framework(self) -> dict[str, Any] | None: ...

    @property
    def initiator(self) -> str: ...

    @property
    def party_regions(self) -> list[str]: ...

    def pks_by_id(self, pks_id: str) -> dict[str, Any] | None: ...
