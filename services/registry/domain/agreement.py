"""The cooperation family: one framework document, the PKS and addenda under it, one history.

Pure: no I/O, no clock, no settings. Commands validate and raise, then trigger an event
whose `apply` only assigns state (it runs again on every replay, so it must not depend on
today's rules). Events hold primitives only: they are a stored contract.

The rules themselves are named rule objects, one module per theme, in `rules/` (stage order,
documents, dates, offers, approvals, terms, signatories, parties, corrections). The aggregate
keeps the state, the events and their `apply`, `execute`'s dispatch, and the wiring: which
rules each command checks, with which facts, in which order. The names other modules import
from here (`Form`, `Stage`, `add_years`, `wajib_pair_allowed`, ...) are re-exported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.registry import contract
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
from services.registry.domain.rules import approvals as approval_rules
from services.registry.domain.rules import dates as date_rules
from services.registry.domain.rules.approvals import (
    APPROVAL_DECISION,
    APPROVAL_TARGET,
    APPROVALS_BEFORE_SIGNATURE,
    DECISION_ON_REQUEST,
    DPRD_BEFORE_CENTRAL,
    REASON_BURDENS,
    REASON_FOREIGN,
    REASON_NOT_BUDGETED,
    REQUESTED_ONCE,
    dprd_reasons,
    requires_dprd_approval,
)
from services.registry.domain.rules.corrections import (
    CORRECTABLE_FACTS,
    CORRECTABLE_STEP,
    CORRECTED_FACT,
    CORRECTION_CHANGES,
    CORRECTION_REASON,
    DPRD_CORRECTED_BY_ITS_REGION,
    KNOWN_VERSION,
    RECORDED_FACTS,
    REFERENCE_FACTS,
    SOMETHING_CHANGES,
)
from services.registry.domain.rules.dates import (
    CENTRAL_AFTER_DPRD,
    DECIDED_AFTER_REQUEST,
    LEGAL_ORDER,
    PKS_AFTER_FRAMEWORK,
    POSSIBLE_DAY,
    WITHIN_FRAMEWORK,
)
from services.registry.domain.rules.documents import (
    ADDENDUM_CHANGES,
    ATTACHMENT_KIND,
    ATTACHMENT_KINDS,
    ATTACHMENT_NAME,
    CANCELLATION_REASON,
    FRAMEWORK_TYPE,
    FRAMEWORK_TYPES,
    IN_FORCE,
    NO_PKS_FOR_SINERGI,
    PKS_CONTENTS,
    PKS_KNOWN,
    REFERENCE_REQUIRED,
    URUSAN_REQUIRED,
    VALUE_NOT_NEGATIVE,
    WORK_PLAN_IN_FRAMEWORK,
    WORK_PLAN_ONLY_FOR_SINERGI,
)
from services.registry.domain.rules.lifecycle import (
    CANCEL_BEFORE_SIGNATURE,
    FAMILY_OPEN,
    FRAMEWORK_ENDS_LAST,
    PKS_DRAFT_OPEN,
    PKS_UNDER_SIGNED_FRAMEWORK,
    STAGE_REQUIRED,
)
from services.registry.domain.rules.offers import (
    ANSWERED_ONCE,
    INITIATOR_OFFERS,
    OFFER_ANSWER,
    OFFER_DIRECTION,
    RESPONDING_PARTY,
)
from services.registry.domain.rules.parties import (
    CENTRAL_RECORDED_NATIONALLY,
    PARTNER_TYPES,
    PARTY_ACTS,
    PKS_PARTIES,
    check_parties,
    check_wajib_adjacency,
    wajib_pair_allowed,
)
from services.registry.domain.rules.rule import text as _text
from services.registry.domain.rules.signatories import SIGNATORIES
from services.registry.domain.rules.terms import EXTENSION_LATER, PKS_TERM, VALID_PERIOD, add_years
from services.registry.domain.rules.vocabulary import (
    CLOSED,
    FOREIGN_FORMS,
    PKS_CLOSED,
    PKS_OPEN,
    SIGNED,
    Adjacency,
    Category,
    Form,
    FrameworkStage,
    OtherParty,
    Party,
    PksStage,
    RegionParty,
    Stage,
)
from services.registry.domain.wording import event_step_words, framework_words, pks_words
from shared.errors import KsdError
from shared.periods import local_date
from shared.tenancy import NATIONAL  # the national level's tenant (a constant; no I/O)

# What other modules import from here, the names moved to `rules/` included (re-exported).
__all__ = [
    "ATTACHMENT_KINDS", "CLOSED", "CORRECTABLE_FACTS", "FOREIGN_FORMS", "FRAMEWORK_TYPES", "PARTNER_TYPES",
    "PKS_CLOSED", "PKS_OPEN", "PKS_TRANSITIONS", "REASON_BURDENS", "REASON_FOREIGN", "REASON_NOT_BUDGETED",
    "REFERENCE_FACTS", "SIGNED", "TRANSITIONS", "Adjacency", "Agreement", "Category", "Form", "FrameworkStage",
    "OtherParty", "Party", "PksStage", "RegionParty", "Stage", "add_years", "check_parties", "check_wajib_adjacency",
    "corrected_step", "corrections_of", "dprd_reasons", "effective_events", "is_central_decision",
    "requires_dprd_approval", "wajib_pair_allowed",
]


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


def _iso(day: date) -> str:
    return day.isoformat()



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
            contract.apply(vars(agreement), self)

    class OfferResponseRecorded(Aggregate.Event):
        actor: dict[str, Any]
        party: str
        decision: str
        reference: str
        responded_on: str
        note: str | None
        stage: str

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

    class WorkPlanStarted(Aggregate.Event):
        actor: dict[str, Any]
        started_on: str
        note: str | None
        stage: str

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

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

        # A v1 event gets the reasons v1 meant: the v1 rule, frozen in the contract.
        upcast_v1_v2 = staticmethod(contract.upcast_pks_drafted_v1_v2)

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

    class Amended(Aggregate.Event):
        actor: dict[str, Any]
        document: str
        reference: str
        signed_on: str
        changes: str
        value_idr: int | None

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

    class Extended(Aggregate.Event):
        actor: dict[str, Any]
        document: str
        reference: str
        signed_on: str
        previous_end: str
        new_end: str
        exception_reference: str | None

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

    class DocumentAttached(Aggregate.Event):
        actor: dict[str, Any]
        document: str | None
        kind: str
        name: str
        size: int
        media_type: str
        sha256: str

        def apply(self, agreement: Agreement) -> None:
            contract.apply(vars(agreement), self)

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
            contract.apply(vars(agreement), self)

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
        # The facts `Started` begins a family with: the contract's one definition (its readers
        # build the same record from the same event).
        vars(self).update(contract.initial_facts(
            actor=actor, form=Form(form).value, category=Category(category).value if category else None,
            title=title, object=object, urusan=urusan, parties=parties, value_idr=value_idr,
            burdens_community=burdens_community, budgeted_in_apbd=budgeted_in_apbd, drafted_on=drafted_on,
        ))

    if TYPE_CHECKING:  # the state's attributes, as `__init__` and the events set them (for mypy
        # only: annotations in the class body would make them eventsourcing dataclass fields)
        form: str
        category: str | None
        title: str
        object: str
        urusan: list[str]
        parties: list[dict[str, Any]]
        value_idr: int | None
        burdens_community: bool
        budgeted_in_apbd: bool
        stage: str
        created_by: dict[str, Any]
        offer: dict[str, Any] | None
        responses: dict[str, dict[str, Any]]
        approvals: list[dict[str, Any]]
        framework: dict[str, Any] | None
        pks: list[dict[str, Any]]
        attachments: list[dict[str, Any]]
        cancellation: dict[str, Any] | None

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
        POSSIBLE_DAY.check(drafted_on, at, "persiapan kerja sama")
        URUSAN_REQUIRED.check(urusan)
        VALUE_NOT_NEGATIVE.check(value_idr)
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
        the order they must be obtained (`rules.approvals.required_approvals`)."""
        return approval_rules.required_approvals(self, document)

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
        # The central government's decision is recorded by the national level (Permendagri 25/2020).
        PARTY_ACTS.check(by.region, self.party_regions, by.region == NATIONAL and is_central_decision(command))
        FAMILY_OPEN.check(self.stage, command)
        handler(self, command, by, at, policy or Policy())

    def _submit_offer(self, c: SubmitOffer, by: Caller, at: datetime, policy: Policy) -> None:
        """Permendagri 22/2020: after preparation (studi kelayakan/KAK, TKKSD review) the
        initiator sends the offer letter; a third party's offer is recorded as received."""
        STAGE_REQUIRED.check(self.stage, Stage.PERSIAPAN, "Surat penawaran")
        INITIATOR_OFFERS.check(by.region, self.initiator)
        OFFER_DIRECTION.check(c.direction, all(p["kind"] == "region" for p in self.parties))
        POSSIBLE_DAY.check(c.sent_on, at, "surat penawaran")
        LEGAL_ORDER.check(c.sent_on, "surat penawaran", self._created_step(), framework=self._framework_words())
        self.trigger_event(
            self.OfferSubmitted, timestamp=at, actor=by.actor,
            reference=REFERENCE_REQUIRED.check(c.reference, "Surat penawaran"), sent_on=_iso(c.sent_on),
            direction=c.direction, note=_text(c.note), stage=Stage.PENAWARAN.value,
        )

    def _record_offer_response(self, c: RecordOfferResponse, by: Caller, at: datetime, policy: Policy) -> None:
        """Each partner answers the offer. A partner region records its own answer; the
        initiator records a non-region partner's. All accepted: the framework is drafted;
        one refusal: the cooperation is abandoned (DOMAIN.md, `penawaran`)."""
        STAGE_REQUIRED.check(self.stage, Stage.PENAWARAN, "Jawaban penawaran")
        partners = [k for k, p in zip(self.party_keys, self.parties, strict=True) if p["role"] == "partner"]
        others = [p["name"] for p in self.parties if p["kind"] == "other"]
        party = RESPONDING_PARTY.check(c.party, by.region, self.initiator, partners, others)
        ANSWERED_ONCE.check(party, self.responses)
        OFFER_ANSWER.check(c.decision)
        POSSIBLE_DAY.check(c.responded_on, at, "jawaban penawaran")
        LEGAL_ORDER.check(c.responded_on, "jawaban penawaran", self._offer_step(), framework=self._framework_words())
        if c.decision == "rejected":
            stage = Stage.DIBATALKAN
        elif set(partners) <= {*self.responses, party}:
            stage = Stage.PENYUSUNAN_KESEPAKATAN
        else:
            stage = Stage.PENAWARAN
        self.trigger_event(
            self.OfferResponseRecorded, timestamp=at, actor=by.actor, party=party, decision=c.decision,
            reference=REFERENCE_REQUIRED.check(c.reference, "Surat jawaban penawaran"),
            responded_on=_iso(c.responded_on), note=_text(c.note), stage=stage.value,
        )

    def _request_approval(self, c: RequestApproval, by: Caller, at: datetime, policy: Policy) -> None:
        """PP 28/2018 Pasal 9 and 12; Permendagri 25/2020: the region asks its DPRD (and,
        for the foreign forms, then the central government) to approve the draft."""
        pks_stage = APPROVAL_TARGET.check(self, c.kind, c.document, by.region)
        REQUESTED_ONCE.check(self.approval_status(c.kind, c.document, by.region))
        if c.kind == "central":
            DPRD_BEFORE_CENTRAL.check(c.kind, self.approval_status("dprd", c.document, by.region))
            CENTRAL_AFTER_DPRD.check(c.requested_on, self._latest_approval("dprd", c.document, by.region))
        POSSIBLE_DAY.check(c.requested_on, at, "permohonan persetujuan")
        # A draft is approved only once it exists: the PKS's draft, or the framework's,
        # drafted once every partner accepted the offer.
        LEGAL_ORDER.check(
            c.requested_on, "permohonan persetujuan", self._draft_step(c.document), framework=self._framework_words()
        )
        reasons = next(r for k, region, r in self.required_approvals(c.document) if (k, region) == (c.kind, by.region))
        self.trigger_event(
            self.ApprovalRequested, timestamp=at, actor=by.actor, kind=c.kind, document=c.document,
            region=by.region, reasons=tuple(reasons),
            reference=REFERENCE_REQUIRED.check(c.reference, "Surat permohonan"), requested_on=_iso(c.requested_on),
            pks_stage=PksStage.MENUNGGU_PERSETUJUAN_DPRD.value if pks_stage is not None else None,
        )

    def _record_approval(self, c: RecordApproval, by: Caller, at: datetime, policy: Policy) -> None:
        """Who decides records the decision: a region records its own DPRD's decision on its
        own request (a counterpart region its own DPRD's); the central government's decision
        (Mendagri, for KSDPL and KSDLL) is recorded by the national level, never by the
        region it concerns (DOMAIN.md). A rejected PKS goes back to drafting."""
        if c.kind == "central":
            CENTRAL_RECORDED_NATIONALLY.check(
                by.region,
                "Keputusan persetujuan pemerintah pusat dicatat oleh tingkat nasional (Kemendagri), bukan oleh "
                "daerah yang memohonnya; daerah mencatat permohonannya.",
            )
        # The central decision answers the initiator's request (the region that asked).
        region = self.initiator if c.kind == "central" else by.region
        pks_stage = APPROVAL_TARGET.check(self, c.kind, c.document, region)
        record = DECISION_ON_REQUEST.check(self._pending_approval(c.kind, c.document, region))
        APPROVAL_DECISION.check(c.decision)
        POSSIBLE_DAY.check(c.decided_on, at, "keputusan persetujuan")
        DECIDED_AFTER_REQUEST.check(c.decided_on, record)
        new_pks_stage = None
        if pks_stage is not None and c.decision == "rejected":
            new_pks_stage = PksStage.PENYUSUNAN.value
        self.trigger_event(
            self.ApprovalRecorded, timestamp=at, actor=by.actor, kind=c.kind, document=c.document,
            region=region, decision=c.decision,
            reference=REFERENCE_REQUIRED.check(c.reference, "Keputusan persetujuan"),
            decided_on=_iso(c.decided_on), note=_text(c.note), pks_stage=new_pks_stage,
        )

    def _sign_framework(self, c: SignFramework, by: Caller, at: datetime, policy: Policy) -> None:
        """The framework (KB; MoU/LoI for the foreign forms; NK for SINERGI) is signed by
        the heads of region only (Permendagri 22/2020), after every approval it needs."""
        STAGE_REQUIRED.check(self.stage, Stage.PENYUSUNAN_KESEPAKATAN, "Penandatanganan kesepakatan")
        APPROVALS_BEFORE_SIGNATURE.check(self.missing_approvals(FRAMEWORK), self.approvals, FRAMEWORK, c.signed_on)
        LEGAL_ORDER.check(
            c.signed_on, f"penandatanganan {self._framework_words()}", self._draft_step(FRAMEWORK),
            framework=self._framework_words(),
        )
        form = Form(self.form)
        doc_type = FRAMEWORK_TYPE.check(form, c.document_type)
        plan = tuple(t for t in (_text(x) for x in c.rencana_kerja) if t)
        WORK_PLAN_IN_FRAMEWORK.check(form, plan)
        POSSIBLE_DAY.check(c.signed_on, at, "penandatanganan")
        VALID_PERIOD.check(c.valid_from, c.valid_until)
        signatories = SIGNATORIES.check(c.signatories, self.party_keys, set(self.party_regions), framework=True)
        stage = Stage.KESEPAKATAN_DITANDATANGANI
        self.trigger_event(
            self.FrameworkSigned, timestamp=at, actor=by.actor, document_type=doc_type,
            number=REFERENCE_REQUIRED.check(c.number, "Naskah kesepakatan"), signed_on=_iso(c.signed_on),
            valid_from=_iso(c.valid_from), valid_until=_iso(c.valid_until), signatories=signatories,
            rencana_kerja=plan, stage=stage.value,
        )

    def _start_work_plan(self, c: StartWorkPlan, by: Caller, at: datetime, policy: Policy) -> None:
        """SINERGI has no PKS: implementation starts when the NK's rencana kerja runs."""
        WORK_PLAN_ONLY_FOR_SINERGI.check(Form(self.form))
        STAGE_REQUIRED.check(self.stage, Stage.KESEPAKATAN_DITANDATANGANI, "Pelaksanaan rencana kerja")
        POSSIBLE_DAY.check(c.started_on, at, "mulai pelaksanaan")
        LEGAL_ORDER.check(
            c.started_on, "mulai pelaksanaan", self._signed_step(FRAMEWORK), framework=self._framework_words()
        )
        self.trigger_event(
            self.WorkPlanStarted, timestamp=at, actor=by.actor, started_on=_iso(c.started_on),
            note=_text(c.note), stage=Stage.PELAKSANAAN.value,
        )

    def _draft_pks(self, c: DraftPks, by: Caller, at: datetime, policy: Policy) -> None:
        """A PKS is drafted only under a signed framework (Permendagri 22/2020); SINERGI
        has none."""
        NO_PKS_FOR_SINERGI.check(Form(self.form))
        PKS_UNDER_SIGNED_FRAMEWORK.check(self.stage)
        parties = PKS_PARTIES.check(c.parties, self.party_keys, by.region)
        VALUE_NOT_NEGATIVE.check(c.value_idr)
        title, obj = _text(c.title), _text(c.object)
        PKS_CONTENTS.check(title, obj)
        burdens = self.burdens_community if c.burdens_community is None else c.burdens_community
        budgeted = self.budgeted_in_apbd if c.budgeted_in_apbd is None else c.budgeted_in_apbd
        drafted_on = c.drafted_on or local_date(at)  # none stated: the day it is recorded, in WIB
        POSSIBLE_DAY.check(drafted_on, at, "penyusunan PKS")
        LEGAL_ORDER.check(drafted_on, "penyusunan PKS", self._signed_step(FRAMEWORK), framework=self._framework_words())
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
        pks = PKS_KNOWN.check(self, c.pks)
        PKS_DRAFT_OPEN.check(c.pks, pks)
        APPROVALS_BEFORE_SIGNATURE.check(self.missing_approvals(c.pks), self.approvals, c.pks, c.signed_on)
        PKS_AFTER_FRAMEWORK.check(c.pks, c.signed_on, self.framework, self._framework_words())
        LEGAL_ORDER.check(
            c.signed_on, f"penandatanganan {pks_words(c.pks)}", self._draft_step(c.pks),
            framework=self._framework_words(),
        )
        POSSIBLE_DAY.check(c.signed_on, at, "penandatanganan")
        PKS_TERM.check(c.start_on, c.end_on, c.exception_reference, policy)
        WITHIN_FRAMEWORK.check(
            self.framework, c.pks, c.start_on, c.end_on, c.exception_reference, self._framework_words()
        )
        signatories = SIGNATORIES.check(c.signatories, pks["parties"], set(self.party_regions), framework=False)
        self.trigger_event(
            self.PksSigned, timestamp=at, actor=by.actor, pks_id=c.pks,
            number=REFERENCE_REQUIRED.check(c.number, "PKS"), signed_on=_iso(c.signed_on),
            start_on=_iso(c.start_on), end_on=_iso(c.end_on), signatories=signatories,
            exception_reference=_text(c.exception_reference), pks_stage=PksStage.DITANDATANGANI.value,
            stage=Stage.PELAKSANAAN.value,
        )

    def _amend(self, c: Amend, by: Caller, at: datetime, policy: Policy) -> None:
        """A signed document is never silently changed: every change after signature is an
        addendum by mutual consent, with its number (DOMAIN.md)."""
        IN_FORCE.check(self, c.document, "Addendum")
        POSSIBLE_DAY.check(c.signed_on, at, "addendum")
        LEGAL_ORDER.check(c.signed_on, "addendum", self._signed_step(c.document), framework=self._framework_words())
        changes = _text(c.changes)
        ADDENDUM_CHANGES.check(changes)
        VALUE_NOT_NEGATIVE.check(c.value_idr)
        self.trigger_event(
            self.Amended, timestamp=at, actor=by.actor, document=c.document,
            reference=REFERENCE_REQUIRED.check(c.reference, "Addendum"), signed_on=_iso(c.signed_on),
            changes=changes, value_idr=c.value_idr,
        )

    def _extend(self, c: Extend, by: Caller, at: datetime, policy: Policy) -> None:
        """An extension (perpanjangan) is its own step, agreed by the parties, with its
        number; a PKS's new term is again at most `pks_max_years` unless excepted."""
        doc = IN_FORCE.check(self, c.document, "Perpanjangan")
        POSSIBLE_DAY.check(c.signed_on, at, "perpanjangan")
        LEGAL_ORDER.check(c.signed_on, "perpanjangan", self._signed_step(c.document), framework=self._framework_words())
        current_end = date.fromisoformat(doc["valid_until" if c.document == FRAMEWORK else "end_on"])
        EXTENSION_LATER.check(current_end, c.new_end)
        if c.document != FRAMEWORK:
            PKS_TERM.check(current_end, c.new_end, c.exception_reference, policy)
            WITHIN_FRAMEWORK.check(
                self.framework, c.document, None, c.new_end, c.exception_reference, self._framework_words()
            )
        self.trigger_event(
            self.Extended, timestamp=at, actor=by.actor, document=c.document,
            reference=REFERENCE_REQUIRED.check(c.reference, "Perpanjangan"), signed_on=_iso(c.signed_on),
            previous_end=current_end.isoformat(), new_end=_iso(c.new_end),
            exception_reference=_text(c.exception_reference),
        )

    def _terminate(self, c: Terminate, by: Caller, at: datetime, policy: Policy) -> None:
        """PP 28/2018 Pasal 29: a document ends on one of the listed grounds. Ending the
        framework ends the family, once every PKS under it has ended."""
        IN_FORCE.check(self, c.document, "Pengakhiran")
        POSSIBLE_DAY.check(c.terminated_on, at, "pengakhiran")
        LEGAL_ORDER.check(
            c.terminated_on, "pengakhiran", self._signed_step(c.document), framework=self._framework_words()
        )
        ending = PksStage.BERAKHIR if c.ground in NATURAL_ENDINGS else PksStage.DIPUTUS
        stage = Stage(self.stage)
        if c.document == FRAMEWORK:
            FRAMEWORK_ENDS_LAST.check(self.pks)
            stage = Stage.BERAKHIR
        self.trigger_event(
            self.Terminated, timestamp=at, actor=by.actor, document=c.document, ground=c.ground.value,
            reference=REFERENCE_REQUIRED.check(c.reference, "Pengakhiran"), terminated_on=_iso(c.terminated_on),
            note=_text(c.note), document_stage=ending.value, stage=stage.value,
        )

    def _cancel(self, c: Cancel, by: Caller, at: datetime, policy: Policy) -> None:
        """A cooperation may be abandoned only before its framework is signed; after that
        it ends by termination. An unsigned PKS draft may be abandoned at any time."""
        reason = _text(c.reason)
        CANCELLATION_REASON.check(reason)
        pks = None if c.document is None else PKS_KNOWN.check(self, c.document)
        CANCEL_BEFORE_SIGNATURE.check(self.stage, c.document, pks)
        stage = Stage.DIBATALKAN if c.document is None else Stage(self.stage)
        cancelled_on = c.cancelled_on or local_date(at)  # none stated: the day it is recorded, in WIB
        POSSIBLE_DAY.check(cancelled_on, at, "pembatalan")
        earlier = self._draft_step(c.document) if c.document else self._last_step_before_signature()
        LEGAL_ORDER.check(cancelled_on, "pembatalan", earlier, framework=self._framework_words())
        self.trigger_event(
            self.Cancelled, timestamp=at, actor=by.actor, document=c.document, reason=reason,
            reference=_text(c.reference), stage=stage.value, cancelled_on=_iso(cancelled_on),
        )

    def _attach_document(self, c: AttachDocument, by: Caller, at: datetime, policy: Policy) -> None:
        """Supporting and signed documents are kept with the family (by content hash)."""
        ATTACHMENT_KIND.check(c.kind)
        if c.document is not None and c.document != FRAMEWORK:
            PKS_KNOWN.check(self, c.document)
        name = _text(c.name)
        ATTACHMENT_NAME.check(name)
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
        CORRECTION_REASON.check(reason)
        target = KNOWN_VERSION.check(history, c.version)
        if isinstance(target, Agreement.Corrected):
            step_version, allowed = target.step_version, frozenset(target.changes)
        else:
            step_version, allowed = c.version, CORRECTABLE_FACTS.get(type(target).__name__, frozenset())
        step = history[step_version - 1]
        kind = type(step).__name__
        named = f"Langkah ke-{c.version} ({event_step_words(kind, self._framework_words())})"
        CORRECTABLE_STEP.check(allowed, named)
        CORRECTION_CHANGES.check(c.changes)
        RECORDED_FACTS.check(c.changes, allowed, named)
        if isinstance(step, Agreement.ApprovalRecorded) and step.kind == "central":
            CENTRAL_RECORDED_NATIONALLY.check(
                by.region,
                "Keputusan persetujuan pemerintah pusat diralat oleh tingkat nasional (Kemendagri), yang mencatatnya.",
            )
        elif isinstance(step, Agreement.ApprovalRequested | Agreement.ApprovalRecorded):
            DPRD_CORRECTED_BY_ITS_REGION.check(by.region, step.region)
        corrected = corrections_of(history)
        now = {**vars(step), **corrected.get(step_version, {})}
        changes = {name: CORRECTED_FACT.check(name, value) for name, value in c.changes.items()}
        changes = {name: value for name, value in changes.items() if now.get(name) != value}
        SOMETHING_CHANGES.check(changes)
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
                        POSSIBLE_DAY.check(_day_of(f["drafted_on"]), event.timestamp, "persiapan kerja sama")
                    VALUE_NOT_NEGATIVE.check(f.get("value_idr"))
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

    # -- facts the rules are given ------------------------------------------------------------

    def _framework_words(self) -> str:
        """The framework document's name, as the refusals write it (`Kesepakatan Bersama`)."""
        form = Form(self.form)
        return framework_words((self.framework or {}).get("type"), form in FOREIGN_FORMS, form is Form.SINERGI)

    # The dated step another must follow (`rules.dates`): the start, the offer, a draft, a signature.

    def _created_step(self) -> tuple[str, str] | None:
        return date_rules.created_step(self)

    def _offer_step(self) -> tuple[str, str] | None:
        return date_rules.offer_step(self)

    def _draft_step(self, document: str) -> tuple[str, str] | None:
        return date_rules.draft_step(self, document)

    def _signed_step(self, document: str) -> tuple[str, str] | None:
        return date_rules.signed_step(self, document)

    def _last_step_before_signature(self) -> tuple[str, str] | None:
        return date_rules.last_step_before_signature(self)

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
