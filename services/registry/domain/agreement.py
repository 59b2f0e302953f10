"""The cooperation family: one framework document, the PKS and addenda under it, one history.

Pure: no I/O, no clock, no settings. Commands validate and raise, then trigger an event
whose `apply` only assigns state (it runs again on every replay, so it must not depend on
today's rules). Events hold primitives only: they are a stored contract.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.registry.domain.commands import (
    FRAMEWORK,
    NATURAL_ENDINGS,
    Amend,
    AttachDocument,
    Caller,
    Cancel,
    Capacity,
    Correct,
    DraftPks,
    Extend,
    Ground,
    Policy,
    RecordApproval,
    RecordOfferResponse,
    RequestApproval,
    Signatory,
    SignFramework,
    SignPks,
    StartWorkPlan,
    SubmitOffer,
    Terminate,
)
from services.registry.domain.wording import (
    FRAMEWORK_DOCUMENTS,
    day_words,
    document_stage_words,
    event_step_words,
    fact_words,
    framework_words,
    stage_words,
    step_words,
)
from shared.errors import Forbidden, KsdError, RuleViolation
from shared.periods import local_date
from shared.tenancy import NATIONAL  # the national level's tenant (a constant; no I/O)


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


class Adjacency(Protocol):
    """Which regions share a land border (the bundled reference data, passed in)."""

    def are_adjacent(self, a: str, b: str) -> bool: ...


def _is_province(code: str) -> bool:
    return "." not in code


def wajib_pair_allowed(a: str, b: str, adjacency: Adjacency) -> bool:
    """DOMAIN.md, KSDD wajib pairings: two adjacent kab/kota (in one province or across
    provinces), two adjacent provinces, or a province with a kab/kota inside it."""
    if _is_province(a) != _is_province(b):
        province, kabkota = (a, b) if _is_province(a) else (b, a)
        return kabkota.startswith(province + ".")
    return adjacency.are_adjacent(a, b)


def check_wajib_adjacency(regions: Sequence[str], adjacency: Adjacency) -> None:
    """A `wajib` KSDD is between neighbours (UU 23/2014 Pasal 363; DOMAIN.md): every pair
    of its region parties must qualify; the first pair that does not is named."""
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            if not wajib_pair_allowed(a, b, adjacency):
                raise RuleViolation(
                    "wajib_requires_adjacency",
                    f"KSDD wajib hanya antardaerah yang berbatasan (atau provinsi dengan kabupaten/kota di "
                    f"wilayahnya): {a} dan {b} tidak berbatasan. Pilih kategori 'sukarela' bila tetap bekerja sama.",
                    pair=[a, b],
                )


def check_parties(
    form: Form, category: Category | None, initiator: str, partners: Sequence[Party], adjacency: Adjacency
) -> None:
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
    names = [p.name.strip().casefold() for p in partners if isinstance(p, OtherParty)]
    if len(set(regions)) != len(regions) or len(set(names)) != len(names):
        raise RuleViolation("duplicate_party", "Setiap pihak hanya dapat tercatat satu kali.")
    if form is Form.KSDD and category is Category.WAJIB:
        check_wajib_adjacency(regions, adjacency)


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


# The family's stage graph: an action moves the family along one edge, never further.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.PERSIAPAN: frozenset({Stage.PENAWARAN, Stage.DIBATALKAN}),
    Stage.PENAWARAN: frozenset({Stage.PENYUSUNAN_KESEPAKATAN, Stage.DIBATALKAN}),
    Stage.PENYUSUNAN_KESEPAKATAN: frozenset({Stage.KESEPAKATAN_DITANDATANGANI, Stage.DIBATALKAN}),
    # A framework may also end without ever getting a PKS: the very case the ministry tracks.
    Stage.KESEPAKATAN_DITANDATANGANI: frozenset({Stage.PELAKSANAAN, Stage.BERAKHIR}),
    Stage.PELAKSANAAN: frozenset({Stage.BERAKHIR}),
    Stage.BERAKHIR: frozenset(),
    Stage.DIBATALKAN: frozenset(),
}
PKS_TRANSITIONS: dict[PksStage, frozenset[PksStage]] = {
    PksStage.PENYUSUNAN: frozenset(
        {PksStage.MENUNGGU_PERSETUJUAN_DPRD, PksStage.DITANDATANGANI, PksStage.DIBATALKAN}
    ),
    # A rejection sends the draft back for revision.
    PksStage.MENUNGGU_PERSETUJUAN_DPRD: frozenset(
        {PksStage.DITANDATANGANI, PksStage.PENYUSUNAN, PksStage.DIBATALKAN}
    ),
    PksStage.DITANDATANGANI: frozenset({PksStage.BERAKHIR, PksStage.DIPUTUS}),
    PksStage.BERAKHIR: frozenset(),
    PksStage.DIPUTUS: frozenset(),
    PksStage.DIBATALKAN: frozenset(),
}
CLOSED = frozenset({Stage.BERAKHIR, Stage.DIBATALKAN})
SIGNED = frozenset({Stage.KESEPAKATAN_DITANDATANGANI, Stage.PELAKSANAAN})
PKS_OPEN = frozenset({PksStage.PENYUSUNAN, PksStage.MENUNGGU_PERSETUJUAN_DPRD})
PKS_CLOSED = frozenset({PksStage.BERAKHIR, PksStage.DIPUTUS, PksStage.DIBATALKAN})

# Why approval was needed: recorded with every request (DOMAIN.md: "record which").
REASON_BURDENS = "membebani_masyarakat_dan_daerah"
REASON_NOT_BUDGETED = "belum_teranggarkan"
REASON_FOREIGN = "kerja_sama_luar_negeri"

FRAMEWORK_TYPES: dict[Form, frozenset[str]] = {
    Form.KSDD: frozenset({"kesepakatan_bersama"}),
    Form.KSDPK: frozenset({"kesepakatan_bersama"}),
    Form.KSDPL: frozenset({"mou", "loi"}),
    Form.KSDLL: frozenset({"mou", "loi"}),
    Form.SINERGI: frozenset({"nota_kesepakatan"}),
}

ATTACHMENT_KINDS = frozenset(
    {
        "studi_kelayakan", "kak", "surat_penawaran", "surat_jawaban_penawaran", "kesepakatan_bersama",
        "nota_kesepakatan", "mou", "loi", "rencana_kerja", "perjanjian_kerja_sama", "addendum",
        "perpanjangan", "persetujuan_dprd", "persetujuan_pemerintah_pusat", "surat_kuasa",
        "pemutusan", "berita_acara", "lainnya",
    }
)

# Indonesia's easternmost zone (WIT) is UTC+9: a date stated on a document is "in the
# future" only when it is after today's date there.
_LATEST_LOCAL_OFFSET = timedelta(hours=9)


def add_years(day: date, years: int) -> date:
    """`day` plus whole years; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def dprd_reasons(burdens_community: bool, budgeted_in_apbd: bool) -> list[str]:
    """PP 28/2018: DPRD approval when the plan burdens the community and the region and/or
    is not yet in the current APBD; both reasons are recorded when both apply."""
    reasons = []
    if burdens_community:
        reasons.append(REASON_BURDENS)
    if not budgeted_in_apbd:
        reasons.append(REASON_NOT_BUDGETED)
    return reasons


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _require_reference(value: str | None, what: str) -> str:
    """Every step after signature is recorded with its reference number (DOMAIN.md)."""
    text = _text(value)
    if text is None:
        raise RuleViolation("reference_required", f"{what} harus menyebutkan nomornya.")
    return text


CENTRAL_APPROVAL_LETTER = "persetujuan_pemerintah_pusat"


def is_central_decision(command: Any) -> bool:
    """What the national level records on a cooperation: the central government's decision,
    and its letter (DOMAIN.md: "recorded at the national level, not by the region")."""
    if isinstance(command, RecordApproval):
        return command.kind == "central"
    if isinstance(command, Correct):  # a correction of the central decision's facts
        step = corrected_step(command.history, command.version)
        return isinstance(step, Agreement.ApprovalRecorded) and step.kind == "central"
    return isinstance(command, AttachDocument) and command.kind == CENTRAL_APPROVAL_LETTER


# -- corrections (ralat) -----------------------------------------------------------------------

# The facts each step's event records that a correction may change (a date, a number, a
# value, the signatories), by the event's name; the fields are named as the event names them.
CORRECTABLE_FACTS: dict[str, frozenset[str]] = {
    "Started": frozenset({"drafted_on", "value_idr"}),
    "OfferSubmitted": frozenset({"reference", "sent_on"}),
    "OfferResponseRecorded": frozenset({"reference", "responded_on"}),
    "ApprovalRequested": frozenset({"reference", "requested_on"}),
    "ApprovalRecorded": frozenset({"reference", "decided_on"}),
    "FrameworkSigned": frozenset({"number", "signed_on", "valid_from", "valid_until", "signatories"}),
    "WorkPlanStarted": frozenset({"started_on"}),
    "PksDrafted": frozenset({"drafted_on", "value_idr"}),
    "PksSigned": frozenset({"number", "signed_on", "start_on", "end_on", "signatories"}),
    "Amended": frozenset({"reference", "signed_on", "value_idr"}),
    "Extended": frozenset({"reference", "signed_on", "new_end"}),
    "Terminated": frozenset({"reference", "terminated_on"}),
    "Cancelled": frozenset({"reference", "cancelled_on"}),
}
REFERENCE_FACTS = frozenset({"reference", "number"})


def corrected_step(history: Sequence[Any], version: int) -> Any | None:
    """The recorded step the event at `version` states the facts of: that event, or for a
    correction, the step it corrected. None: no such version."""
    if not 1 <= version <= len(history):
        return None
    event = history[version - 1]
    while type(event).__name__ == "Corrected":
        event = history[event.step_version - 1]
    return event


def corrections_of(history: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """The corrected facts of each step (its version -> field -> value), the latest
    correction of a field winning."""
    facts: dict[int, dict[str, Any]] = {}
    for event in history:
        if type(event).__name__ == "Corrected":
            facts.setdefault(event.step_version, {}).update(event.changes)
    return facts


def effective_events(history: Iterable[Any]) -> list[Any]:
    """The history as its facts stand now: each corrected step's event carries its corrected
    facts, and the corrections themselves are left out (their effect is in those events).
    For readers that filter steps by their facts, e.g. by legal date; versions keep their
    gaps where a correction was."""
    events = list(history)
    facts = corrections_of(events)
    return [_with_facts(e, facts.get(e.originator_version)) for e in events if type(e).__name__ != "Corrected"]


def _with_facts(event: Any, facts: Mapping[str, Any] | None) -> Any:
    if not facts:
        return event
    return type(event)(**{**vars(event), **copy.deepcopy(dict(facts))})


def _signatory(record: Mapping[str, Any]) -> Signatory:
    return Signatory(party=record["party"], name=record["name"], position=record["position"],
                     capacity=Capacity(record["capacity"]), surat_kuasa=record.get("surat_kuasa"))


def _day_of(value: str) -> date:
    return date.fromisoformat(value)


def _command_of(kind: str, f: Mapping[str, Any], recorded: datetime) -> Any | None:
    """The command that would have recorded a step with facts `f` (its event's fields), so
    the step's rules can be decided again; None for a step no rule governs."""
    sigs = tuple(_signatory(s) for s in f.get("signatories") or ())
    match kind:
        case "OfferSubmitted":
            return SubmitOffer(reference=f["reference"], sent_on=_day_of(f["sent_on"]), direction=f["direction"],
                               note=f["note"])
        case "OfferResponseRecorded":
            return RecordOfferResponse(decision=f["decision"], reference=f["reference"],
                                       responded_on=_day_of(f["responded_on"]), party=f["party"], note=f["note"])
        case "ApprovalRequested":
            return RequestApproval(kind=f["kind"], reference=f["reference"], requested_on=_day_of(f["requested_on"]),
                                   document=f["document"])
        case "ApprovalRecorded":
            return RecordApproval(kind=f["kind"], decision=f["decision"], reference=f["reference"],
                                  decided_on=_day_of(f["decided_on"]), document=f["document"], note=f["note"])
        case "FrameworkSigned":
            return SignFramework(number=f["number"], signed_on=_day_of(f["signed_on"]),
                                 valid_from=_day_of(f["valid_from"]), valid_until=_day_of(f["valid_until"]),
                                 signatories=sigs, document_type=f["document_type"],
                                 rencana_kerja=tuple(f["rencana_kerja"]))
        case "WorkPlanStarted":
            return StartWorkPlan(started_on=_day_of(f["started_on"]), note=f["note"])
        case "PksDrafted":
            return DraftPks(title=f["title"], object=f["object"], parties=tuple(f["parties"]), value_idr=f["value_idr"],
                            burdens_community=f["burdens_community"], budgeted_in_apbd=f["budgeted_in_apbd"],
                            drafted_on=_day_of(f["drafted_on"]))
        case "PksSigned":
            return SignPks(pks=f["pks_id"], number=f["number"], signed_on=_day_of(f["signed_on"]),
                           start_on=_day_of(f["start_on"]), end_on=_day_of(f["end_on"]), signatories=sigs,
                           exception_reference=f["exception_reference"])
        case "Amended":
            return Amend(document=f["document"], reference=f["reference"], signed_on=_day_of(f["signed_on"]),
                         changes=f["changes"], value_idr=f["value_idr"])
        case "Extended":
            return Extend(document=f["document"], reference=f["reference"], signed_on=_day_of(f["signed_on"]),
                          new_end=_day_of(f["new_end"]), exception_reference=f["exception_reference"])
        case "Terminated":
            return Terminate(document=f["document"], ground=Ground(f["ground"]), reference=f["reference"],
                             terminated_on=_day_of(f["terminated_on"]), note=f["note"])
        case "Cancelled":
            return Cancel(reason=f["reason"], document=f["document"], reference=f["reference"],
                          cancelled_on=_day_of(f["cancelled_on"]) if f.get("cancelled_on") else local_date(recorded))
    return None


def _state_diff(old: Any, new: Any, path: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """What turns state `old` into `new`: a list of {path, value} (set) and {path, remove}."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                out.append({"path": [*path, key], "remove": True})
            elif key not in old:
                out.append({"path": [*path, key], "value": new[key]})
            else:
                out.extend(_state_diff(old[key], new[key], (*path, key)))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _state_diff(a, b, (*path, i))]
    return [] if old == new else [{"path": list(path), "value": new}]


def _facts_state(agreement: Any) -> dict[str, Any]:
    """An aggregate's state without its bookkeeping (id, version, times)."""
    return {k: v for k, v in agreement.to_state().items() if not k.startswith("_")}


def _child(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
        return container[key]
    return None


def _not_in_future(day: date, at: datetime, what: str) -> None:
    if day > (at + _LATEST_LOCAL_OFFSET).date():
        raise RuleViolation("date_in_future", f"Tanggal {what} ({day_words(day)}) belum terjadi.")


def _iso(day: date) -> str:
    return day.isoformat()


def _latest(*steps: tuple[str, str | None]) -> tuple[str, str] | None:
    """The latest of (step, ISO date) pairs that have a date; the first of equal ones."""
    dated = [(day, -i, step) for i, (step, day) in enumerate(steps) if day]
    if not dated:
        return None
    day, _, step = max(dated)
    return step, day


def _not_before(
    day: date, what: str, earlier: tuple[str, str] | None, code: str = "date_out_of_order",
    framework: str = "Kesepakatan Bersama",
) -> None:
    """The law's order on the dates the documents state: a step may not be dated before the
    step it follows. The refusal names that step: in words in its detail, by its action and
    ISO date in `conflicts_with`."""
    if earlier is None:
        return
    step, then = earlier
    if day < date.fromisoformat(then):
        raise RuleViolation(
            code,
            f"Tanggal {what} ({day_words(day)}) mendahului {step_words(step, framework)} "
            f"({day_words(then)}), yang harus lebih dulu.",
            conflicts_with={"step": step, "date": then},
        )


class Agreement(Aggregate):
    """A cooperation family (naskah kerja sama and everything under it).

    State holds JSON primitives only (str, int, bool, None, lists, dicts; dates as ISO
    strings), so a snapshot, the read model's copy and a replay rebuild the same object.
    Every event that moves a stage names the stage it moves to: the history reads on its
    own, and replaying it never re-decides anything.
    """

    # -- events (a stored contract: primitives only; see STYLE.md) ------------------------

    class Started(Aggregate.Created):
        actor: dict[str, Any]
        form: str
        category: str | None
        title: str
        object: str
        urusan: tuple[Any, ...]
        parties: tuple[Any, ...]
        value_idr: int | None
        burdens_community: bool
        budgeted_in_apbd: bool
        # The day the cooperation was prepared (persiapan), as stated; histories stored before
        # it was recorded have none (a class default, so they replay unchanged).
        drafted_on: str | None = None

    class OfferSubmitted(Aggregate.Event):
        actor: dict[str, Any]
        reference: str
        sent_on: str
        direction: str
        note: str | None
        stage: str

        def apply(self, agreement: Agreement) -> None:
            agreement.offer = {
                "reference": self.reference, "sent_on": self.sent_on, "direction": self.direction,
                "note": self.note, "by": self.actor["tenant"],
            }
            agreement.stage = self.stage

    class OfferResponseRecorded(Aggregate.Event):
        actor: dict[str, Any]
        party: str
        decision: str
        reference: str
        responded_on: str
        note: str | None
        stage: str

        def apply(self, agreement: Agreement) -> None:
            agreement.responses[self.party] = {
                "party": self.party, "decision": self.decision, "reference": self.reference,
                "responded_on": self.responded_on, "note": self.note, "recorded_by": self.actor["tenant"],
            }
            agreement.stage = self.stage
            if self.stage == Stage.DIBATALKAN:  # a partner refused: the family ends that day
                # `ended_on` (berakhir or dibatalkan: the day the family ended, for "was it alive
                # in this period") exists only once a family has ended, so every other state,
                # and every snapshot and fixture of one, stays as it was.
                agreement.ended_on = self.responded_on  # type: ignore[attr-defined]  # only once ended

    class ApprovalRequested(Aggregate.Event):
        actor: dict[str, Any]
        kind: str
        document: str
        region: str
        reasons: tuple[Any, ...]
        reference: str
        requested_on: str
        pks_stage: str | None

        def apply(self, agreement: Agreement) -> None:
            agreement.approvals.append(
                {
                    "kind": self.kind, "document": self.document, "region": self.region,
                    "reasons": list(self.reasons), "request_reference": self.reference,
                    "requested_on": self.requested_on, "decision": None, "decision_reference": None,
                    "decided_on": None, "note": None,
                }
            )
            if self.pks_stage:
                agreement._pks(self.document)["stage"] = self.pks_stage

    class ApprovalRecorded(Aggregate.Event):
        actor: dict[str, Any]
        kind: str
        document: str
        region: str
        decision: str
        reference: str
        decided_on: str
        note: str | None
        pks_stage: str | None

        def apply(self, agreement: Agreement) -> None:
            record = agreement._pending_approval(self.kind, self.document, self.region)
            assert record is not None  # noqa: S101 - the command checked it; events never lie
            record.update(decision=self.decision, decision_reference=self.reference,
                          decided_on=self.decided_on, note=self.note)
            if self.pks_stage:
                agreement._pks(self.document)["stage"] = self.pks_stage

    class FrameworkSigned(Aggregate.Event):
        actor: dict[str, Any]
        document_type: str
        number: str
        signed_on: str
        valid_from: str
        valid_until: str
        signatories: tuple[Any, ...]
        rencana_kerja: tuple[Any, ...]
        stage: str

        def apply(self, agreement: Agreement) -> None:
            agreement.framework = {
                "type": self.document_type, "stage": FrameworkStage.DITANDATANGANI.value, "number": self.number,
                "signed_on": self.signed_on, "valid_from": self.valid_from, "valid_until": self.valid_until,
                "signatories": [dict(s) for s in self.signatories], "rencana_kerja": list(self.rencana_kerja),
                "work_plan_started_on": None, "addenda": [], "extensions": [], "termination": None,
            }
            agreement.stage = self.stage

    class WorkPlanStarted(Aggregate.Event):
        actor: dict[str, Any]
        started_on: str
        note: str | None
        stage: str

        def apply(self, agreement: Agreement) -> None:
            assert agreement.framework is not None  # noqa: S101 - the framework was signed before
            agreement.framework["work_plan_started_on"] = self.started_on
            agreement.stage = self.stage

    class PksDrafted(Aggregate.Event):
        """v2 records the DPRD reasons decided at drafting; v1 (until commit 8a999f2) left
        them to `apply`, which recomputed them with whatever rule was current at replay."""

        class_version = 2  # no annotation: a class attribute read by the mapper, not a field

        actor: dict[str, Any]
        pks_id: str
        title: str
        object: str
        parties: tuple[Any, ...]
        value_idr: int | None
        burdens_community: bool
        budgeted_in_apbd: bool
        drafted_on: str
        dprd_reasons: tuple[Any, ...]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 event gets the reasons v1 meant. The v1 rule is frozen here, copied from
            `dprd_reasons()` as it was at 8a999f2, not called: the live rule may change, and
            the upcaster must still reproduce what the v1 history said."""
            # Literals, not the REASON_* constants: v1's stored meaning, even if those change.
            reasons = []
            if state["burdens_community"]:
                reasons.append("membebani_masyarakat_dan_daerah")
            if not state["budgeted_in_apbd"]:
                reasons.append("belum_teranggarkan")
            state["dprd_reasons"] = reasons

        def apply(self, agreement: Agreement) -> None:
            agreement.pks.append(
                {
                    "id": self.pks_id, "title": self.title, "object": self.object, "parties": list(self.parties),
                    "stage": PksStage.PENYUSUNAN.value, "value_idr": self.value_idr,
                    "burdens_community": self.burdens_community, "budgeted_in_apbd": self.budgeted_in_apbd,
                    "dprd_reasons": list(self.dprd_reasons),
                    "drafted_on": self.drafted_on, "number": None, "signed_on": None, "start_on": None,
                    "end_on": None, "exception_reference": None, "signatories": [], "addenda": [],
                    "extensions": [], "termination": None,
                }
            )

    class PksSigned(Aggregate.Event):
        actor: dict[str, Any]
        pks_id: str
        number: str
        signed_on: str
        start_on: str
        end_on: str
        signatories: tuple[Any, ...]
        exception_reference: str | None
        pks_stage: str
        stage: str

        def apply(self, agreement: Agreement) -> None:
            agreement._pks(self.pks_id).update(
                number=self.number, signed_on=self.signed_on, start_on=self.start_on, end_on=self.end_on,
                signatories=[dict(s) for s in self.signatories], exception_reference=self.exception_reference,
                stage=self.pks_stage,
            )
            agreement.stage = self.stage

    class Amended(Aggregate.Event):
        actor: dict[str, Any]
        document: str
        reference: str
        signed_on: str
        changes: str
        value_idr: int | None

        def apply(self, agreement: Agreement) -> None:
            doc = agreement._document(self.document)
            doc["addenda"].append(
                {"reference": self.reference, "signed_on": self.signed_on, "changes": self.changes,
                 "value_idr": self.value_idr}
            )
            if self.value_idr is not None:
                if self.document == FRAMEWORK:
                    agreement.value_idr = self.value_idr
                else:
                    doc["value_idr"] = self.value_idr

    class Extended(Aggregate.Event):
        actor: dict[str, Any]
        document: str
        reference: str
        signed_on: str
        previous_end: str
        new_end: str
        exception_reference: str | None

        def apply(self, agreement: Agreement) -> None:
            doc = agreement._document(self.document)
            doc["extensions"].append(
                {"reference": self.reference, "signed_on": self.signed_on, "previous_end": self.previous_end,
                 "new_end": self.new_end, "exception_reference": self.exception_reference}
            )
            doc["valid_until" if self.document == FRAMEWORK else "end_on"] = self.new_end

    class Terminated(Aggregate.Event):
        actor: dict[str, Any]
        document: str
        ground: str
        reference: str
        terminated_on: str
        note: str | None
        document_stage: str
        stage: str

        def apply(self, agreement: Agreement) -> None:
            doc = agreement._document(self.document)
            doc["termination"] = {"ground": self.ground, "reference": self.reference,
                                  "terminated_on": self.terminated_on, "note": self.note}
            doc["stage"] = self.document_stage
            agreement.stage = self.stage
            if self.stage == Stage.BERAKHIR:
                agreement.ended_on = self.terminated_on  # type: ignore[attr-defined]  # only once ended

    class Cancelled(Aggregate.Event):
        actor: dict[str, Any]
        document: str | None
        reason: str
        reference: str | None
        stage: str
        # The day it was abandoned, as stated; events stored before it was recorded have
        # none (a class default, so they replay) and mean the day they were recorded.
        cancelled_on: str | None = None

        def apply(self, agreement: Agreement) -> None:
            day = self.cancelled_on or local_date(self.timestamp).isoformat()
            record = {"reason": self.reason, "reference": self.reference, "by": self.actor["tenant"]}
            if self.cancelled_on is not None:  # states and snapshots of older histories stay as they were
                record["cancelled_on"] = day
            if self.document is None:
                agreement.cancellation = record
                agreement.ended_on = day  # type: ignore[attr-defined]  # only once ended
            else:
                pks = agreement._pks(self.document)
                pks["stage"] = PksStage.DIBATALKAN.value
                pks["cancellation"] = record
            agreement.stage = self.stage

    class DocumentAttached(Aggregate.Event):
        actor: dict[str, Any]
        document: str | None
        kind: str
        name: str
        size: int
        media_type: str
        sha256: str

        def apply(self, agreement: Agreement) -> None:
            agreement.attachments.append(
                {"document": self.document, "kind": self.kind, "name": self.name, "size": self.size,
                 "media_type": self.media_type, "sha256": self.sha256,
                 "attached_at": self.timestamp.isoformat(), "attached_by": self.actor["tenant"]}
            )

    class Corrected(Aggregate.Event):
        """A correction (ralat) of the facts a recorded step stated. Nothing is rewritten:
        the step's event stays as recorded, and this one names it (`corrects_version`; the
        step itself: `step_version`, `step`), the facts it changes (`changes`, field -> new
        value; `previous`: what they were), and why (`reason`). `effects` is what the
        corrected facts change in the state, decided when it was recorded by replaying the
        history with them ({path, value} or {path, remove}), so applying it never re-decides."""

        actor: dict[str, Any]
        corrects_version: int
        step_version: int
        step: str
        changes: dict[str, Any]
        previous: dict[str, Any]
        reason: str
        effects: list[Any]

        def apply(self, agreement: Agreement) -> None:
            for effect in self.effects:
                head, *rest = effect["path"]
                if not rest:
                    if effect.get("remove"):
                        agreement.__dict__.pop(head, None)
                    else:
                        setattr(agreement, head, copy.deepcopy(effect["value"]))
                    continue
                container = getattr(agreement, head, None)
                for key in rest[:-1]:
                    container = _child(container, key)
                last = rest[-1]
                if isinstance(container, dict):
                    if effect.get("remove"):
                        container.pop(last, None)
                    else:
                        container[last] = copy.deepcopy(effect["value"])
                elif isinstance(container, list) and isinstance(last, int) and 0 <= last < len(container):
                    container[last] = copy.deepcopy(effect["value"])
                # else: a state that lacks the step (one replayed in part, e.g. as in force on
                # a day before it): the correction has nothing to change there.

    # -- construction -----------------------------------------------------------------------

    def __init__(
        self,
        *,
        actor: dict[str, Any],
        form: str,
        category: str | None,
        title: str,
        object: str,  # noqa: A002 - the API's name for objek kerja sama
        urusan: Sequence[str],
        parties: Sequence[dict[str, Any]],
        value_idr: int | None,
        burdens_community: bool,
        budgeted_in_apbd: bool,
        drafted_on: str | None = None,
    ) -> None:
        if drafted_on is not None:  # states of histories recorded before it stay as they were
            self.drafted_on = drafted_on
        self.form = Form(form).value
        self.category = Category(category).value if category else None
        self.title = title
        self.object = object
        self.urusan = list(urusan)
        self.parties = [dict(p) for p in parties]
        self.value_idr = value_idr
        self.burdens_community = burdens_community
        self.budgeted_in_apbd = budgeted_in_apbd
        self.stage = Stage.PERSIAPAN.value
        self.created_by = dict(actor)
        self.offer: dict[str, Any] | None = None
        self.responses: dict[str, dict[str, Any]] = {}
        self.approvals: list[dict[str, Any]] = []
        self.framework: dict[str, Any] | None = None
        self.pks: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.cancellation: dict[str, Any] | None = None

    @classmethod
    def start(
        cls,
        *,
        id: UUID,  # noqa: A002
        actor: dict[str, Any],
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
        adjacency: Adjacency,
        drafted_on: date | None = None,
    ) -> Agreement:
        """Start a cooperation in `persiapan`; the initiator region is the first party.
        `adjacency`: the land borders, for the wajib KSDD rule; `drafted_on`: the day it was
        prepared (none stated: the day it is recorded, in WIB)."""
        check_parties(form, category, initiator, partners, adjacency)
        drafted_on = drafted_on or local_date(at)
        _not_in_future(drafted_on, at, "persiapan kerja sama")
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
            drafted_on=_iso(drafted_on),
        )

    # -- reading ----------------------------------------------------------------------------

    @property
    def initiator(self) -> str:
        region: str = next(p["region"] for p in self.parties if p["role"] == "initiator")
        return region

    @property
    def party_regions(self) -> list[str]:
        return [p["region"] for p in self.parties if p["kind"] == "region"]

    @property
    def party_keys(self) -> list[str]:
        """How each party is named in commands: its region code, or its name."""
        return [p["region"] if p["kind"] == "region" else p["name"] for p in self.parties]

    @property
    def dprd_approval_required(self) -> bool:
        return requires_dprd_approval(self.form, self.burdens_community, self.budgeted_in_apbd)

    def to_state(self) -> dict[str, Any]:
        """The whole state as JSON primitives (the read model keeps this copy)."""
        state = {k: v for k, v in vars(self).items() if k not in ("_pending_events",)}
        state["_id"] = str(self.id)
        state["_created_on"] = self.created_on.isoformat()
        state["_modified_on"] = self.modified_on.isoformat()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Agreement:
        """The inverse of `to_state` (like eventsourcing's snapshots, without the store)."""
        attrs = dict(state)
        attrs["_id"] = UUID(attrs["_id"])
        attrs["_created_on"] = datetime.fromisoformat(attrs["_created_on"])
        attrs["_modified_on"] = datetime.fromisoformat(attrs["_modified_on"])
        attrs["_pending_events"] = []
        agreement = object.__new__(cls)
        object.__setattr__(agreement, "__dict__", attrs)
        return agreement

    def pks_by_id(self, pks_id: str) -> dict[str, Any] | None:
        return next((p for p in self.pks if p["id"] == pks_id), None)

    def required_approvals(self, document: str) -> list[tuple[str, str, list[str]]]:
        """(kind, region, reasons) of every approval `document` needs before signature, in
        the order they must be obtained."""
        if document == FRAMEWORK:
            form = Form(self.form)
            if form in FOREIGN_FORMS:
                # Permendagri 25/2020: DPRD approval, then the central government's
                # (Mendagri, after Kemenlu's consideration), before the MoU/LoI is signed.
                reasons = [REASON_FOREIGN, *dprd_reasons(self.burdens_community, self.budgeted_in_apbd)]
                return [("dprd", self.initiator, reasons), ("central", self.initiator, [REASON_FOREIGN])]
            if form is Form.SINERGI:
                # SINERGI has no PKS: the NK itself is what commits the region.
                reasons = dprd_reasons(self.burdens_community, self.budgeted_in_apbd)
                return [("dprd", self.initiator, reasons)] if reasons else []
            return []  # KSDD/KSDPK: DPRD approves the PKS, which commits the money
        pks = self.pks_by_id(document)
        if pks is None or not pks["dprd_reasons"]:
            return []
        return [("dprd", region, list(pks["dprd_reasons"]))
                for region in pks["parties"] if region in self.party_regions]

    def approval_status(self, kind: str, document: str, region: str) -> str | None:
        """The latest decision (`approved`, `rejected`), `pending`, or None if never asked."""
        latest = self._latest_approval(kind, document, region)
        return None if latest is None else latest["decision"] or "pending"

    def missing_approvals(self, document: str) -> list[tuple[str, str]]:
        return [
            (kind, region)
            for kind, region, _ in self.required_approvals(document)
            if self.approval_status(kind, document, region) != "approved"
        ]

    # -- commands ---------------------------------------------------------------------------

    def execute(self, command: Any, *, by: Caller, at: datetime, policy: Policy | None = None) -> None:
        """Decide on one lifecycle action and record it, or raise and record nothing."""
        handler = cast("Callable[..., None] | None", self._HANDLERS.get(type(command)))
        if handler is None:
            raise TypeError(f"unknown command {type(command).__name__}")
        if by.region == NATIONAL and is_central_decision(command):
            pass  # the central government's decision is recorded by the national level (Permendagri 25/2020)
        elif by.region not in self.party_regions:
            # Only operators of a party region drive a cooperation (PP 28/2018 Pasal 4).
            raise Forbidden(
                f"Hanya daerah yang menjadi pihak kerja sama ini yang dapat mencatat langkahnya;"
                f" {by.region} bukan pihak.",
                code="not_a_party",
            )
        if Stage(self.stage) in CLOSED and not isinstance(command, AttachDocument | Correct):
            raise RuleViolation(
                "agreement_closed",
                f"Kerja sama ini sudah {stage_words(self.stage)}; tidak ada langkah lagi yang dapat dicatat.",
            )
        handler(self, command, by, at, policy or Policy())

    def _submit_offer(self, c: SubmitOffer, by: Caller, at: datetime, policy: Policy) -> None:
        """Permendagri 22/2020: after preparation (studi kelayakan/KAK, TKKSD review) the
        initiator sends the offer letter; a third party's offer is recorded as received."""
        self._require_stage(Stage.PERSIAPAN, "Surat penawaran")
        if by.region != self.initiator:
            raise Forbidden("Surat penawaran dicatat oleh daerah pemrakarsa.", code="not_initiator")
        if c.direction not in ("sent", "received"):
            raise RuleViolation("invalid_direction", "Arah penawaran harus 'sent' atau 'received'.")
        if c.direction == "received" and all(p["kind"] == "region" for p in self.parties):
            raise RuleViolation(
                "invalid_direction",
                "Penawaran yang diterima dari pihak ketiga hanya berlaku bila ada mitra non-daerah.",
            )
        _not_in_future(c.sent_on, at, "surat penawaran")
        self._not_before(c.sent_on, "surat penawaran", self._created_step())
        self.trigger_event(
            self.OfferSubmitted, timestamp=at, actor=by.actor,
            reference=_require_reference(c.reference, "Surat penawaran"), sent_on=_iso(c.sent_on),
            direction=c.direction, note=_text(c.note), stage=Stage.PENAWARAN.value,
        )

    def _record_offer_response(self, c: RecordOfferResponse, by: Caller, at: datetime, policy: Policy) -> None:
        """Each partner answers the offer. A partner region records its own answer; the
        initiator records a non-region partner's. All accepted: the framework is drafted;
        one refusal: the cooperation is abandoned (DOMAIN.md, `penawaran`)."""
        self._require_stage(Stage.PENAWARAN, "Jawaban penawaran")
        partners = [k for k, p in zip(self.party_keys, self.parties, strict=True) if p["role"] == "partner"]
        others = [p["name"] for p in self.parties if p["kind"] == "other"]
        if c.party is not None and c.party != by.region:
            if c.party not in partners:
                raise RuleViolation("unknown_party", f"{c.party} bukan mitra dalam kerja sama ini.")
            if c.party not in others:
                raise Forbidden(
                    f"Daerah mitra {c.party} mencatat jawabannya sendiri.", code="counterpart_must_respond"
                )
            if by.region != self.initiator:
                raise Forbidden("Jawaban mitra non-daerah dicatat oleh daerah pemrakarsa.", code="not_initiator")
            party = c.party
        elif by.region in partners:
            party = by.region
        elif len(others) == 1 and by.region == self.initiator:
            party = others[0]
        else:
            raise RuleViolation("party_required", "Sebutkan mitra ('party') yang jawabannya dicatat.")
        if party in self.responses:
            raise RuleViolation("already_responded", f"Jawaban {party} sudah tercatat.")
        if c.decision not in ("accepted", "rejected"):
            raise RuleViolation("invalid_decision", "Jawaban harus 'accepted' atau 'rejected'.")
        _not_in_future(c.responded_on, at, "jawaban penawaran")
        self._not_before(c.responded_on, "jawaban penawaran", self._offer_step())
        if c.decision == "rejected":
            stage = Stage.DIBATALKAN
        elif set(partners) <= {*self.responses, party}:
            stage = Stage.PENYUSUNAN_KESEPAKATAN
        else:
            stage = Stage.PENAWARAN
        self.trigger_event(
            self.OfferResponseRecorded, timestamp=at, actor=by.actor, party=party, decision=c.decision,
            reference=_require_reference(c.reference, "Surat jawaban penawaran"),
            responded_on=_iso(c.responded_on), note=_text(c.note), stage=stage.value,
        )

    def _request_approval(self, c: RequestApproval, by: Caller, at: datetime, policy: Policy) -> None:
        """PP 28/2018 Pasal 9 and 12; Permendagri 25/2020: the region asks its DPRD (and,
        for the foreign forms, then the central government) to approve the draft."""
        pks_stage = self._check_approval_target(c.kind, c.document, by.region)
        status = self.approval_status(c.kind, c.document, by.region)
        if status == "pending":
            raise RuleViolation("approval_already_pending", "Permohonan persetujuan ini masih menunggu keputusan.")
        if status == "approved":
            raise RuleViolation("approval_already_granted", "Persetujuan ini sudah diberikan.")
        if c.kind == "central" and self.approval_status("dprd", c.document, by.region) != "approved":
            raise RuleViolation(
                "dprd_approval_required",
                "Persetujuan pemerintah pusat dimohonkan setelah DPRD menyetujui (Permendagri 25/2020).",
            )
        if c.kind == "central":
            dprd = self._latest_approval("dprd", c.document, by.region)
            if dprd is not None and c.requested_on < date.fromisoformat(dprd["decided_on"]):
                raise RuleViolation(
                    "date_out_of_order",
                    f"Permohonan ke pemerintah pusat ({day_words(c.requested_on)}) mendahului persetujuan DPRD "
                    f"({day_words(dprd['decided_on'])}).",
                    conflicts_with={"step": "record-approval", "date": dprd["decided_on"]},
                )
        _not_in_future(c.requested_on, at, "permohonan persetujuan")
        # A draft is approved only once it exists: the PKS's draft, or the framework's,
        # drafted once every partner accepted the offer.
        self._not_before(c.requested_on, "permohonan persetujuan", self._draft_step(c.document))
        reasons = next(r for k, region, r in self.required_approvals(c.document) if (k, region) == (c.kind, by.region))
        self.trigger_event(
            self.ApprovalRequested, timestamp=at, actor=by.actor, kind=c.kind, document=c.document,
            region=by.region, reasons=tuple(reasons), reference=_require_reference(c.reference, "Surat permohonan"),
            requested_on=_iso(c.requested_on),
            pks_stage=PksStage.MENUNGGU_PERSETUJUAN_DPRD.value if pks_stage is not None else None,
        )

    def _record_approval(self, c: RecordApproval, by: Caller, at: datetime, policy: Policy) -> None:
        """Who decides records the decision: a region records its own DPRD's decision on its
        own request (a counterpart region its own DPRD's); the central government's decision
        (Mendagri, for KSDPL and KSDLL) is recorded by the national level, never by the
        region it concerns (DOMAIN.md). A rejected PKS goes back to drafting."""
        if c.kind == "central" and by.region != NATIONAL:
            raise Forbidden(
                "Keputusan persetujuan pemerintah pusat dicatat oleh tingkat nasional (Kemendagri), bukan oleh "
                "daerah yang memohonnya; daerah mencatat permohonannya.",
                code="central_approval_recorded_by_national",
            )
        # The central decision answers the initiator's request (the region that asked).
        region = self.initiator if c.kind == "central" else by.region
        pks_stage = self._check_approval_target(c.kind, c.document, region)
        record = self._pending_approval(c.kind, c.document, region)
        if record is None:
            raise RuleViolation(
                "approval_not_requested", "Belum ada permohonan persetujuan yang menunggu keputusan untuk naskah ini."
            )
        if c.decision not in ("approved", "rejected"):
            raise RuleViolation("invalid_decision", "Keputusan harus 'approved' atau 'rejected'.")
        _not_in_future(c.decided_on, at, "keputusan persetujuan")
        if c.decided_on < date.fromisoformat(record["requested_on"]):
            raise RuleViolation(
                "date_before_request",
                f"Tanggal keputusan ({day_words(c.decided_on)}) mendahului tanggal permohonan "
                f"({day_words(record['requested_on'])}).",
                conflicts_with={"step": "request-approval", "date": record["requested_on"]},
            )
        new_pks_stage = None
        if pks_stage is not None and c.decision == "rejected":
            new_pks_stage = PksStage.PENYUSUNAN.value
        self.trigger_event(
            self.ApprovalRecorded, timestamp=at, actor=by.actor, kind=c.kind, document=c.document,
            region=region, decision=c.decision, reference=_require_reference(c.reference, "Keputusan persetujuan"),
            decided_on=_iso(c.decided_on), note=_text(c.note), pks_stage=new_pks_stage,
        )

    def _sign_framework(self, c: SignFramework, by: Caller, at: datetime, policy: Policy) -> None:
        """The framework (KB; MoU/LoI for the foreign forms; NK for SINERGI) is signed by
        the heads of region only (Permendagri 22/2020), after every approval it needs."""
        self._require_stage(Stage.PENYUSUNAN_KESEPAKATAN, "Penandatanganan kesepakatan")
        self._require_approvals(FRAMEWORK, c.signed_on)
        self._not_before(c.signed_on, f"penandatanganan {self._framework_words()}", self._draft_step(FRAMEWORK))
        form = Form(self.form)
        allowed = FRAMEWORK_TYPES[form]
        doc_type = c.document_type or ("mou" if form in FOREIGN_FORMS else next(iter(allowed)))
        if doc_type not in allowed:
            raise RuleViolation(
                "document_type_not_allowed",
                f"Naskah kesepakatan {form.value} berjenis "
                f"{' atau '.join(sorted(FRAMEWORK_DOCUMENTS.get(t, t) for t in allowed))}, "
                f"bukan {FRAMEWORK_DOCUMENTS.get(doc_type, doc_type)}.",
            )
        plan = tuple(t for t in (_text(x) for x in c.rencana_kerja) if t)
        if form is Form.SINERGI and not plan:
            raise RuleViolation("rencana_kerja_required", "Nota Kesepakatan SINERGI harus memuat rencana kerja.")
        if form is not Form.SINERGI and plan:
            raise RuleViolation("rencana_kerja_not_allowed", "Rencana kerja dalam naskah hanya untuk SINERGI.")
        _not_in_future(c.signed_on, at, "penandatanganan")
        if c.valid_until <= c.valid_from:
            raise RuleViolation("invalid_period", "Akhir masa berlaku harus sesudah awalnya.")
        signatories = self._check_signatories(c.signatories, self.party_keys, framework=True)
        stage = Stage.KESEPAKATAN_DITANDATANGANI
        self.trigger_event(
            self.FrameworkSigned, timestamp=at, actor=by.actor, document_type=doc_type,
            number=_require_reference(c.number, "Naskah kesepakatan"), signed_on=_iso(c.signed_on),
            valid_from=_iso(c.valid_from), valid_until=_iso(c.valid_until), signatories=signatories,
            rencana_kerja=plan, stage=stage.value,
        )

    def _start_work_plan(self, c: StartWorkPlan, by: Caller, at: datetime, policy: Policy) -> None:
        """SINERGI has no PKS: implementation starts when the NK's rencana kerja runs."""
        if Form(self.form) is not Form.SINERGI:
            raise RuleViolation(
                "pks_required", "Pelaksanaan dimulai dengan penandatanganan PKS; rencana kerja NK hanya untuk SINERGI."
            )
        self._require_stage(Stage.KESEPAKATAN_DITANDATANGANI, "Pelaksanaan rencana kerja")
        _not_in_future(c.started_on, at, "mulai pelaksanaan")
        self._not_before(c.started_on, "mulai pelaksanaan", self._signed_step(FRAMEWORK))
        self.trigger_event(
            self.WorkPlanStarted, timestamp=at, actor=by.actor, started_on=_iso(c.started_on),
            note=_text(c.note), stage=Stage.PELAKSANAAN.value,
        )

    def _draft_pks(self, c: DraftPks, by: Caller, at: datetime, policy: Policy) -> None:
        """A PKS is drafted only under a signed framework (Permendagri 22/2020); SINERGI
        has none."""
        if Form(self.form) is Form.SINERGI:
            raise RuleViolation("pks_not_allowed_for_form", "SINERGI dilaksanakan melalui rencana kerja NK, tanpa PKS.")
        if Stage(self.stage) not in SIGNED:
            raise RuleViolation(
                "framework_not_signed", "PKS hanya dapat disusun setelah kesepakatan bersama ditandatangani."
            )
        parties = list(dict.fromkeys(c.parties)) or self.party_keys
        unknown = [p for p in parties if p not in self.party_keys]
        if unknown:
            raise RuleViolation("unknown_party", f"Bukan pihak dalam kerja sama ini: {', '.join(unknown)}.")
        if len(parties) < 2:
            raise RuleViolation("pks_parties_insufficient", "PKS memerlukan sedikitnya dua pihak.")
        if by.region not in parties:
            raise Forbidden("Daerah penyusun harus menjadi pihak PKS ini.", code="not_a_party")
        if c.value_idr is not None and c.value_idr < 0:
            raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
        title, obj = _text(c.title), _text(c.object)
        if not title or not obj:
            raise RuleViolation("pks_title_required", "PKS memerlukan judul dan objek.")
        burdens = self.burdens_community if c.burdens_community is None else c.burdens_community
        budgeted = self.budgeted_in_apbd if c.budgeted_in_apbd is None else c.budgeted_in_apbd
        drafted_on = c.drafted_on or local_date(at)  # none stated: the day it is recorded, in WIB
        _not_in_future(drafted_on, at, "penyusunan PKS")
        self._not_before(drafted_on, "penyusunan PKS", self._signed_step(FRAMEWORK))
        self.trigger_event(
            self.PksDrafted, timestamp=at, actor=by.actor, pks_id=f"pks-{len(self.pks) + 1}", title=title,
            object=obj, parties=tuple(parties), value_idr=c.value_idr, burdens_community=burdens,
            budgeted_in_apbd=budgeted, drafted_on=_iso(drafted_on),
            dprd_reasons=tuple(dprd_reasons(burdens, budgeted)),  # decided now, recorded for good
        )

    def _sign_pks(self, c: SignPks, by: Caller, at: datetime, policy: Policy) -> None:
        """A PKS is signed by the heads of region or by officials holding a surat kuasa,
        after its DPRD approvals (PP 28/2018 Pasal 9), for at most `pks_max_years` unless
        sector law allows more (the exception is referenced)."""
        pks = self._require_pks(c.pks)
        if pks["stage"] not in PKS_OPEN:
            raise RuleViolation(
                "stage_transition_not_allowed", f"PKS {c.pks} sudah {document_stage_words(pks['stage'])}."
            )
        self._require_approvals(c.pks, c.signed_on)
        if self.framework and c.signed_on < date.fromisoformat(self.framework["signed_on"]):
            raise RuleViolation(
                "date_out_of_order",
                f"PKS {c.pks} ({day_words(c.signed_on)}) tidak dapat ditandatangani sebelum "
                f"{self._framework_words()}-nya ({day_words(self.framework['signed_on'])}).",
                conflicts_with={"step": "sign-framework", "date": self.framework["signed_on"]},
            )
        self._not_before(c.signed_on, f"penandatanganan PKS {c.pks}", self._draft_step(c.pks))
        _not_in_future(c.signed_on, at, "penandatanganan")
        self._check_term(c.start_on, c.end_on, c.exception_reference, policy)
        self._check_within_framework(c.pks, c.start_on, c.end_on, c.exception_reference)
        signatories = self._check_signatories(c.signatories, pks["parties"], framework=False)
        self.trigger_event(
            self.PksSigned, timestamp=at, actor=by.actor, pks_id=c.pks,
            number=_require_reference(c.number, "PKS"), signed_on=_iso(c.signed_on),
            start_on=_iso(c.start_on), end_on=_iso(c.end_on), signatories=signatories,
            exception_reference=_text(c.exception_reference), pks_stage=PksStage.DITANDATANGANI.value,
            stage=Stage.PELAKSANAAN.value,
        )

    def _amend(self, c: Amend, by: Caller, at: datetime, policy: Policy) -> None:
        """A signed document is never silently changed: every change after signature is an
        addendum by mutual consent, with its number (DOMAIN.md)."""
        self._require_in_force(c.document, "Addendum")
        _not_in_future(c.signed_on, at, "addendum")
        self._not_before(c.signed_on, "addendum", self._signed_step(c.document))
        changes = _text(c.changes)
        if not changes:
            raise RuleViolation("changes_required", "Uraikan perubahan yang dimuat addendum.")
        if c.value_idr is not None and c.value_idr < 0:
            raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
        self.trigger_event(
            self.Amended, timestamp=at, actor=by.actor, document=c.document,
            reference=_require_reference(c.reference, "Addendum"), signed_on=_iso(c.signed_on),
            changes=changes, value_idr=c.value_idr,
        )

    def _extend(self, c: Extend, by: Caller, at: datetime, policy: Policy) -> None:
        """An extension (perpanjangan) is its own step, agreed by the parties, with its
        number; a PKS's new term is again at most `pks_max_years` unless excepted."""
        doc = self._require_in_force(c.document, "Perpanjangan")
        _not_in_future(c.signed_on, at, "perpanjangan")
        self._not_before(c.signed_on, "perpanjangan", self._signed_step(c.document))
        current_end = date.fromisoformat(doc["valid_until" if c.document == FRAMEWORK else "end_on"])
        if c.new_end <= current_end:
            raise RuleViolation(
                "extension_not_later", f"Perpanjangan harus berakhir sesudah {day_words(current_end)}."
            )
        if c.document != FRAMEWORK:
            self._check_term(current_end, c.new_end, c.exception_reference, policy)
            self._check_within_framework(c.document, None, c.new_end, c.exception_reference)
        self.trigger_event(
            self.Extended, timestamp=at, actor=by.actor, document=c.document,
            reference=_require_reference(c.reference, "Perpanjangan"), signed_on=_iso(c.signed_on),
            previous_end=current_end.isoformat(), new_end=_iso(c.new_end),
            exception_reference=_text(c.exception_reference),
        )

    def _terminate(self, c: Terminate, by: Caller, at: datetime, policy: Policy) -> None:
        """PP 28/2018 Pasal 29: a document ends on one of the listed grounds. Ending the
        framework ends the family, once every PKS under it has ended."""
        self._require_in_force(c.document, "Pengakhiran")
        _not_in_future(c.terminated_on, at, "pengakhiran")
        self._not_before(c.terminated_on, "pengakhiran", self._signed_step(c.document))
        ending = PksStage.BERAKHIR if c.ground in NATURAL_ENDINGS else PksStage.DIPUTUS
        stage = Stage(self.stage)
        if c.document == FRAMEWORK:
            still_open = [p["id"] for p in self.pks if p["stage"] not in PKS_CLOSED]
            if still_open:
                raise RuleViolation(
                    "documents_still_open",
                    f"Akhiri atau batalkan dulu PKS di bawah kesepakatan ini: {', '.join(still_open)}.",
                )
            stage = Stage.BERAKHIR
        self.trigger_event(
            self.Terminated, timestamp=at, actor=by.actor, document=c.document, ground=c.ground.value,
            reference=_require_reference(c.reference, "Pengakhiran"), terminated_on=_iso(c.terminated_on),
            note=_text(c.note), document_stage=ending.value, stage=stage.value,
        )

    def _cancel(self, c: Cancel, by: Caller, at: datetime, policy: Policy) -> None:
        """A cooperation may be abandoned only before its framework is signed; after that
        it ends by termination. An unsigned PKS draft may be abandoned at any time."""
        reason = _text(c.reason)
        if not reason:
            raise RuleViolation("reason_required", "Sebutkan alasan pembatalan.")
        if c.document is None:
            if Stage(self.stage) in SIGNED:
                raise RuleViolation(
                    "framework_already_signed",
                    "Kesepakatan sudah ditandatangani: kerja sama diakhiri dengan pengakhiran, bukan dibatalkan.",
                )
            stage = Stage.DIBATALKAN
        else:
            pks = self._require_pks(c.document)
            if pks["stage"] not in PKS_OPEN:
                raise RuleViolation(
                    "document_already_signed",
                    f"PKS {c.document} sudah {document_stage_words(pks['stage'])}; akhiri dengan pengakhiran, "
                    "bukan pembatalan.",
                )
            stage = Stage(self.stage)
        cancelled_on = c.cancelled_on or local_date(at)  # none stated: the day it is recorded, in WIB
        _not_in_future(cancelled_on, at, "pembatalan")
        earlier = self._draft_step(c.document) if c.document else self._last_step_before_signature()
        self._not_before(cancelled_on, "pembatalan", earlier)
        self.trigger_event(
            self.Cancelled, timestamp=at, actor=by.actor, document=c.document, reason=reason,
            reference=_text(c.reference), stage=stage.value, cancelled_on=_iso(cancelled_on),
        )

    def _attach_document(self, c: AttachDocument, by: Caller, at: datetime, policy: Policy) -> None:
        """Supporting and signed documents are kept with the family (by content hash)."""
        if c.kind not in ATTACHMENT_KINDS:
            raise RuleViolation("unknown_document_kind", f"Jenis dokumen tidak dikenal: {c.kind}.")
        if c.document is not None and c.document != FRAMEWORK:
            self._require_pks(c.document)
        name = _text(c.name)
        if not name:
            raise RuleViolation("name_required", "Dokumen memerlukan nama.")
        self.trigger_event(
            self.DocumentAttached, timestamp=at, actor=by.actor, document=c.document, kind=c.kind,
            name=name, size=c.size, media_type=c.media_type, sha256=c.sha256,
        )

    def _correct(self, c: Correct, by: Caller, at: datetime, policy: Policy) -> None:
        """A correction (ralat): the facts a step stated (a date, a number, a value, the
        signatories) were mistyped. It is decided as if the step had stated the corrected
        facts from the start: the history is replayed with them, each step's rules decided
        again, and the first rule they break refuses the correction with that rule's code.
        Corrected: the state becomes what that replay gives. Who may: an operator of a party
        (of the region whose DPRD decided, for a DPRD decision); for the central
        government's decision, the national level."""
        history = list(c.history)
        if len(history) != self.version:
            raise ValueError("a correction needs the family's whole recorded history")
        reason = _text(c.reason)
        if not reason:
            raise RuleViolation("reason_required", "Sebutkan alasan ralat.")
        target = history[c.version - 1] if 1 <= c.version <= len(history) else None
        if target is None:
            raise RuleViolation(
                "unknown_version", f"Tidak ada langkah tercatat dengan versi {c.version} pada kerja sama ini.",
                current_version=self.version,
            )
        if isinstance(target, Agreement.Corrected):
            step_version, allowed = target.step_version, frozenset(target.changes)
        else:
            step_version, allowed = c.version, CORRECTABLE_FACTS.get(type(target).__name__, frozenset())
        step = history[step_version - 1]
        kind = type(step).__name__
        named = f"Langkah ke-{c.version} ({event_step_words(kind, self._framework_words())})"
        if not allowed:
            raise RuleViolation(
                "step_not_correctable", f"{named} tidak memuat fakta yang dapat diralat."
            )
        if not c.changes:
            raise RuleViolation("changes_required", "Sebutkan fakta yang diralat beserta nilai barunya.")
        unknown = sorted(set(c.changes) - allowed)
        if unknown:
            raise RuleViolation(
                "field_not_recorded",
                f"{named} tidak mencatat {', '.join(fact_words(u) for u in unknown)}; yang dapat diralat: "
                f"{', '.join(sorted(fact_words(a) for a in allowed))}.",
                allowed=sorted(allowed),
            )
        if isinstance(step, Agreement.ApprovalRecorded) and step.kind == "central":
            if by.region != NATIONAL:
                raise Forbidden(
                    "Keputusan persetujuan pemerintah pusat diralat oleh tingkat nasional (Kemendagri), yang "
                    "mencatatnya.",
                    code="central_approval_recorded_by_national",
                )
        elif isinstance(step, Agreement.ApprovalRequested | Agreement.ApprovalRecorded) and by.region != step.region:
            raise Forbidden(
                f"Permohonan dan keputusan persetujuan DPRD {step.region} diralat oleh daerah itu sendiri.",
                code="not_the_deciding_region",
            )
        corrected = corrections_of(history)
        now = {**vars(step), **corrected.get(step_version, {})}
        changes = {name: self._fact(name, value) for name, value in c.changes.items()}
        changes = {name: value for name, value in changes.items() if now.get(name) != value}
        if not changes:
            raise RuleViolation("nothing_to_correct", "Nilai yang disebutkan sama dengan yang sudah tercatat.")
        before, broken = self._replay(history, corrected, policy)
        # What the history already broke (one recorded before a rule existed) is no reason to
        # refuse; any other refusal is the correction's.
        after, _ = self._replay(
            history, {**corrected, step_version: {**corrected.get(step_version, {}), **changes}}, policy,
            tolerated={(v, e.code) for v, e in broken},
        )
        self.trigger_event(
            self.Corrected, timestamp=at, actor=by.actor, corrects_version=c.version, step_version=step_version,
            step=kind, changes=changes, previous={name: now.get(name) for name in changes}, reason=reason,
            effects=_state_diff(_facts_state(before), _facts_state(after)),
        )

    @staticmethod
    def _fact(name: str, value: Any) -> Any:
        """A corrected fact as the step's event records it."""
        if name in REFERENCE_FACTS:
            return _require_reference(value if isinstance(value, str) else None, "Ralat nomor")
        if name == "value_idr":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
            return value
        if name == "signatories":
            return [
                {"party": s.party, "name": s.name.strip(), "position": s.position.strip(),
                 "capacity": Capacity(s.capacity).value, "surat_kuasa": _text(s.surat_kuasa)}
                for s in value
            ]
        if not isinstance(value, date):
            raise RuleViolation("invalid_fact", f"{fact_words(name).capitalize()} harus berupa tanggal.")
        return _iso(value)

    @classmethod
    def _replay(
        cls, history: Sequence[Any], facts: Mapping[int, Mapping[str, Any]], policy: Policy,
        tolerated: set[tuple[int, str | None]] | None = None,
    ) -> tuple[Agreement, list[tuple[int, KsdError]]]:
        """The family rebuilt from `history` with each step stating `facts` (its version ->
        field -> value), every step's rules decided again on the way (as its recorder, at the
        moment it was recorded). Answers the state and each step a rule refused (version,
        error); with `tolerated`, raises the first refusal not in it (version, code).
        Corrections are left out: their facts are in `facts`."""
        agreement: Agreement | None = None
        refused: list[tuple[int, KsdError]] = []
        for event in history:
            version = event.originator_version
            if isinstance(event, Agreement.Corrected):
                continue
            f = {**vars(event), **copy.deepcopy(dict(facts.get(version, {})))}
            kind = type(event).__name__
            if isinstance(event, Agreement.Started):
                try:
                    if f.get("drafted_on"):
                        _not_in_future(_day_of(f["drafted_on"]), event.timestamp, "persiapan kerja sama")
                    if f.get("value_idr") is not None and f["value_idr"] < 0:
                        raise RuleViolation("negative_value", "Nilai kerja sama tidak boleh negatif.")
                except KsdError as error:
                    if tolerated is not None and (version, error.code) not in tolerated:
                        raise
                    refused.append((version, error))
                agreement = type(event)(**f).mutate(None)
                continue
            assert agreement is not None  # noqa: S101 - narrows the type; never checks input
            if isinstance(event, Agreement.Extended):  # the end it extended, as the facts now say
                doc = agreement._document(f["document"])
                f["previous_end"] = doc["valid_until" if f["document"] == FRAMEWORK else "end_on"]
            command = _command_of(kind, f, event.timestamp)
            if command is not None:
                trial = cls.from_state(copy.deepcopy(agreement.to_state()))
                try:
                    trial.execute(command, by=Caller(f["actor"]["tenant"], f["actor"]), at=event.timestamp,
                                  policy=policy)
                except KsdError as error:
                    if tolerated is not None and (version, error.code) not in tolerated:
                        raise
                    refused.append((version, error))
            agreement.version = version - 1  # over the corrections left out
            try:
                type(event)(**f).mutate(agreement)
            except (AssertionError, LookupError, TypeError):
                agreement.version = version  # a step of a history already broken: as it stands

        assert agreement is not None  # noqa: S101 - narrows the type; never checks input
        return agreement, refused

    _HANDLERS = {  # noqa: RUF012 - a class constant; an annotation would make it a dataclass field
        SubmitOffer: _submit_offer,
        RecordOfferResponse: _record_offer_response,
        RequestApproval: _request_approval,
        RecordApproval: _record_approval,
        SignFramework: _sign_framework,
        StartWorkPlan: _start_work_plan,
        DraftPks: _draft_pks,
        SignPks: _sign_pks,
        Amend: _amend,
        Extend: _extend,
        Terminate: _terminate,
        Cancel: _cancel,
        AttachDocument: _attach_document,
        Correct: _correct,
    }

    # -- rules shared by several commands ---------------------------------------------------

    def _framework_words(self) -> str:
        """The framework document's name, as the refusals write it (`Kesepakatan Bersama`)."""
        form = Form(self.form)
        return framework_words((self.framework or {}).get("type"), form in FOREIGN_FORMS, form is Form.SINERGI)

    def _not_before(
        self, day: date, what: str, earlier: tuple[str, str] | None, code: str = "date_out_of_order"
    ) -> None:
        _not_before(day, what, earlier, code, framework=self._framework_words())

    def _created_step(self) -> tuple[str, str] | None:
        """The start (`POST /agreements`) with the day it was prepared, if recorded."""
        drafted_on = getattr(self, "drafted_on", None)
        return ("create", drafted_on) if drafted_on else None

    def _offer_step(self) -> tuple[str, str] | None:
        return ("submit-offer", self.offer["sent_on"]) if self.offer else None

    def _draft_step(self, document: str) -> tuple[str, str] | None:
        """The step that brought `document`'s draft into being, with its date: a PKS's
        `draft-pks`; the framework's, the last partner's acceptance of the offer."""
        if document == FRAMEWORK:
            return _latest(self._offer_step() or ("submit-offer", None),
                           *(("record-offer-response", r["responded_on"]) for r in self.responses.values()))
        pks = self.pks_by_id(document)
        return ("draft-pks", pks["drafted_on"]) if pks else None

    def _signed_step(self, document: str) -> tuple[str, str] | None:
        if document == FRAMEWORK:
            return ("sign-framework", self.framework["signed_on"]) if self.framework else None
        pks = self.pks_by_id(document)
        return ("sign-pks", pks["signed_on"]) if pks and pks.get("signed_on") else None

    def _last_step_before_signature(self) -> tuple[str, str] | None:
        """The latest dated step of a family not yet signed (for its cancellation)."""
        return _latest(
            self._created_step() or ("create", None),
            self._draft_step(FRAMEWORK) or ("submit-offer", None),
            *(("request-approval", a["requested_on"]) for a in self.approvals if a["document"] == FRAMEWORK),
            *(("record-approval", a["decided_on"]) for a in self.approvals if a["document"] == FRAMEWORK),
        )

    def _check_within_framework(
        self, pks_id: str, start: date | None, end: date, exception_reference: str | None
    ) -> None:
        """A PKS implements its framework: it runs within the framework's validity, unless
        the exception that allows it is referenced (`exception_reference`, as for the term)."""
        if self.framework is None or _text(exception_reference):
            return
        valid_from, valid_until = self.framework["valid_from"], self.framework["valid_until"]
        if start is not None and start < date.fromisoformat(valid_from):
            edge, day, words = valid_from, start, "mulai sebelum"
        elif end > date.fromisoformat(valid_until):
            edge, day, words = valid_until, end, "berakhir sesudah"
        else:
            return
        raise RuleViolation(
            "pks_outside_framework_validity",
            f"PKS {pks_id} {words} masa berlaku {self._framework_words()}-nya ({day_words(day)}; "
            f"{self._framework_words()} berlaku {day_words(valid_from)} sampai dengan {day_words(valid_until)}). "
            "Sebutkan dasar hukum pengecualiannya bila memang dibolehkan.",
            conflicts_with={"step": "sign-framework", "date": edge},
            valid_from=valid_from, valid_until=valid_until,
        )

    def _require_stage(self, stage: Stage, what: str) -> None:
        """No stage can be skipped (DOMAIN.md, "Lifecycle")."""
        if self.stage != stage.value:
            raise RuleViolation(
                "stage_transition_not_allowed",
                f"{what} hanya dapat dicatat pada tahap {stage_words(stage.value)}; kerja sama ini pada tahap "
                f"{stage_words(self.stage)}.",
            )

    def _require_pks(self, pks_id: str) -> dict[str, Any]:
        pks = self.pks_by_id(pks_id)
        if pks is None:
            raise RuleViolation("unknown_document", f"Tidak ada PKS {pks_id} dalam kerja sama ini.")
        return pks

    def _document(self, document: str) -> dict[str, Any]:
        return self.framework if document == FRAMEWORK else self._pks(document)  # type: ignore[return-value]

    def _pks(self, pks_id: str) -> dict[str, Any]:
        pks = self.pks_by_id(pks_id)
        assert pks is not None  # noqa: S101 - narrows the type; never checks input
        return pks

    def _latest_approval(self, kind: str, document: str, region: str) -> dict[str, Any] | None:
        for record in reversed(self.approvals):
            if (record["kind"], record["document"], record["region"]) == (kind, document, region):
                found: dict[str, Any] = record
                return found
        return None

    def _pending_approval(self, kind: str, document: str, region: str) -> dict[str, Any] | None:
        latest = self._latest_approval(kind, document, region)
        return latest if latest is not None and latest["decision"] is None else None

    def _require_in_force(self, document: str, what: str) -> dict[str, Any]:
        """Addenda, extensions and termination apply to a signed document still in force."""
        if document == FRAMEWORK:
            if self.framework is None:
                raise RuleViolation("document_not_signed", f"{what}: kesepakatan belum ditandatangani.")
            doc = self.framework
        else:
            doc = self._require_pks(document)
            if doc["stage"] in PKS_OPEN:
                raise RuleViolation("document_not_signed", f"{what}: PKS {document} belum ditandatangani.")
        if doc["stage"] != "ditandatangani":
            raise RuleViolation(
                "document_not_in_force", f"{what}: naskah ini sudah {document_stage_words(doc['stage'])}."
            )
        return doc

    def _check_approval_target(self, kind: str, document: str, region: str) -> str | None:
        """Where an approval may be asked or recorded; returns the PKS stage, if a PKS."""
        if kind not in ("dprd", "central"):
            raise RuleViolation("invalid_approval_kind", "Jenis persetujuan harus 'dprd' atau 'central'.")
        if document == FRAMEWORK:
            self._require_stage(Stage.PENYUSUNAN_KESEPAKATAN, "Persetujuan atas rancangan kesepakatan")
            pks_stage = None
        else:
            pks = self._require_pks(document)
            if pks["stage"] not in PKS_OPEN:
                raise RuleViolation(
                    "stage_transition_not_allowed", f"PKS {document} sudah {document_stage_words(pks['stage'])}."
                )
            pks_stage = pks["stage"]
        if not any((k, r) == (kind, region) for k, r, _ in self.required_approvals(document)):
            whose = "DPRD" if kind == "dprd" else "pemerintah pusat"
            raise RuleViolation(
                "approval_not_required",
                f"Naskah ini tidak memerlukan persetujuan {whose} untuk {region}.",
            )
        return pks_stage

    def _require_approvals(self, document: str, signed_on: date) -> None:
        """PP 28/2018 Pasal 9: DPRD approval before signing when the plan burdens the
        community and the region or is not budgeted; Permendagri 25/2020: the foreign
        forms also need the central government's approval, after the DPRD's. "Before"
        holds for the dates on the documents too: no signature predates an approval."""
        missing = self.missing_approvals(document)
        if not missing:
            decided = [
                record["decided_on"]
                for record in self.approvals
                if record["document"] == document and record["decision"] == "approved"
            ]
            latest = max(decided, default=None)
            if latest is not None and signed_on < date.fromisoformat(latest):
                raise RuleViolation(
                    "signed_before_approval",
                    f"Tanggal penandatanganan ({day_words(signed_on)}) mendahului persetujuan yang diperlukan "
                    f"({day_words(latest)}).",
                    conflicts_with={"step": "record-approval", "date": latest},
                )
            return
        kind, region = missing[0]
        if kind == "dprd":
            raise RuleViolation(
                "dprd_approval_required",
                f"Naskah ini memerlukan persetujuan DPRD {region} sebelum ditandatangani.",
                missing=[{"kind": k, "region": r} for k, r in missing],
            )
        raise RuleViolation(
            "central_approval_required",
            "Naskah kerja sama luar negeri memerlukan persetujuan pemerintah pusat sebelum ditandatangani.",
            missing=[{"kind": k, "region": r} for k, r in missing],
        )

    @staticmethod
    def _check_term(start: date, end: date, exception_reference: str | None, policy: Policy) -> None:
        """DOMAIN.md: a PKS lasts at most 5 years (configurable) unless sector law says
        otherwise; the exception is recorded by its reference."""
        if end <= start:
            raise RuleViolation("invalid_period", "Akhir masa berlaku harus sesudah awalnya.")
        if end > add_years(start, policy.pks_max_years) and not _text(exception_reference):
            raise RuleViolation(
                "duration_exceeds_limit",
                f"Jangka waktu PKS paling lama {policy.pks_max_years} tahun; sebutkan dasar hukum "
                "pengecualiannya bila peraturan sektoral membolehkan lebih lama.",
                max_years=policy.pks_max_years,
            )

    def _check_signatories(
        self, signatories: Sequence[Signatory], parties: Sequence[str], *, framework: bool
    ) -> tuple[dict[str, Any], ...]:
        """Permendagri 22/2020: the kepala daerah signs every document; an official with a
        surat kuasa may sign a PKS, never the framework. Every party signs."""
        regions = set(self.party_regions)
        records = []
        for s in signatories:
            if s.party not in parties:
                raise RuleViolation("unknown_party", f"Penanda tangan untuk {s.party}, yang bukan pihak naskah ini.")
            if not _text(s.name) or not _text(s.position):
                raise RuleViolation("signatory_incomplete", "Setiap penanda tangan memerlukan nama dan jabatan.")
            if s.party in regions:
                if s.capacity is Capacity.PERWAKILAN_MITRA:
                    raise RuleViolation(
                        "signatory_not_authorized",
                        f"Naskah atas nama {s.party} ditandatangani kepala daerah atau pejabat yang diberi kuasa.",
                    )
                if s.capacity is Capacity.PEJABAT_KUASA:
                    if framework:
                        raise RuleViolation(
                            "signatory_not_authorized",
                            "Kesepakatan bersama hanya dapat ditandatangani kepala daerah, tidak dengan surat kuasa.",
                        )
                    if not _text(s.surat_kuasa):
                        raise RuleViolation(
                            "surat_kuasa_required",
                            f"Pejabat yang menandatangani PKS atas nama {s.party} memerlukan nomor surat kuasa.",
                        )
            records.append(
                {"party": s.party, "name": s.name.strip(), "position": s.position.strip(),
                 "capacity": s.capacity.value, "surat_kuasa": _text(s.surat_kuasa)}
            )
        signed = [r["party"] for r in records]
        missing = [p for p in parties if p not in signed]
        if missing:
            raise RuleViolation("signatory_missing", f"Belum ada penanda tangan untuk: {', '.join(missing)}.")
        if len(set(signed)) != len(signed):
            raise RuleViolation("duplicate_signatory", "Setiap pihak menandatangani satu kali.")
        return tuple(records)
