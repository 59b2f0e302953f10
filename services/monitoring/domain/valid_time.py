"""Monitoring "as legally on a day" (valid time, `on`): what the health figures and lists
read when asked about a past day. Pure: no clock, no I/O.

The stage an agreement was in on a day comes from the read model's stage history
(`agreement_stages`, one row per stage change, dated by the registry's own legal dates:
the registry's contract: services/registry/contract.py). The documents the reporting rule reads (which PKS
was in force, until when) come from the agreement's dated facts as its state holds them now
(corrections included): a document signed after the day was not signed yet, a termination
or an extension signed after it had not happened yet.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from services.registry.contract import STEP_DATE
from shared.periods import WIB, day_of


def past_day(on: date | None, today: date) -> date | None:
    """The past day a question is answered for: `on` when before today; None (now) when
    absent, today or later (a future day is what is known now, as the registry answers it)."""
    return on if on is not None and on < today else None


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in WIB: what was recorded before it, was recorded by then."""
    return datetime.combine(day + timedelta(days=1), time(0), WIB)


def corrected_step_date(step: str, changes: Mapping[str, Any]) -> date | None:
    """The new legal date a correction (ralat) gives the step it corrects, if it changes it."""
    field = STEP_DATE.get(step)
    return day_of(changes.get(field)) if field else None


def _document_on(doc: dict[str, Any], valid_until: str, on: date) -> None:
    """Turn a signed document (in place) into what it was on `on`: in force (`ditandatangani`)
    unless terminated by then, valid until the end it had then (an extension signed later had
    not moved it yet)."""
    later = [e for e in doc.get("extensions") or [] if (day_of(e.get("signed_on")) or on) > on]
    if later:
        doc[valid_until] = min(later, key=lambda e: e["signed_on"])["previous_end"]
    terminated = day_of((doc.get("termination") or {}).get("terminated_on"))
    if terminated is None or terminated > on:
        doc["stage"] = "ditandatangani"
        doc["termination"] = None


def state_on(state: Mapping[str, Any], stage: str, on: date) -> dict[str, Any]:
    """An agreement's record (the registry contract's `fold`) as the monitoring rules read it on `on`:
    its stage then, and its framework and PKS as they stood then (signed after `on`: not yet
    signed)."""
    then = copy.deepcopy(dict(state))
    then["stage"] = stage
    framework = then.get("framework")
    if framework:
        signed = day_of(framework.get("signed_on"))
        if signed is None or signed > on:
            then["framework"] = None
        else:
            _document_on(framework, "valid_until", on)
    for pks in then.get("pks") or []:
        signed = day_of(pks.get("signed_on"))
        if signed is not None and signed <= on:
            _document_on(pks, "end_on", on)
        elif pks.get("stage") == "ditandatangani" or signed is not None:
            pks.update(stage="penyusunan", signed_on=None, start_on=None, end_on=None, termination=None)
    return then
