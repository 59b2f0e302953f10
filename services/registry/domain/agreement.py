"""The cooperation family: one framework document, the PKS and addenda under it, one history.

Pure: no I/O, no clock, no settings. Commands validate and raise, then trigger an event
whose `apply` only assigns state (it runs again on every replay, so it must not depend on
today's rules). Events hold primitives only: they are a stored contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from shared.errors import RuleViolation


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


# Which non-region partners each form admits (DOMAIN.md, "Forms of cooperation").
PARTNER_TYPES: dict[Form, frozenset[str]] = {
    Form.KSDD: frozenset(),
    Form.KSDPK: frozenset(
        {"perorangan", "badan_usaha", "bumn", "bumd", "ormas", "perguruan_tinggi_swasta"}
    ),
    Form.KSDPL: frozenset({"pemerintah_daerah_luar_negeri"}),
    Form.KSDLL: frozenset({"lembaga_luar_negeri"}),
    Form.SINERGI: frozenset({"kementerian", "lembaga_pemerintah_nonkementerian"}),
}
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


def _party_record(party: Party, role: str) -> dict[str, Any]:
    if isinstance(party, RegionParty):
        return {"kind": "region", "role": role, "region": party.region}
    return {
        "kind": "other",
        "role": role,
        "name": party.name,
        "type": party.type,
        "country": party.country,
    }


def requires_dprd_approval(form: str, burdens_community: bool, budgeted_in_apbd: bool) -> bool:
    """PP 28/2018: DPRD approval before signing when the plan burdens the community and the
    region (membebani masyarakat dan daerah) or is not yet in the current APBD (belum
    teranggarkan); foreign forms always need it (Permendagri 25/2020)."""
    return burdens_community or not budgeted_in_apbd or Form(form) in FOREIGN_FORMS


def check_parties(form: Form, category: Category | None, initiator: str, partners: Sequence[Party]) -> None:
    """Party rules of each form (PP 28/2018 Pasal 2–4; Permendagri 22/2020, 25/2020)."""
    if not partners:
        raise RuleViolation("partner_required", "Kerja sama memerlukan sedikitnya satu mitra.")
    if form is Form.KSDD:
        if category is None:
            raise RuleViolation(
                "category_required", "KSDD memerlukan kategori: 'wajib' atau 'sukarela'."
            )
        if any(not isinstance(p, RegionParty) for p in partners):
            raise RuleViolation(
                "party_not_allowed_for_form", "KSDD hanya dapat dilakukan antardaerah."
            )
    else:
        if category is not None:
            raise RuleViolation(
                "category_not_allowed", "Kategori wajib/sukarela hanya berlaku untuk KSDD."
            )
        allowed = PARTNER_TYPES[form]
        for p in partners:
            if isinstance(p, RegionParty) or p.type not in allowed:
                raise RuleViolation(
                    "party_not_allowed_for_form",
                    f"Mitra {form.value} harus berjenis salah satu dari: {', '.join(sorted(allowed))}.",
                )
            if form in FOREIGN_FORMS and not p.country:
                raise RuleViolation(
                    "country_required", f"Mitra {form.value} harus menyebutkan negaranya."
                )
    regions = [initiator, *(p.region for p in partners if isinstance(p, RegionParty))]
    if len(set(regions)) != len(regions):
        raise RuleViolation("duplicate_party", "Setiap daerah hanya dapat menjadi pihak satu kali.")


class Agreement(Aggregate):
    """A cooperation family (naskah kerja sama and everything under it)."""

    class Started(Aggregate.Created):
        actor: dict
        form: str
        category: str | None
        title: str
        object: str
        urusan: tuple
        parties: tuple
        value_idr: int | None
        burdens_community: bool
        budgeted_in_apbd: bool

    def __init__(
        self,
        *,
        actor: dict,
        form: str,
        category: str | None,
        title: str,
        object: str,  # noqa: A002 - the API's name for objek kerja sama
        urusan: Sequence[str],
        parties: Sequence[dict],
        value_idr: int | None,
        burdens_community: bool,
        budgeted_in_apbd: bool,
    ) -> None:
        self.form = Form(form)
        self.category = Category(category) if category else None
        self.title = title
        self.object = object
        self.urusan = list(urusan)
        self.parties = [dict(p) for p in parties]
        self.value_idr = value_idr
        self.burdens_community = burdens_community
        self.budgeted_in_apbd = budgeted_in_apbd
        self.stage = Stage.PERSIAPAN
        self.created_by = dict(actor)

    @classmethod
    def start(
        cls,
        *,
        id: UUID,  # noqa: A002
        actor: dict,
        at: datetime,
        form: Form,
        category: Category | None,
        title: str,
        object: str,  # noqa: A002
        urusan: Sequence[str],
        initiator: str,
        partners: Sequence[Party],
        value_idr: int | None,
        burdens_community: bool,
        budgeted_in_apbd: bool,
    ) -> Agreement:
        """Start a cooperation in `persiapan`; the initiator region is the first party."""
        check_parties(form, category, initiator, partners)
        if not urusan:
            raise RuleViolation("urusan_required", "Sebutkan sedikitnya satu urusan pemerintahan.")
        if value_idr is not None and value_idr < 0:
            raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
        parties = (
            _party_record(RegionParty(initiator), "initiator"),
            *(_party_record(p, "partner") for p in partners),
        )
        return cls._create(
            cls.Started,
            id=id,
            timestamp=at,
            actor=dict(actor),
            form=form.value,
            category=category.value if category else None,
            title=title,
            object=object,
            urusan=tuple(dict.fromkeys(urusan)),
            parties=parties,
            value_idr=value_idr,
            burdens_community=burdens_community,
            budgeted_in_apbd=budgeted_in_apbd,
        )

    @property
    def initiator(self) -> str:
        return next(p["region"] for p in self.parties if p["role"] == "initiator")

    @property
    def party_regions(self) -> list[str]:
        return [p["region"] for p in self.parties if p["kind"] == "region"]

    @property
    def dprd_approval_required(self) -> bool:
        return requires_dprd_approval(self.form, self.burdens_community, self.budgeted_in_apbd)
