"""Every analysis accepts `on` (issue 13, requirement 2): `cooperationStats`,
`cooperationNetwork` and `coverage` count each agreement by its stage on that day (its legal
dates, as known now), leave out those not yet begun, and judge "active" by that stage.
Without `on` they count today's stages, as before.

Jawa Barat (32), two cooperations of urusan 1.03:

- Angkutan sampah (Kota Bandung with Kab. Bandung): framework February, PKS March 2026
  (pelaksanaan through 2026-S1); ended in August;
- Air bersih (Kota Bandung with Kota Cimahi): framework March 2026; still in force.

Nothing had begun in January 2026.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

JABAR, KOTA_BANDUNG, KAB_BANDUNG, CIMAHI = "32", "32.73", "32.04", "32.77"
URUSAN = "1.03"
END_OF_S1, BEFORE_ANY = "2026-06-30", "2026-01-31"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2026, 1, 5)) as running:
        yield running


@pytest.fixture(scope="module")
def scenario(p: ReportingPlatform) -> dict[str, Any]:
    p.advance_to(date(2026, 2, 2))
    waste = p.start(KOTA_BANDUNG, [KAB_BANDUNG], title="Angkutan sampah", value_idr=900_000_000)
    p.sign_framework(waste, signed_on=p.today, valid_until=date(2030, 12, 31))
    p.advance_to(date(2026, 3, 2))
    p.sign_pks(waste, signed_on=p.today, start_on=p.today, end_on=date(2027, 12, 31))
    water = p.start(KOTA_BANDUNG, [CIMAHI], title="Air bersih", value_idr=500_000_000)
    p.sign_framework(water, signed_on=p.today, valid_until=date(2030, 12, 31))

    p.advance_to(date(2026, 8, 10))
    for pks in [x for x in waste["pks"] if x["stage"] == "ditandatangani"]:
        p.act(waste, "terminate", {"document": pks["id"], "ground": "tujuan_tercapai",
                                   "reference": "BA/PKS/selesai", "terminated_on": p.today.isoformat()}, KOTA_BANDUNG)
    p.act(waste, "terminate", {"document": "framework", "ground": "tujuan_tercapai",
                               "reference": "BA/KB/selesai", "terminated_on": p.today.isoformat()}, KOTA_BANDUNG)
    assert (waste["stage"], water["stage"]) == ("berakhir", "kesepakatan_ditandatangani")
    p.sync()
    return {"waste": waste, "water": water}


def data(p: ReportingPlatform, query: str, **variables: Any) -> dict:
    response = p.reporting.post("/graphql", json={"query": query, "variables": variables},
                                headers=p.headers("national", "monitor"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


STATS = """query($filter: CooperationFilter) {
  cooperationStats(groupBy: [STAGE], filter: $filter) { groups { stage count } total { count } }
}"""


def stats(p: ReportingPlatform, **flt: Any) -> dict[str, int]:
    answer = data(p, STATS, filter={"province": JABAR, **flt})["cooperationStats"]
    groups = {g["stage"]: g["count"] for g in answer["groups"]}
    assert sum(groups.values()) == answer["total"]["count"]
    return groups


def test_cooperation_stats_on_a_day_count_each_agreement_by_its_stage_then(
    p: ReportingPlatform, scenario: dict
) -> None:
    assert stats(p, on=END_OF_S1) == {"kesepakatan_ditandatangani": 1, "pelaksanaan": 1}


def test_cooperation_stats_without_on_count_todays_stages(p: ReportingPlatform, scenario: dict) -> None:
    assert stats(p) == {"kesepakatan_ditandatangani": 1, "berakhir": 1}


def test_stage_and_active_filters_judge_the_stage_on_that_day(p: ReportingPlatform, scenario: dict) -> None:
    assert stats(p, on=END_OF_S1, stage=["pelaksanaan"]) == {"pelaksanaan": 1}
    assert stats(p, stage=["pelaksanaan"]) == {}
    assert stats(p, on=END_OF_S1, activeOnly=True) == {"kesepakatan_ditandatangani": 1, "pelaksanaan": 1}
    assert stats(p, activeOnly=True) == {"kesepakatan_ditandatangani": 1}


def test_agreements_not_yet_begun_on_that_day_are_left_out(p: ReportingPlatform, scenario: dict) -> None:
    assert stats(p, on=BEFORE_ANY) == {}
    # On 2 February only Angkutan sampah had begun (its framework signed that day).
    assert stats(p, on="2026-02-02") == {"kesepakatan_ditandatangani": 1}


NETWORK = """query($filter: CooperationFilter) {
  cooperationNetwork(filter: $filter) { edges { source target weight } }
}"""


def test_the_network_on_a_day_has_the_cooperations_active_then(p: ReportingPlatform, scenario: dict) -> None:
    def edges(**flt: Any) -> set[tuple[str, str]]:
        answer = data(p, NETWORK, filter={"province": JABAR, "activeOnly": True, **flt})["cooperationNetwork"]
        return {(e["source"], e["target"]) for e in answer["edges"]}

    assert edges(on=END_OF_S1) == {(KAB_BANDUNG, KOTA_BANDUNG), (KOTA_BANDUNG, CIMAHI)}
    assert edges() == {(KOTA_BANDUNG, CIMAHI)}
    assert edges(on=BEFORE_ANY) == set()


COVERAGE = """query($filter: CoverageFilter) {
  coverage(filter: $filter) { withActive withoutAny(first: 100) { code } }
}"""


def uncovered(p: ReportingPlatform, **flt: Any) -> set[str]:
    answer = data(p, COVERAGE, filter={"province": JABAR, "urusan": [URUSAN], **flt})["coverage"]
    return {r["code"] for r in answer["withoutAny"]}


def test_coverage_on_a_day_before_any_cooperation_shows_the_regions_uncovered(
    p: ReportingPlatform, scenario: dict
) -> None:
    parties = {KOTA_BANDUNG, KAB_BANDUNG, CIMAHI}
    assert parties <= uncovered(p, on=BEFORE_ANY)
    assert not parties & uncovered(p, on=END_OF_S1)
    # Today Angkutan sampah has ended: Kab. Bandung has no active cooperation left.
    today = uncovered(p)
    assert KAB_BANDUNG in today and not {KOTA_BANDUNG, CIMAHI} & today
