"""Judging a period by the period: when each stage began (from the facts, else the event's
legal date, else the day it was recorded), the day a period is judged by, and documents as
they stood then (services/reporting/domain/stages.py, compile.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from services.monitoring.domain.alerts import Thresholds
from services.registry.contract import legal_date
from services.reporting.domain.compile import Facts, Rules, compile_region_report
from services.reporting.domain.stages import judged_on, stage_dates
from shared.periods import Period
from shared.regions import load_regions
from tests.unit.lifecycle import KOTA, to_signed

REGIONS = load_regions()
S1 = Period(2026, 1)


def test_an_events_legal_date_is_the_day_its_step_happened_not_the_day_it_was_recorded() -> None:
    recorded = datetime(2026, 7, 6, 2, 0, tzinfo=UTC)
    assert legal_date(SimpleNamespace(terminated_on="2026-06-20", timestamp=recorded)) == date(2026, 6, 20)
    # A date the other steps do not name yet still dates the step; validity bounds never do.
    assert legal_date(SimpleNamespace(approved_on="2026-05-02", valid_until="2030-12-31",
                                      timestamp=recorded)) == date(2026, 5, 2)
    # No date at all: the day it was recorded, in WIB (23:30 UTC is the next morning in Jakarta).
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert legal_date(SimpleNamespace(reason="Anggaran dialihkan", valid_from="2026-01-01", timestamp=late)) \
        == date(2026, 7, 1)


def test_each_stage_begins_on_the_day_the_facts_say() -> None:
    state: dict[str, Any] = {
        "offer": {"sent_on": "2026-01-12"},
        "responses": {"32.04": {"decision": "accepted", "responded_on": "2026-02-03"},
                      "32.77": {"decision": "accepted", "responded_on": "2026-02-10"}},
        "framework": {"signed_on": "2026-03-01", "work_plan_started_on": None},
        "pks": [{"signed_on": None}, {"signed_on": "2026-04-15"}, {"signed_on": "2026-04-01"}],
        "ended_on": "2026-09-30",
    }
    assert stage_dates(state) == {
        "penawaran": date(2026, 1, 12),
        "penyusunan_kesepakatan": date(2026, 2, 10),  # when the last partner accepted
        "kesepakatan_ditandatangani": date(2026, 3, 1),
        "pelaksanaan": date(2026, 4, 1),  # the first PKS signed
        "berakhir": date(2026, 9, 30), "dibatalkan": date(2026, 9, 30),
    }
    assert stage_dates({"offer": None, "responses": {}, "framework": None, "pks": []}) == {}


def test_a_period_is_judged_on_its_last_day_or_today_while_it_runs() -> None:
    assert judged_on(S1, date(2026, 8, 10)) == date(2026, 6, 30)
    assert judged_on(S1, date(2026, 5, 2)) == date(2026, 5, 2)


def test_a_report_shows_each_agreement_and_document_as_they_stood_at_the_periods_end() -> None:
    state = to_signed().to_state()  # framework signed 2026-05-20, valid until 2031-05-19
    framework = state["framework"]
    # After the period: extended in August, then terminated in September.
    framework["extensions"] = [{"reference": "EXT/1", "signed_on": "2026-08-01", "previous_end": "2031-05-19",
                                "new_end": "2033-05-19", "exception_reference": None}]
    framework["valid_until"] = "2033-05-19"
    framework["termination"] = {"ground": "para_pihak_sepakat", "reference": "BA/1", "terminated_on": "2026-09-01",
                                "note": None}
    framework["stage"], state["stage"], state["ended_on"] = "diputus", "berakhir", "2026-09-01"
    facts = Facts([state], stages={state["_id"]: "kesepakatan_ditandatangani"})
    content = compile_region_report(REGIONS.get(KOTA), S1, date(2026, 10, 1), facts, Rules(Thresholds()), REGIONS)
    [entry] = content["agreements"]
    assert content["judged_on"] == "2026-06-30"
    assert entry["stage"] == "kesepakatan_ditandatangani"
    assert content["summary"]["by_stage"] == {"kesepakatan_ditandatangani": 1}
    [doc] = entry["documents"]
    assert (doc["stage"], doc["valid_until"], doc["in_force"]) == ("ditandatangani", "2031-05-19", True)

    # Judged after the termination (2026-S2), it has ended.
    later = compile_region_report(REGIONS.get(KOTA), Period(2026, 2), date(2026, 10, 1), Facts([state]),
                                  Rules(Thresholds()), REGIONS)
    [doc] = later["agreements"][0]["documents"]
    assert (later["agreements"][0]["stage"], doc["stage"], doc["valid_until"]) == ("berakhir", "diputus", "2033-05-19")

    # A document signed after the period's end was no document of that period.
    assert compile_region_report(REGIONS.get(KOTA), Period(2025, 2), date(2026, 10, 1), facts, Rules(Thresholds()),
                                 REGIONS)["agreements"][0]["documents"] == []
