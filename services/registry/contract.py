"""The registry's published contract: its events, as other services may read them.

This module is the registry's only surface for the other services (import-linter holds them
to it). It imports nothing of the registry's own code, so a reader never loads the aggregate.

- The events: one plain class per kind (`Started`, `OfferSubmitted`, ... `Corrected`), the
  fields each stores and nothing else. Dates are ISO strings (`2026-06-30`); `timestamp` is
  when the event was recorded (transaction time); the legal date of the step it records is
  `legal_date(event)` (valid time).
- `TOPICS`: the topic each was stored under. Stored topics never change; where the registry
  moves or renames its own classes, this table keeps reading the old topics.
- `Log`: an eventsourcing application that reads the registry's event log as these classes
  (`shared.feeds.contract_log`), for a projection runner.
- `fold`: the agreement record the events build, as plain JSON data: what a reader keeps of
  an agreement. The registry's own aggregate applies its events with the same functions
  (`apply`, `initial_facts`), so this is the one definition of what each event changes.

The record (`fold`'s result) holds, besides the facts below, `_id` (str), `_version` (int),
`_created_on` and `_modified_on` (ISO timestamps). Its keys: form, category, title, object,
urusan, parties ({kind, role, region | name, ...}), value_idr, burdens_community,
budgeted_in_apbd, stage, created_by, offer, responses, approvals, framework, pks,
attachments, cancellation; `drafted_on` when stated, `ended_on` once ended.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from shared.feeds import ContractEvent, contract_log
from shared.periods import day_of, local_date

__all__ = [
    "FRAMEWORK", "LOG_NAME", "SCHEMA", "STEP_DATE", "TOPICS", "VALIDITY_BOUNDS",
    "Amended", "ApprovalRecorded", "ApprovalRequested", "Cancelled", "Corrected", "DocumentAttached", "Event",
    "Extended", "FrameworkSigned", "Log", "OfferResponseRecorded", "OfferSubmitted", "PksDrafted", "PksSigned",
    "Started", "Terminated", "VersionGap", "WorkPlanStarted", "apply", "began_on", "fold", "initial_facts",
    "legal_date", "party_regions", "upcast_pks_drafted_v1_v2",
]

SCHEMA = "registry"  # the registry's tables live in this PostgreSQL schema
LOG_NAME = "registry"  # its application's name: its event log is the table `registry_events`

# What `document` names when an event concerns the framework (not one of its PKS).
FRAMEWORK = "framework"


class Event(ContractEvent, frozen=True, kw_only=True):
    """Any event of an agreement (a cooperation family). `actor`: who recorded it
    ({tenant, role, subject, ...})."""

    actor: dict[str, Any]


class Started(Event, frozen=True, kw_only=True):
    """A cooperation family was started (persiapan). `drafted_on`: the day it was prepared;
    none in histories recorded before it was asked for (then: the day it was recorded)."""

    form: str
    category: str | None
    title: str
    object: str
    urusan: tuple[str, ...]
    parties: tuple[dict[str, Any], ...]
    value_idr: int | None
    burdens_community: bool
    budgeted_in_apbd: bool
    drafted_on: str | None = None


class OfferSubmitted(Event, frozen=True, kw_only=True):
    """The initiator sent its offer (surat penawaran); `stage`: the family's stage after it."""

    reference: str
    sent_on: str
    direction: str
    note: str | None
    stage: str


class OfferResponseRecorded(Event, frozen=True, kw_only=True):
    """A partner answered the offer (`decision`: accepted or refused)."""

    party: str
    decision: str
    reference: str
    responded_on: str
    note: str | None
    stage: str


class ApprovalRequested(Event, frozen=True, kw_only=True):
    """An approval (`kind`: the DPRD's, or the central government's) was asked for a document."""

    kind: str
    document: str
    region: str
    reasons: tuple[str, ...]
    reference: str
    requested_on: str
    pks_stage: str | None


class ApprovalRecorded(Event, frozen=True, kw_only=True):
    """The approval's decision."""

    kind: str
    document: str
    region: str
    decision: str
    reference: str
    decided_on: str
    note: str | None
    pks_stage: str | None


class FrameworkSigned(Event, frozen=True, kw_only=True):
    """The framework document (Kesepakatan Bersama, MoU, ...) was signed."""

    document_type: str
    number: str
    signed_on: str
    valid_from: str
    valid_until: str
    signatories: tuple[dict[str, Any], ...]
    rencana_kerja: tuple[Any, ...]
    stage: str


class WorkPlanStarted(Event, frozen=True, kw_only=True):
    """A sinergi's work plan began (it has no PKS)."""

    started_on: str
    note: str | None
    stage: str


class PksDrafted(Event, frozen=True, kw_only=True):
    """A PKS was drafted under the framework. Stored in two versions: v1 (before commit
    8a999f2) did not record the DPRD reasons decided at drafting; `upcast_v1_v2` gives a v1
    event the reasons v1 meant."""

    class_version: ClassVar[int] = 2

    pks_id: str
    title: str
    object: str
    parties: tuple[Any, ...]
    value_idr: int | None
    burdens_community: bool
    budgeted_in_apbd: bool
    drafted_on: str
    dprd_reasons: tuple[str, ...]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        upcast_pks_drafted_v1_v2(state)


def upcast_pks_drafted_v1_v2(state: dict[str, Any]) -> None:
    """A v1 `PksDrafted` gets the DPRD reasons v1 meant. The v1 rule is frozen here, as it was
    at 8a999f2, not the live rule's call: the live rule may change, and the upcaster must
    still reproduce what the v1 history said. (The registry's aggregate upcasts with it too.)"""
    # Literals, not the rule's constants: v1's stored meaning, even if those change.
    reasons = []
    if state["burdens_community"]:
        reasons.append("membebani_masyarakat_dan_daerah")
    if not state["budgeted_in_apbd"]:
        reasons.append("belum_teranggarkan")
    state["dprd_reasons"] = reasons


class PksSigned(Event, frozen=True, kw_only=True):
    """A PKS was signed (`exception_reference`: the leave to end after its framework)."""

    pks_id: str
    number: str
    signed_on: str
    start_on: str
    end_on: str
    signatories: tuple[dict[str, Any], ...]
    exception_reference: str | None
    pks_stage: str
    stage: str


class Amended(Event, frozen=True, kw_only=True):
    """An addendum to a document (`document`: FRAMEWORK or a PKS id), maybe with a new value."""

    document: str
    reference: str
    signed_on: str
    changes: str
    value_idr: int | None


class Extended(Event, frozen=True, kw_only=True):
    """A document's term was extended."""

    document: str
    reference: str
    signed_on: str
    previous_end: str
    new_end: str
    exception_reference: str | None


class Terminated(Event, frozen=True, kw_only=True):
    """A document ended (`ground`: expired, agreed, ...); with the framework, the family."""

    document: str
    ground: str
    reference: str
    terminated_on: str
    note: str | None
    document_stage: str
    stage: str


class Cancelled(Event, frozen=True, kw_only=True):
    """The family (`document` None) or a PKS draft was abandoned before signature;
    `cancelled_on`: none in histories recorded before it was asked for."""

    document: str | None
    reason: str
    reference: str | None
    stage: str
    cancelled_on: str | None = None


class DocumentAttached(Event, frozen=True, kw_only=True):
    """A file was attached (its content is kept by the registry, addressed by `sha256`)."""

    document: str | None
    kind: str
    name: str
    size: int
    media_type: str
    sha256: str


class Corrected(Event, frozen=True, kw_only=True):
    """A correction (ralat) of the facts a recorded step stated. The step's event stays as it
    was recorded; this one names it (`step_version`, `step`: its kind), the facts it changes
    (`changes`: field -> new value; `previous`: what they were), and why. `effects`: what the
    correction changes in the record, decided when it was recorded ({path, value} or
    {path, remove}, a path into `fold`'s record), so a reader applies it without deciding."""

    corrects_version: int
    step_version: int
    step: str
    changes: dict[str, Any]
    previous: dict[str, Any]
    reason: str
    effects: tuple[dict[str, Any], ...]


_EVENTS: tuple[type[Event], ...] = (
    Started, OfferSubmitted, OfferResponseRecorded, ApprovalRequested, ApprovalRecorded, FrameworkSigned,
    WorkPlanStarted, PksDrafted, PksSigned, Amended, Extended, Terminated, Cancelled, DocumentAttached, Corrected,
)
# The topics the registry's events are stored under (its aggregate's nested classes).
TOPICS: dict[str, type[Event]] = {
    f"services.registry.domain.agreement:Agreement.{cls.__name__}": cls for cls in _EVENTS
}

Log = contract_log(LOG_NAME, TOPICS)


# -- valid time --------------------------------------------------------------------------------

# The field that dates the step each event records. Validity bounds (`valid_from`,
# `valid_until`, `start_on`, `end_on`, `new_end`) are not step dates: a PKS signed on
# 2026-03-01 for 2026-04-01..2027-03-31 exists (signed) from 2026-03-01.
STEP_DATE = {
    "Started": "drafted_on",
    "OfferSubmitted": "sent_on",
    "OfferResponseRecorded": "responded_on",
    "ApprovalRequested": "requested_on",
    "ApprovalRecorded": "decided_on",
    "FrameworkSigned": "signed_on",
    "WorkPlanStarted": "started_on",
    "PksDrafted": "drafted_on",
    "PksSigned": "signed_on",
    "Amended": "signed_on",
    "Extended": "signed_on",
    "Terminated": "terminated_on",
    "Cancelled": "cancelled_on",
}
# For an event this table does not know (a newer kind): its first `*_on` field that is not a
# validity bound.
VALIDITY_BOUNDS = frozenset({"valid_from", "valid_until", "start_on", "end_on"})


def _fields(event: Any) -> dict[str, Any]:
    names = getattr(type(event), "__struct_fields__", None)
    return {n: getattr(event, n) for n in names} if names is not None else vars(event)


def legal_date(event: Any) -> date:
    """The day the step an event records legally happened (valid time): its legal date
    field, else the day it was recorded (in WIB). Any event with these fields: this
    contract's classes, or the registry's own."""
    name = STEP_DATE.get(type(event).__name__)
    if name is not None:
        day = day_of(getattr(event, name, None))
        if day is not None:
            return day
    elif type(event).__name__ != "DocumentAttached":
        for field, value in _fields(event).items():
            if field.endswith("_on") and field not in VALIDITY_BOUNDS:
                day = day_of(value)
                if day is not None:
                    return day
    return local_date(event.timestamp)


# -- the record the events build ---------------------------------------------------------------

def initial_facts(
    *, actor: Mapping[str, Any], form: str, category: str | None, title: str, object: str,  # noqa: A002
    urusan: Sequence[str], parties: Sequence[Mapping[str, Any]], value_idr: int | None,
    burdens_community: bool, budgeted_in_apbd: bool, drafted_on: str | None = None,
) -> dict[str, Any]:
    """A family's facts as `Started` begins it (without `_id` and the times)."""
    facts: dict[str, Any] = {}
    if drafted_on is not None:  # records of histories recorded before it stay as they were
        facts["drafted_on"] = drafted_on
    facts.update(
        form=form, category=category, title=title, object=object, urusan=list(urusan),
        parties=[dict(p) for p in parties], value_idr=value_idr, burdens_community=burdens_community,
        budgeted_in_apbd=budgeted_in_apbd, stage="persiapan", created_by=dict(actor), offer=None, responses={},
        approvals=[], framework=None, pks=[], attachments=[], cancellation=None,
    )
    return facts


def _pks(record: dict[str, Any], pks_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in record["pks"] if p["id"] == pks_id)
    return found


def _document(record: dict[str, Any], document: str) -> dict[str, Any]:
    return record["framework"] if document == FRAMEWORK else _pks(record, document)


def _offer_submitted(r: dict[str, Any], e: Any) -> None:
    r["offer"] = {"reference": e.reference, "sent_on": e.sent_on, "direction": e.direction, "note": e.note,
                  "by": e.actor["tenant"]}
    r["stage"] = e.stage


def _offer_response_recorded(r: dict[str, Any], e: Any) -> None:
    r["responses"][e.party] = {
        "party": e.party, "decision": e.decision, "reference": e.reference, "responded_on": e.responded_on,
        "note": e.note, "recorded_by": e.actor["tenant"],
    }
    r["stage"] = e.stage
    if e.stage == "dibatalkan":  # a partner refused: the family ends that day
        # `ended_on` exists only once a family has ended, so every other record stays as it was.
        r["ended_on"] = e.responded_on


def _approval_requested(r: dict[str, Any], e: Any) -> None:
    r["approvals"].append({
        "kind": e.kind, "document": e.document, "region": e.region, "reasons": list(e.reasons),
        "request_reference": e.reference, "requested_on": e.requested_on, "decision": None,
        "decision_reference": None, "decided_on": None, "note": None,
    })
    if e.pks_stage:
        _pks(r, e.document)["stage"] = e.pks_stage


def _approval_recorded(r: dict[str, Any], e: Any) -> None:
    # The latest request of this approval, still undecided (the registry checked it exists).
    record = next(a for a in reversed(r["approvals"])
                  if (a["kind"], a["document"], a["region"]) == (e.kind, e.document, e.region))
    record.update(decision=e.decision, decision_reference=e.reference, decided_on=e.decided_on, note=e.note)
    if e.pks_stage:
        _pks(r, e.document)["stage"] = e.pks_stage


def _framework_signed(r: dict[str, Any], e: Any) -> None:
    r["framework"] = {
        "type": e.document_type, "stage": "ditandatangani", "number": e.number, "signed_on": e.signed_on,
        "valid_from": e.valid_from, "valid_until": e.valid_until, "signatories": [dict(s) for s in e.signatories],
        "rencana_kerja": list(e.rencana_kerja), "work_plan_started_on": None, "addenda": [], "extensions": [],
        "termination": None,
    }
    r["stage"] = e.stage


def _work_plan_started(r: dict[str, Any], e: Any) -> None:
    r["framework"]["work_plan_started_on"] = e.started_on
    r["stage"] = e.stage


def _pks_drafted(r: dict[str, Any], e: Any) -> None:
    r["pks"].append({
        "id": e.pks_id, "title": e.title, "object": e.object, "parties": list(e.parties), "stage": "penyusunan",
        "value_idr": e.value_idr, "burdens_community": e.burdens_community, "budgeted_in_apbd": e.budgeted_in_apbd,
        "dprd_reasons": list(e.dprd_reasons), "drafted_on": e.drafted_on, "number": None, "signed_on": None,
        "start_on": None, "end_on": None, "exception_reference": None, "signatories": [], "addenda": [],
        "extensions": [], "termination": None,
    })


def _pks_signed(r: dict[str, Any], e: Any) -> None:
    _pks(r, e.pks_id).update(
        number=e.number, signed_on=e.signed_on, start_on=e.start_on, end_on=e.end_on,
        signatories=[dict(s) for s in e.signatories], exception_reference=e.exception_reference, stage=e.pks_stage,
    )
    r["stage"] = e.stage


def _amended(r: dict[str, Any], e: Any) -> None:
    doc = _document(r, e.document)
    doc["addenda"].append({"reference": e.reference, "signed_on": e.signed_on, "changes": e.changes,
                           "value_idr": e.value_idr})
    if e.value_idr is not None:
        (r if e.document == FRAMEWORK else doc)["value_idr"] = e.value_idr


def _extended(r: dict[str, Any], e: Any) -> None:
    doc = _document(r, e.document)
    doc["extensions"].append({"reference": e.reference, "signed_on": e.signed_on, "previous_end": e.previous_end,
                              "new_end": e.new_end, "exception_reference": e.exception_reference})
    doc["valid_until" if e.document == FRAMEWORK else "end_on"] = e.new_end


def _terminated(r: dict[str, Any], e: Any) -> None:
    doc = _document(r, e.document)
    doc["termination"] = {"ground": e.ground, "reference": e.reference, "terminated_on": e.terminated_on,
                          "note": e.note}
    doc["stage"] = e.document_stage
    r["stage"] = e.stage
    if e.stage == "berakhir":
        r["ended_on"] = e.terminated_on


def _cancelled(r: dict[str, Any], e: Any) -> None:
    day = e.cancelled_on or local_date(e.timestamp).isoformat()
    record = {"reason": e.reason, "reference": e.reference, "by": e.actor["tenant"]}
    if e.cancelled_on is not None:  # records of older histories stay as they were
        record["cancelled_on"] = day
    if e.document is None:
        r["cancellation"] = record
        r["ended_on"] = day
    else:
        pks = _pks(r, e.document)
        pks["stage"] = "dibatalkan"
        pks["cancellation"] = record
    r["stage"] = e.stage


def _document_attached(r: dict[str, Any], e: Any) -> None:
    r["attachments"].append({
        "document": e.document, "kind": e.kind, "name": e.name, "size": e.size, "media_type": e.media_type,
        "sha256": e.sha256, "attached_at": e.timestamp.isoformat(), "attached_by": e.actor["tenant"],
    })


def _child(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
        return container[key]
    return None


def _corrected(r: dict[str, Any], e: Any) -> None:
    for effect in e.effects:
        head, *rest = effect["path"]
        if not rest:
            if effect.get("remove"):
                r.pop(head, None)
            else:
                r[head] = copy.deepcopy(effect["value"])
            continue
        container = r.get(head)
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
        # else: a record that lacks the step (one replayed in part, e.g. as in force on a day
        # before it): the correction has nothing to change there.


_APPLY: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "OfferSubmitted": _offer_submitted,
    "OfferResponseRecorded": _offer_response_recorded,
    "ApprovalRequested": _approval_requested,
    "ApprovalRecorded": _approval_recorded,
    "FrameworkSigned": _framework_signed,
    "WorkPlanStarted": _work_plan_started,
    "PksDrafted": _pks_drafted,
    "PksSigned": _pks_signed,
    "Amended": _amended,
    "Extended": _extended,
    "Terminated": _terminated,
    "Cancelled": _cancelled,
    "DocumentAttached": _document_attached,
    "Corrected": _corrected,
}


def apply(record: dict[str, Any], event: Any) -> None:
    """What a later event (any but `Started`) changes in an agreement's record, in place.
    `event`: this contract's class or the registry's own of the same name and fields."""
    _APPLY[type(event).__name__](record, event)


class VersionGap(LookupError):
    """An event that does not follow the record's version: one missed, or one seen twice."""


def fold(record: dict[str, Any] | None, event: Event) -> dict[str, Any]:
    """The agreement's record after `event`: a new one for `Started`, else `record` changed in
    place (and returned). Refuses an event that is not the record's next version."""
    if isinstance(event, Started):
        at = event.timestamp.isoformat()
        facts = initial_facts(
            actor=event.actor, form=event.form, category=event.category, title=event.title, object=event.object,
            urusan=event.urusan, parties=event.parties, value_idr=event.value_idr,
            burdens_community=event.burdens_community, budgeted_in_apbd=event.budgeted_in_apbd,
            drafted_on=event.drafted_on,
        )
        return {"_id": str(event.originator_id), "_version": event.originator_version, "_created_on": at,
                "_modified_on": at, **facts}
    if record is None or record["_version"] + 1 != event.originator_version:
        found = None if record is None else record["_version"]
        raise VersionGap(f"event version {event.originator_version} of {event.originator_id} after {found}")
    apply(record, event)
    record["_version"] = event.originator_version
    record["_modified_on"] = event.timestamp.isoformat()
    return record


def began_on(record: Mapping[str, Any]) -> date:
    """The first day the family existed: recorded, offered or signed, whichever came first (one
    entered after the fact has its real dates). What "alive in a period" starts from."""
    framework = record.get("framework") or {}
    stated = (framework.get("signed_on"), (record.get("offer") or {}).get("sent_on"))
    created = local_date(datetime.fromisoformat(record["_created_on"]))
    return min([created, *(date.fromisoformat(d) for d in stated if d)])


def party_regions(record: Mapping[str, Any]) -> list[str]:
    """The region codes among the record's parties, in their order (initiator first)."""
    return [p["region"] for p in record["parties"] if p["kind"] == "region"]
