"""Compiling reports from facts: pure functions of agreement states, monitoring rows, the
period and the day. Agreement states come from the registry's own aggregate, driven by its
commands (tests/unit/lifecycle.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.monitoring.domain.alerts import Thresholds
from services.reporting.domain.compile import (
    ADDITIVE_FIGURES,
    REPORTED_FIGURES,
    Facts,
    Rules,
    compile_consolidation,
    compile_region_report,
    completeness,
    standing,
    summarise,
)
from shared.periods import Period
from shared.regions import load_regions
from tests.unit.lifecycle import DAY, KAB, KOTA, draft_pks, sign_pks, to_signed

REGIONS = load_regions()
RULES = Rules(Thresholds())
S1, S2, YEAR = Period(2026, 1), Period(2026, 2), Period(2026)


def implemented(start_on: date = date(2026, 1, 1), end_on: date = date(2027, 12, 31)) -> dict[str, Any]:
    agreement = to_signed()
    pks = draft_pks(agreement, drafted_on=DAY)
    # The PKS may start before its framework (signed on DAY) only on an exception's ground.
    sign_pks(agreement, pks, start_on=start_on, end_on=end_on, exception_reference="Pengecualian/1")
    return agreement.to_state()


def progress(state: dict, region: str, period: str, planned: int = 100, realised: int = 80, **content: Any) -> dict:
    return {"agreement_id": state["_id"], "region": region, "period": period, "version": 1,
            "filed_at": "2026-07-02T01:00:00+00:00",
            "content": {"activities": [{"name": "Rapat"}], "budget": {"planned_idr": planned, "realised_idr": realised},
                        "indicators": [{"name": "Sampah", "unit": "ton", "target": 10, "achieved": 8}], **content}}


def evaluation(state: dict, period: str, recommendation: str = "dilanjutkan") -> dict:
    return {"agreement_id": state["_id"], "period": period, "evaluator": "32", "version": 1,
            "recorded_at": "2026-07-02T01:00:00+00:00",
            "content": {"score": 80, "recommendation": recommendation, "findings": "Baik",
                        "evaluated_on": "2026-07-01"}}


def compile_for(region: str, period: Period, today: date, facts: Facts) -> dict[str, Any]:
    return compile_region_report(REGIONS.get(region), period, today, facts, RULES, REGIONS)


def test_a_semester_report_counts_the_regions_own_progress_in_that_semester() -> None:
    state = implemented()
    facts = Facts([state], progress=[progress(state, KOTA, "2026-S1", 1_000, 750), progress(state, KAB, "2026-S1"),
                                     progress(state, KOTA, "2025-S2", 5, 5)])
    [entry] = compile_for(KOTA, S1, date(2026, 7, 10), facts)["agreements"]
    assert [p["period"] for p in entry["progress"]] == ["2026-S1"]
    assert (entry["budget_planned_idr"], entry["budget_realised_idr"]) == (1_000, 750)
    assert (entry["progress_due"], entry["progress_missing"]) == (["2026-S1"], [])
    assert [p["name"] for p in entry["partners"]] == ["Kabupaten Bandung"]


def test_an_annual_report_covers_both_semesters_and_says_which_is_missing() -> None:
    state = implemented()
    facts = Facts([state], progress=[progress(state, KAB, "2026-S1")])
    [entry] = compile_for(KAB, YEAR, date(2027, 1, 10), facts)["agreements"]
    assert (entry["progress_due"], entry["progress_missing"]) == (["2026-S1", "2026-S2"], ["2026-S2"])


def test_a_pks_that_began_mid_semester_owes_no_report_for_it() -> None:
    state = implemented(start_on=date(2026, 3, 1))
    [entry] = compile_for(KOTA, S1, date(2026, 7, 10), Facts([state]))["agreements"]
    assert entry["progress_due"] == [] and entry["progress_missing"] == []


def test_evaluations_covering_the_period_are_reported() -> None:
    state = implemented()
    facts = Facts([state], evaluations=[evaluation(state, "2026-S1"), evaluation(state, "2026", "diperluas"),
                                        evaluation(state, "2026-S2", "dihentikan"), evaluation(state, "2025")])
    report = compile_for(KOTA, S1, date(2026, 7, 10), facts)
    assert [e["period"] for e in report["agreements"][0]["evaluations"]] == ["2026", "2026-S1"]
    assert report["summary"]["recommendations"] == {"dilanjutkan": 1, "diperluas": 1}


def test_alerts_are_those_the_monitoring_rules_raise_on_the_day() -> None:
    state = implemented()
    # No progress for 2026-S1 from either party: due 30 July, alert from 31 July.
    before = compile_for(KOTA, S1, date(2026, 7, 30), Facts([state]))
    after = compile_for(KOTA, S1, date(2026, 7, 31), Facts([state]))
    assert before["agreements"][0]["alerts"] == []
    [alert] = after["agreements"][0]["alerts"]
    assert (alert["kind"], alert["since"]) == ("pks_without_progress", "2026-07-31")
    assert after["summary"]["alerts_by_kind"] == {"pks_without_progress": 1}


def test_a_region_without_active_cooperation_with_a_neighbour_gets_the_region_alert() -> None:
    signed = to_signed().to_state()  # Kota Bandung with Kabupaten Bandung, neighbours
    assert compile_for(KOTA, S1, date(2026, 7, 10), Facts([signed]))["region_alerts"] == []
    # Kota Surabaya's only agreement is with Kota Bandung, far away.
    far = dict(signed, parties=[{"kind": "region", "role": "initiator", "region": "35.78"},
                                {"kind": "region", "role": "partner", "region": KOTA}])
    [alert] = compile_for("35.78", S1, date(2026, 7, 10), Facts([far]))["region_alerts"]
    assert alert["kind"] == "no_neighbour_cooperation" and alert["regions"] == ["35.78"]


def test_the_consolidation_lists_every_regency_with_its_standing() -> None:
    province = REGIONS.get("34")
    regencies = [r for r in REGIONS.in_province("34") if r.autonomous]
    row = {"id": "00000000-0000-0000-0000-000000000001", "revision": 1, "first_on_time": True,
           "first_submitted_on": date(2026, 7, 10), "last_submitted_on": date(2026, 7, 10),
           "summary": dict.fromkeys(REPORTED_FIGURES, 2)}
    reports = {"34.71": row, "34.01": {**row, "first_on_time": False, "revision": 2}, "34.03": {**row, "revision": 0}}
    own = {"summary": {}, "agreements": []}
    content = compile_consolidation(province, S1, date(2026, 8, 20), date(2026, 7, 30), regencies, reports, own, {})
    assert {r["code"]: r["status"] for r in content["regions"]} == {
        "34.01": "terlambat", "34.02": "belum_menyampaikan", "34.03": "belum_menyampaikan",
        "34.04": "belum_menyampaikan",
        "34.71": "tepat_waktu"}
    assert content["completeness"] == {"regions": 5, "tepat_waktu": 1, "terlambat": 1, "belum_menyampaikan": 3,
                                       "submitted": 2, "share_submitted": 0.4, "share_on_time": 0.2}
    # Figures of shared agreements are not added across regions; each region's own budget is.
    assert content["reported_totals"] == dict.fromkeys(ADDITIVE_FIGURES, 4)
    assert "agreements" not in content["reported_totals"] and "value_idr" not in content["reported_totals"]
    assert content["own_report"]["status"] == "belum_menyampaikan"


def test_standing_of_no_report_is_not_submitted() -> None:
    assert standing(None)["status"] == "belum_menyampaikan" and standing(None)["revision"] == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["tepat_waktu", "terlambat", "belum_menyampaikan"]), max_size=40))
def test_completeness_adds_up(statuses: list[str]) -> None:
    c = completeness(statuses)
    assert c["tepat_waktu"] + c["terlambat"] + c["belum_menyampaikan"] == c["regions"] == len(statuses)
    assert c["submitted"] == c["tepat_waktu"] + c["terlambat"]
    assert c["share_submitted"] == (round(c["submitted"] / len(statuses), 4) if statuses else None)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 10**12), st.booleans()), min_size=1, max_size=6))
def test_a_summary_is_the_sum_of_its_agreements(budgets: list[tuple[int, int, bool]]) -> None:
    entries = []
    for planned, realised, filed in budgets:
        state = implemented()
        rows = [progress(state, KOTA, "2026-S1", planned, realised)] if filed else []
        entries += compile_for(KOTA, S1, date(2026, 7, 10), Facts([state], progress=rows))["agreements"]
    summary = summarise(entries)
    assert summary["agreements"] == len(budgets)
    assert summary["budget_planned_idr"] == sum(p for p, _, f in budgets if f)
    assert summary["budget_realised_idr"] == sum(r for _, r, f in budgets if f)
    assert summary["progress_expected"] == len(budgets)
    assert summary["progress_reported"] == sum(1 for *_, f in budgets if f)
    assert summary["value_idr"] == 1_000_000_000 * len(budgets)


def test_documents_are_judged_in_force_during_the_period_not_on_the_day_of_compiling() -> None:
    state = implemented(start_on=date(2026, 1, 1), end_on=date(2026, 6, 30))  # a PKS for the first half only
    s1 = compile_for(KOTA, S1, date(2026, 11, 1), Facts([state]))
    s2 = compile_for(KOTA, S2, date(2026, 11, 1), Facts([state]))
    assert [d["in_force"] for d in s1["agreements"][0]["documents"]] == [True, True]
    assert [d["in_force"] for d in s2["agreements"][0]["documents"]] == [True, False]  # the framework runs on
    assert (s1["summary"]["pks_in_force"], s2["summary"]["pks_in_force"]) == (1, 0)


def test_a_pks_terminated_after_the_period_still_owed_its_report() -> None:
    agreement = to_signed()
    pks = draft_pks(agreement, drafted_on=DAY)
    sign_pks(agreement, pks, start_on=date(2026, 1, 1), end_on=date(2027, 12, 31),
             exception_reference="Pengecualian/1")
    from datetime import UTC, datetime

    from services.registry.domain import commands as c
    from tests.unit.lifecycle import caller

    agreement.execute(c.Terminate(pks, c.Ground.WANPRESTASI, "Putus/1", date(2026, 7, 5)), by=caller(KOTA),
                      at=datetime(2026, 7, 6, tzinfo=UTC))
    [entry] = compile_for(KOTA, S1, date(2026, 8, 1), Facts([agreement.to_state()]))["agreements"]
    assert (entry["progress_due"], entry["progress_missing"]) == (["2026-S1"], ["2026-S1"])
    [later] = compile_for(KOTA, S2, date(2027, 1, 10), Facts([agreement.to_state()]))["agreements"]
    assert later["progress_due"] == []  # it ended in July: no whole semester in S2


def test_a_past_periods_region_alert_is_judged_on_the_periods_last_day() -> None:
    """QA: Kota Bandung's 2026-S1 report, compiled in December, listed the no-neighbour alert
    "since" the December day it was compiled; the partners it counts are those of 30 June."""
    signed = to_signed().to_state()
    far = dict(signed, parties=[{"kind": "region", "role": "initiator", "region": "35.78"},
                                {"kind": "region", "role": "partner", "region": KOTA}])
    [alert] = compile_for("35.78", S1, date(2026, 12, 6), Facts([far]))["region_alerts"]
    assert alert["kind"] == "no_neighbour_cooperation" and alert["since"] <= "2026-06-30"
