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

from services.registry.contract import legal_date
from services.registry.domain.agreement import Agreement, effective_events

# The step dates (`legal_date`, its STEP_DATE table) are the contract's: one definition, for
# the registry and its readers. Corrections (ralat): `effective_events` gives the history as
# its facts stand now, each corrected step carrying its corrected facts (its date included),
# so a step counts at its corrected legal date.


def state_on(events: Iterable[Agreement.Event], on: date) -> Agreement | None:
    """The agreement as in force on `on`, from `events` (one agreement's history in version
    order, as far as it is known): every step whose legal date is on or before `on`, applied
    in the order they were recorded, with the facts corrections gave them. None: the
    cooperation was not yet started on that day."""
    agreement: Agreement | None = None
    for event in effective_events(events):
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
