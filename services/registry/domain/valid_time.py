"""Valid time: the day each recorded step legally happened, and an agreement as it was in
force on a given day.

An event has two times. Its `timestamp` is when it was recorded (transaction time: what
`as_of` reads). The legal date it carries (`signed_on`, `terminated_on`, ...) is when the
step happened (valid time: what `on` reads). A step without a legal date of its own (an
attached document, a history recorded before dates were required) happened the day it was
recorded, in WIB.

`state_on` replays a history keeping only the steps in force on a day. The steps it skips
leave gaps in the version sequence; it steps over them the way a replay from a snapshot
steps over the versions the snapshot holds, so eventsourcing's own `mutate` still checks
each event belongs to the aggregate and still applies it through the domain's `apply`.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from services.registry.domain import agreement as _domain
from services.registry.domain.agreement import Agreement
from shared.periods import day_of, local_date

# Corrections (ralat): the history as its facts stand now, each corrected step carrying its
# corrected facts (its date included) and the corrections left out, so a step counts at its
# corrected legal date. Without corrections in the domain, the history as recorded.
_effective_events = getattr(_domain, "effective_events", list)

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


def recorded_on(event: Any) -> date:
    """The day an event was recorded (transaction time), in WIB."""
    return local_date(event.timestamp)


def legal_date(event: Any) -> date:
    """The day the step an event records legally happened (valid time): its legal date
    field, else the day it was recorded, in WIB."""
    name = STEP_DATE.get(type(event).__name__)
    if name is not None:
        day = day_of(getattr(event, name, None))
        if day is not None:
            return day
    elif type(event).__name__ != "DocumentAttached":
        for field, value in vars(event).items():
            if field.endswith("_on") and field not in VALIDITY_BOUNDS:
                day = day_of(value)
                if day is not None:
                    return day
    return recorded_on(event)


def state_on(events: Iterable[Agreement.Event], on: date) -> Agreement | None:
    """The agreement as in force on `on`, from `events` (one agreement's history in version
    order, as far as it is known): every step whose legal date is on or before `on`, applied
    in the order they were recorded, with the facts corrections gave them. None: the
    cooperation was not yet started on that day."""
    agreement: Agreement | None = None
    for event in _effective_events(events):
        if legal_date(event) > on:
            continue  # not yet in force on that day
        if agreement is None:
            if not isinstance(event, Agreement.Started):
                return None  # its start is after `on`: nothing of it was in force yet
            agreement = event.mutate(None)
            continue
        # Step over the versions skipped: those steps had not legally happened yet.
        agreement.version = event.originator_version - 1
        try:
            event.mutate(agreement)
        except (LookupError, StopIteration, TypeError):
            # A step that builds on one dated after `on` (only histories recorded before the
            # dates' order was enforced): it was not in force on that day either.
            continue
    return agreement
