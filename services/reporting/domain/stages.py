"""When each stage of a cooperation began: what a report needs to judge a period by the
period (an agreement counts by the stage it was in at the period's end, not by today's).

The reporting read model keeps one row per stage an agreement entered (services/reporting/
views.py, `agreement_stages`): which stage, the version of the event that moved it there, and
the day it legally did. The day comes from the agreement's own facts as its state holds them
now (`stage_dates`), so a correction of a recorded date moves the row too; failing that, from
the event's own legal date (the registry contract's `legal_date`: its step date, else the day
it was recorded, in WIB).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from shared.periods import Period, day_of


def stage_dates(state: Mapping[str, Any]) -> dict[str, date]:
    """The day the family entered each stage, as its facts say now (corrections included):
    penawaran when the offer was sent, penyusunan_kesepakatan when the last partner accepted,
    kesepakatan_ditandatangani when the framework was signed, pelaksanaan when the work plan
    started or the first PKS was signed, berakhir and dibatalkan when the family ended.
    Stages the facts do not date (persiapan) are absent."""
    dates: dict[str, date | None] = {}
    offer = state.get("offer") or {}
    dates["penawaran"] = day_of(offer.get("sent_on"))
    accepted = [day_of(r.get("responded_on")) for r in (state.get("responses") or {}).values()
                if r.get("decision") == "accepted"]
    dates["penyusunan_kesepakatan"] = max((d for d in accepted if d), default=None)
    framework = state.get("framework") or {}
    dates["kesepakatan_ditandatangani"] = day_of(framework.get("signed_on"))
    began = [day_of(framework.get("work_plan_started_on")),
             *(day_of(p.get("signed_on")) for p in state.get("pks") or [])]
    dates["pelaksanaan"] = min((d for d in began if d), default=None)
    ended = day_of(state.get("ended_on"))
    dates["berakhir"] = dates["dibatalkan"] = ended
    return {stage: day for stage, day in dates.items() if day is not None}


def judged_on(period: Period, today: date) -> date:
    """The day a report judges the agreements by: the period's last day, or today while the
    period is still running."""
    return min(period.end, today)
