"""Parties: who may be a party to each form, wajib adjacency, and which parties act
(PP 28/2018 Pasal 2–4; UU 23/2014 Pasal 363; Permendagri 22/2020, 25/2020; DOMAIN.md,
"Forms of cooperation")."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.registry.domain.rules.rule import Rule
from services.registry.domain.rules.vocabulary import (
    FOREIGN_FORMS,
    Adjacency,
    Category,
    Form,
    OtherParty,
    Party,
    RegionParty,
)
from shared.errors import Forbidden, RuleViolation
from shared.tenancy import NATIONAL  # the national level's tenant (a constant; no I/O)

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


def _is_province(code: str) -> bool:
    return "." not in code


def wajib_pair_allowed(a: str, b: str, adjacency: Adjacency) -> bool:
    """DOMAIN.md, KSDD wajib pairings: two adjacent kab/kota (in one province or across
    provinces), two adjacent provinces, or a province with a kab/kota inside it."""
    if _is_province(a) != _is_province(b):
        province, kabkota = (a, b) if _is_province(a) else (b, a)
        return kabkota.startswith(province + ".")
    return adjacency.are_adjacent(a, b)


class PartiesOfForm(Rule):
    """Party rules of each form (PP 28/2018 Pasal 2–4; Permendagri 22/2020, 25/2020): a
    partner at least; a KSDD between regions, with its category; the other forms with the
    partners they admit (foreign ones with their country); every party once."""

    def check(self, form: Form, category: Category | None, initiator: str, partners: Sequence[Party]) -> None:
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
        regions = region_parties(initiator, partners)
        names = [p.name.strip().casefold() for p in partners if isinstance(p, OtherParty)]
        if len(set(regions)) != len(regions) or len(set(names)) != len(names):
            raise RuleViolation("duplicate_party", "Setiap pihak hanya dapat tercatat satu kali.")


class WajibAdjacency(Rule):
    """A `wajib` KSDD is between neighbours (UU 23/2014 Pasal 363; DOMAIN.md): every pair
    of its region parties must qualify; the first pair that does not is named."""

    def applies(self, form: Form, category: Category | None) -> bool:
        return form is Form.KSDD and category is Category.WAJIB

    def check(self, regions: Sequence[str], adjacency: Adjacency) -> None:
        for i, a in enumerate(regions):
            for b in regions[i + 1:]:
                if not wajib_pair_allowed(a, b, adjacency):
                    raise RuleViolation(
                        "wajib_requires_adjacency",
                        f"KSDD wajib hanya antardaerah yang berbatasan (atau provinsi dengan kabupaten/kota di "
                        f"wilayahnya): {a} dan {b} tidak berbatasan. Pilih kategori 'sukarela' bila tetap bekerja "
                        "sama.",
                        pair=[a, b],
                    )


class PartyActs(Rule):
    """Only operators of a party region drive a cooperation (PP 28/2018 Pasal 4); the
    central government's decision is recorded by the national level (Permendagri 25/2020)."""

    def check(self, region: str, party_regions: Collection[str], central_decision: bool) -> None:
        if region == NATIONAL and central_decision:
            return
        if region not in party_regions:
            raise Forbidden(
                f"Hanya daerah yang menjadi pihak kerja sama ini yang dapat mencatat langkahnya;"
                f" {region} bukan pihak.",
                code="not_a_party",
            )


class CentralRecordedNationally(Rule):
    """The central government's decision (Mendagri, for KSDPL and KSDLL) is recorded, and
    corrected, by the national level, never by the region it concerns (DOMAIN.md, "Lifecycle")."""

    def check(self, region: str, message: str) -> None:
        if region != NATIONAL:
            raise Forbidden(message, code="central_approval_recorded_by_national")


class PksParties(Rule):
    """A PKS is between two or more of the family's parties, the drafting region among them
    (Permendagri 22/2020). Answers its parties: those named, or all the family's."""

    def check(self, named: Sequence[str], party_keys: Sequence[str], region: str) -> list[str]:
        parties = list(dict.fromkeys(named)) or list(party_keys)
        unknown = [p for p in parties if p not in party_keys]
        if unknown:
            raise RuleViolation("unknown_party", f"Bukan pihak dalam kerja sama ini: {', '.join(unknown)}.")
        if len(parties) < 2:
            raise RuleViolation("pks_parties_insufficient", "PKS memerlukan sedikitnya dua pihak.")
        if region not in parties:
            raise Forbidden("Daerah penyusun harus menjadi pihak PKS ini.", code="not_a_party")
        return parties


def region_parties(initiator: str, partners: Sequence[Party]) -> list[str]:
    """The region parties of a cooperation being started: the initiator first."""
    return [initiator, *(p.region for p in partners if isinstance(p, RegionParty))]


PARTIES_OF_FORM = PartiesOfForm(
    "parties_of_form",
    ("partner_required", "category_required", "party_not_allowed_for_form", "category_not_allowed",
     "country_required", "duplicate_party"),
    "PP 28/2018 Pasal 2–4; Permendagri 22/2020; Permendagri 25/2020",
)
WAJIB_ADJACENCY = WajibAdjacency(
    "wajib_adjacency", ("wajib_requires_adjacency",), 'UU 23/2014 Pasal 363; DOMAIN.md, "Forms of cooperation"'
)
PARTY_ACTS = PartyActs("party_acts", ("not_a_party",), "PP 28/2018 Pasal 4; Permendagri 25/2020")
CENTRAL_RECORDED_NATIONALLY = CentralRecordedNationally(
    "central_recorded_nationally", ("central_approval_recorded_by_national",),
    'Permendagri 25/2020; DOMAIN.md, "Lifecycle"',
)
PKS_PARTIES = PksParties(
    "pks_parties", ("unknown_party", "pks_parties_insufficient", "not_a_party"), "Permendagri 22/2020"
)

RULES: tuple[Rule, ...] = (PARTIES_OF_FORM, WAJIB_ADJACENCY, PARTY_ACTS, CENTRAL_RECORDED_NATIONALLY, PKS_PARTIES)


def check_wajib_adjacency(regions: Sequence[str], adjacency: Adjacency) -> None:
    """A `wajib` KSDD is between neighbours: see `WAJIB_ADJACENCY`."""
    WAJIB_ADJACENCY.check(regions, adjacency)


def check_parties(
    form: Form, category: Category | None, initiator: str, partners: Sequence[Party], adjacency: Adjacency
) -> None:
    """Party rules of each form, then wajib adjacency: `PARTIES_OF_FORM`, `WAJIB_ADJACENCY`."""
    PARTIES_OF_FORM.check(form, category, initiator, partners)
    if WAJIB_ADJACENCY.applies(form, category):
        WAJIB_ADJACENCY.check(region_parties(initiator, partners), adjacency)
