"""Monitoring's analyses and lists accept `on` (issue 13, requirement 2): `regionHealth`,
`agreementHealth` and the alerts filter in GraphQL; `/alerts`, `/status`, progress reports
and evaluations in REST. On a past day they answer as legally then, as known now: each
agreement by its stage that day (from the registry's legal dates; not yet begun: left out),
its documents as they stood, the alerts open that day, the records filed or made by then.
A future day is now; a malformed one is refused as the registry refuses it.

Kota Bandung (32.73), a KB without a PKS alerting after 30 days:

- Angkutan sampah (with Kab. Bandung): framework 2026-01-05, PKS 2026-03-02 (its alert,
  begun 2026-02-04, noticed and cleared on 2026-03-02) in force from 2026-01-01; Kota
  Bandung reported 2026-S1 on 2026-07-06, Kab. Bandung never did (its alert began
  2026-07-31); ended 2026-08-10 (the PKS owes nothing more);
- Air bersih (with Cimahi): framework 2026-03-02, alert begun 2026-04-01, PKS 2026-05-04
  (cleared);
- Pasar induk (with Cimahi): prepared on 2026-03-02, still in persiapan.

Every one of them was prepared (persiapan) long before: Angkutan sampah and Air bersih on
2023-01-02.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from typing import Any

import psycopg
import pytest

from services.ksd.cli import migrate_all
from services.monitoring.setup import feed_lag
from services.monitoring.worker import MonitoringWorker, make_runners
from tests.e2e.monitoring_platform import Platform, kepala, platform

KOTA_BANDUNG, KAB_BANDUNG, CIMAHI = "32.73", "32.04", "32.77"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[Platform]:
    with platform(pg_server_url, start=date(2026, 1, 5), alert_kb_without_pks_days=30) as running:
        yield running


@pytest.fixture(scope="module")
def s(p: Platform) -> dict[str, Any]:
    waste = p.start(KOTA_BANDUNG, [KAB_BANDUNG], title="Angkutan sampah")
    p.act(waste, "submit-offer", {"reference": "005/KS", "sent_on": p.today.isoformat()}, KOTA_BANDUNG)
    p.act(waste, "record-offer-response", {"decision": "accepted", "reference": "jawab/32.04",
                                           "responded_on": p.today.isoformat()}, KAB_BANDUNG)
    p.act(waste, "sign-framework", {  # in force from the first of the year
        "number": "KB/sampah", "signed_on": p.today.isoformat(), "valid_from": "2026-01-01",
        "valid_until": "2030-12-31", "signatories": [kepala(KOTA_BANDUNG), kepala(KAB_BANDUNG)]}, KOTA_BANDUNG)
    p.advance_to(date(2026, 3, 2))
    # The PKS covers the whole first semester: both regions owe its report by 2026-07-30.
    p.sign_pks(waste, signed_on=p.today, start_on=date(2026, 1, 1), end_on=date(2027, 12, 31))
    p.sync()  # the worker clears the alert as the PKS arrives
    water = p.start(KOTA_BANDUNG, [CIMAHI], title="Air bersih")
    p.sign_framework(water, signed_on=p.today, valid_until=date(2030, 12, 31))
    market = p.start(KOTA_BANDUNG, [CIMAHI], title="Pasar induk", drafted_on=p.today.isoformat())
    p.advance_to(date(2026, 4, 10))
    assert ("kb_without_pks", "2026-04-01") in p.alerts_of(water)
    p.advance_to(date(2026, 5, 4))
    p.sign_pks(water, signed_on=p.today, start_on=p.today, end_on=date(2028, 12, 31))
    p.sync()

    p.advance_to(date(2026, 7, 6))
    p.report(waste, KOTA_BANDUNG, "2026-S1")
    evaluation = p.monitoring.post(f"/agreements/{waste['id']}/evaluations", headers=p.headers("32", "monitor"), json={
        "period": "2026", "findings": "Berjalan baik", "score": 80, "recommendation": "dilanjutkan",
        "evaluated_on": "2026-07-03"})
    assert evaluation.status_code == 201, evaluation.text

    p.advance_to(date(2026, 8, 10))
    for pks in [x for x in waste["pks"] if x["stage"] == "ditandatangani"]:
        p.act(waste, "terminate", {"document": pks["id"], "ground": "tujuan_tercapai", "reference": "BA/PKS/selesai",
                                   "terminated_on": p.today.isoformat()}, KOTA_BANDUNG)
    p.act(waste, "terminate", {"document": "framework", "ground": "tujuan_tercapai", "reference": "BA/KB/selesai",
                               "terminated_on": p.today.isoformat()}, KOTA_BANDUNG)
    p.advance_to(date(2026, 9, 1))
    assert (waste["stage"], water["stage"], market["stage"]) == ("berakhir", "pelaksanaan", "persiapan")
    return {"waste": waste, "water": water, "market": market}


def graphql(p: Platform, query: str, tenant: str = "national", **variables: Any) -> dict[str, Any]:
    response = p.monitoring.post("/graphql", json={"query": query, "variables": variables},
                                 headers=p.headers(tenant, "monitor"))
    assert response.status_code == 200, response.text
    return response.json()


def data(p: Platform, query: str, **variables: Any) -> dict[str, Any]:
    body = graphql(p, query, **variables)
    assert "errors" not in body, body
    return body["data"]


HEALTH = """query($code: String!, $on: Date) { regionHealth(code: $code, on: $on) {
  agreements byStage { stage count } frameworksSigned frameworksWithPks reportsDue reportsOnTime
  openAlerts { kind count } } }"""


def health(p: Platform, on: str | None = None, code: str = KOTA_BANDUNG) -> dict[str, Any]:
    h = data(p, HEALTH, code=code, on=on)["regionHealth"]
    return {"agreements": h["agreements"], "stages": {g["stage"]: g["count"] for g in h["byStage"]},
            "frameworks": (h["frameworksSigned"], h["frameworksWithPks"]),
            "reports": (h["reportsDue"], h["reportsOnTime"]),
            "alerts": {a["kind"]: a["count"] for a in h["openAlerts"]}}


# -- regionHealth --------------------------------------------------------------------------------


def test_region_health_without_on_counts_todays_stages_and_open_alerts(p: Platform, s: dict) -> None:
    assert health(p) == {"agreements": 3, "stages": {"berakhir": 1, "pelaksanaan": 1, "persiapan": 1},
                         "frameworks": (2, 2), "reports": (0, 0), "alerts": {}}


def test_region_health_on_a_day_counts_each_agreement_by_its_stage_then(p: Platform, s: dict) -> None:
    assert health(p, "2026-06-30") == {"agreements": 3, "stages": {"pelaksanaan": 2, "persiapan": 1},
                                       "frameworks": (2, 2), "reports": (0, 0), "alerts": {}}
    # Air bersih's framework was a month old without a PKS: its alert was open that day.
    assert health(p, "2026-04-15") == {
        "agreements": 3, "stages": {"kesepakatan_ditandatangani": 1, "pelaksanaan": 1, "persiapan": 1},
        "frameworks": (2, 1), "reports": (0, 0), "alerts": {"KB_WITHOUT_PKS": 1}}


def test_an_alert_counts_from_the_day_its_cause_began_even_when_noticed_later(p: Platform, s: dict) -> None:
    # Angkutan sampah's alert began 2026-02-04; the worker first saw it on 2026-03-02 (and
    # cleared it that day, when the PKS was signed): legally it was open in between.
    assert health(p, "2026-02-15") == {"agreements": 2, "stages": {"kesepakatan_ditandatangani": 1, "persiapan": 1},
                                       "frameworks": (1, 0), "reports": (0, 0), "alerts": {"KB_WITHOUT_PKS": 1}}


def test_reports_due_on_a_day_are_those_owed_under_the_pks_in_force_then(p: Platform, s: dict) -> None:
    # On 5 August the PKS was in force and 2026-S1's deadline (30 July) had passed: both
    # regions owed its report, Kota Bandung had filed on time, Kab. Bandung's alert was open.
    # Today the PKS has ended: it owes nothing more, and the alert was cleared with it.
    assert health(p, "2026-08-05")["reports"] == (2, 1)
    assert health(p, "2026-08-05", code=KAB_BANDUNG)["alerts"] == {"PKS_WITHOUT_PROGRESS": 1}
    assert health(p, "2026-07-30")["reports"] == (0, 0)  # the deadline's own day
    assert health(p)["reports"] == (0, 0)
    assert "PKS_WITHOUT_PROGRESS" not in health(p, code=KAB_BANDUNG)["alerts"]


def test_agreements_not_yet_begun_on_that_day_are_left_out(p: Platform, s: dict) -> None:
    # Pasar induk was prepared on 2026-03-02; the others in 2023.
    assert health(p, "2026-03-01")["agreements"] == 2
    assert health(p, "2022-12-31") == {"agreements": 0, "stages": {}, "frameworks": (0, 0), "reports": (0, 0),
                                       "alerts": {}}


def test_a_future_on_is_what_is_known_now(p: Platform, s: dict) -> None:
    assert health(p, "2030-01-01") == health(p)


def test_a_malformed_on_is_a_graphql_error(p: Platform, s: dict) -> None:
    for bad in ("2026-02-30", "kemarin", "30-06-2026"):
        body = graphql(p, HEALTH, code=KOTA_BANDUNG, on=bad)
        assert body.get("data") is None and body["errors"], body


def test_the_province_figures_follow_the_same_day(p: Platform, s: dict) -> None:
    province = health(p, "2026-06-30", code="32")
    assert province["stages"] == {"pelaksanaan": 2, "persiapan": 1}
    assert "NO_NEIGHBOUR_COOPERATION" not in province["alerts"]  # Kab. Bandung's came with the end in August


# -- agreementHealth and /status -----------------------------------------------------------------


def test_status_on_a_day_shows_the_stage_and_documents_in_force_then(p: Platform, s: dict) -> None:
    url = f"/agreements/{s['waste']['id']}/status"
    now = p.monitoring.get(url, headers=p.headers(KOTA_BANDUNG)).json()
    assert now["stage"] == "berakhir" and now["documents_in_force"] == []
    then = p.monitoring.get(url, params={"on": "2026-06-30"}, headers=p.headers(KOTA_BANDUNG))
    assert then.status_code == 200, then.text
    body = then.json()
    assert body["stage"] == "pelaksanaan" and body["on"] == "2026-06-30"
    # Both were terminated on 2026-08-10: on 30 June they were in force.
    in_force = sorted((d["document"] == "framework", d["valid_until"], d["days_left"])
                      for d in body["documents_in_force"])
    assert in_force == [(False, "2027-12-31", 549), (True, "2030-12-31", 1645)]
    assert body["reports"] == [] and body["latest_evaluation"] is None  # filed and made in July
    july = p.monitoring.get(url, params={"on": "2026-07-06"}, headers=p.headers(KOTA_BANDUNG)).json()
    assert [r["period"] for r in july["reports"]] == ["2026-S1"]
    assert july["latest_evaluation"]["period"] == "2026"
    before = p.monitoring.get(url, params={"on": "2022-12-31"}, headers=p.headers(KOTA_BANDUNG))
    assert before.status_code == 404
    assert before.headers["content-type"].startswith("application/problem+json")
    assert before.json()["code"] == "not_yet_in_force"


def test_agreement_health_on_a_day_in_graphql(p: Platform, s: dict) -> None:
    query = """query($id: ID!, $on: Date) { agreementHealth(id: $id, on: $on) {
      stage openAlerts { kind since } } }"""
    water = s["water"]["id"]
    assert data(p, query, id=water)["agreementHealth"] == {"stage": "pelaksanaan", "openAlerts": []}
    then = data(p, query, id=water, on="2026-04-15")["agreementHealth"]
    assert then["openAlerts"] == [{"kind": "KB_WITHOUT_PKS", "since": "2026-04-01"}]
    assert data(p, query, id=s["market"]["id"], on="2026-03-01")["agreementHealth"] is None


# -- lists ----------------------------------------------------------------------------------------


def alert_kinds(p: Platform, agreement: dict, **params: Any) -> list[str]:
    return sorted(a["kind"] for a in p.alerts(agreement=agreement["id"], **params))


def test_the_alert_list_on_a_day_shows_the_alerts_open_then(p: Platform, s: dict) -> None:
    water = s["water"]
    assert alert_kinds(p, water) == []  # cleared by the PKS
    assert alert_kinds(p, water, on="2026-04-15") == ["kb_without_pks"]
    assert alert_kinds(p, water, on="2026-03-31") == []  # its cause began the next day
    assert alert_kinds(p, water, on="2026-05-04") == []  # cleared that day
    assert alert_kinds(p, water, state="cleared", on="2026-04-15") == []
    assert alert_kinds(p, water, state="cleared", on="2026-06-01") == ["kb_without_pks"]
    assert alert_kinds(p, water, state="all", on="2026-03-31") == []
    assert alert_kinds(p, water, on="2030-01-01") == []  # a future day: now


def test_graphql_alerts_filter_accepts_on(p: Platform, s: dict) -> None:
    query = """query($filter: AlertFilterInput) { alerts(filter: $filter) { items { kind agreementId } } }"""
    items = data(p, query, filter={"agreementId": s["waste"]["id"], "on": "2026-02-15"})["alerts"]["items"]
    assert items == [{"kind": "KB_WITHOUT_PKS", "agreementId": s["waste"]["id"]}]
    assert data(p, query, filter={"agreementId": s["waste"]["id"]})["alerts"]["items"] == []


def test_a_malformed_on_in_rest_is_a_400_problem(p: Platform, s: dict) -> None:
    for path in ("/alerts", f"/agreements/{s['waste']['id']}/status",
                 f"/agreements/{s['waste']['id']}/progress-reports", f"/agreements/{s['waste']['id']}/evaluations"):
        response = p.monitoring.get(path, params={"on": "2026-02-30"}, headers=p.headers(KOTA_BANDUNG))
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_parameter"


def test_progress_reports_and_evaluations_on_a_day_are_those_filed_or_made_by_then(p: Platform, s: dict) -> None:
    base = f"/agreements/{s['waste']['id']}"

    def periods(what: str, **params: Any) -> list[str]:
        response = p.monitoring.get(f"{base}/{what}", params=params, headers=p.headers(KOTA_BANDUNG))
        assert response.status_code == 200, response.text
        return [r["period"] for r in response.json()["items"]]

    assert periods("progress-reports") == ["2026-S1"]
    assert periods("progress-reports", on="2026-07-05") == []
    assert periods("progress-reports", on="2026-07-06") == ["2026-S1"]
    assert periods("evaluations") == ["2026"]
    assert periods("evaluations", on="2026-07-02") == []  # evaluated on 2026-07-03
    assert periods("evaluations", on="2026-07-03") == ["2026"]


# -- corrections (ralat) -------------------------------------------------------------------------

BOGOR, KOTA_BOGOR = "32.01", "32.71"


def test_a_corrected_signature_date_moves_the_stage_in_valid_time(p: Platform, s: dict) -> None:
    # Given a framework recorded as signed on 2026-08-20 (offer and answer that day too)
    agreement = p.start(BOGOR, [KOTA_BOGOR], title="Ralat Bogor")
    p.sign_framework(agreement, signed_on=date(2026, 8, 20), valid_until=date(2030, 12, 31))
    history = p.registry.get(f"/agreements/{agreement['id']}/history", headers=p.headers(BOGOR)).json()
    step = next(e["version"] for e in history if e["type"] == "FrameworkSigned")

    def stages(on: str) -> dict[str, int]:
        return health(p, on, code=BOGOR)["stages"]

    p.sync()
    assert stages("2026-08-25") == {"kesepakatan_ditandatangani": 1}
    # When its date is corrected to 2026-08-28
    response = p.registry.post(f"/agreements/{agreement['id']}/actions/correct", json={
        "version": step, "changes": {"signed_on": "2026-08-28"}, "reason": "Tanggal pada naskah asli"},
        headers=p.headers(BOGOR, version=agreement["version"]))
    assert response.status_code == 200, response.text
    p.sync()
    # Then on 25 August it was not yet signed: the offer had been answered
    assert stages("2026-08-25") == {"penyusunan_kesepakatan": 1}
    assert stages("2026-08-28") == {"kesepakatan_ditandatangani": 1}


# -- a read model from before the stage history ----------------------------------------------------


def test_a_read_model_without_the_stage_history_is_rebuilt_beside_it(p: Platform, s: dict) -> None:
    """Last in the module: it replaces the agreements and their stage history."""
    # Given a read model kept by older code: agreements, but no stage history
    expected = health(p, "2026-04-15")
    today = health(p)
    with psycopg.connect(p.url, autocommit=True) as conn:
        conn.execute("DROP TABLE monitoring.agreement_stages")
        live = conn.execute("SELECT count(*) FROM monitoring.agreements").fetchone()[0]
    # When `ksd migrate` runs: the new shape is created beside the live one, which stays served
    migrate_all(p.url)
    with psycopg.connect(p.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM monitoring.agreements").fetchone()[0] == live > 0
        assert conn.execute("SELECT count(*) FROM monitoring.agreements_next").fetchone()[0] == 0
    assert health(p) == today
    # And the worker fills it from the registry's events, then puts it in the live one's place
    worker = MonitoringWorker(p.settings, p.url, clock=p.clock)
    with ExitStack() as stack:
        runners = worker.open_runners(stack)
        registry_runner = runners[0]
        assert registry_runner.beside
        deadline = time.monotonic() + 30
        while (position := registry_runner.position())[0] < position[1]:
            assert time.monotonic() < deadline, position
            registry_runner.run_forever(timeout=0.1)
            assert health(p) == today  # readers keep the live tables throughout
    worker._switch_over(registry_runner.feed)
    with psycopg.connect(p.url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('monitoring.agreements_next')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM monitoring.agreements").fetchone()[0] == live
        # The stage history's policy reads the agreements: made again on the new table.
        policies = conn.execute("SELECT policyname FROM pg_policies WHERE schemaname = 'monitoring'"
                                " AND tablename IN ('agreements', 'agreement_stages')").fetchall()
        assert sorted(n for (n,) in policies) == ["agreement_stages_tenant_read", "agreements_tenant_read"]
    with make_runners(p.url, p.settings, p.clock) as runners:
        with psycopg.connect(p.url) as conn:
            assert not any(feed_lag(conn).values())  # the build's position became the live one's
        while runners.view.alerts.review_due():
            pass
    # Then the agreements and their stages are those the registry's events give
    assert health(p, "2026-04-15") == expected
    assert health(p)["stages"] == {"berakhir": 1, "pelaksanaan": 1, "persiapan": 1}
    # And a correction rebuilt in the batch of the step it corrects (the stage history's rows are
    # written at the batch's end) moves that step's stage as it did live
    assert health(p, "2026-08-25", code=BOGOR)["stages"] == {"penyusunan_kesepakatan": 1}
    assert health(p, "2026-08-28", code=BOGOR)["stages"] == {"kesepakatan_ditandatangani": 1}
