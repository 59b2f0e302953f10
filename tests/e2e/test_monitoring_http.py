"""The monitoring service through HTTP: progress reports and their corrections, evaluations
by the right monitor, each alert kind raised and cleared as events arrive and time passes,
tenant scoping, status and health, and notifications delivered once to a webhook.

One platform (its own database, one clock that only moves forward) for the module; each
test starts its own agreements on the clock's today.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from services.monitoring.notify import Notifier
from shared.regions import RegionCatalog, load_regions
from tests.e2e.monitoring_platform import Platform, platform
from tests.integration.test_notifications import Receiver

KOTA_BANDUNG, KAB_BANDUNG, CIMAHI = "32.73", "32.04", "32.77"
BOGOR, KOTA_BOGOR = "32.01", "32.71"
SEMARANG, KOTA_SEMARANG = "33.22", "33.74"
BREBES, CIREBON = "33.29", "32.09"  # adjacent across the Jawa Barat–Jawa Tengah border


@pytest.fixture(scope="module")
def webhook() -> Iterator[Receiver]:
    with Receiver(fail_first=1) as hook:  # refuses the first delivery: it must be retried
        yield hook


@pytest.fixture(scope="module")
def p(pg_server_url: str, webhook: Receiver) -> Iterator[Platform]:
    with platform(pg_server_url, alert_webhook_url=webhook.url, alert_webhook_secret="rahasia-webhook") as running:
        yield running


def monitoring_events(p: Platform) -> int:
    with psycopg.connect(p.url) as conn:
        return conn.execute("SELECT count(*) FROM monitoring.monitoring_events").fetchone()[0]


def signed(p: Platform, initiator: str, partners: list[str], **kw: Any) -> dict:
    agreement = p.start(initiator, partners, **kw)
    return p.sign_framework(agreement, signed_on=p.today, valid_until=p.today + timedelta(days=5 * 365))


# -- progress reports and evaluations ------------------------------------------------------------


def test_a_progress_report_is_filed_once_per_party_and_period_and_corrected_as_versions(p: Platform) -> None:
    agreement = p.start(KOTA_BANDUNG, [KAB_BANDUNG], title="Air bersih")
    url = f"/agreements/{agreement['id']}/progress-reports"
    p.sync()
    p.report(agreement, KOTA_BANDUNG, "2026-S1", expect=422)  # framework not signed yet
    p.sign_framework(agreement, signed_on=p.today, valid_until=date(2030, 12, 31))
    p.sync()
    before = monitoring_events(p)

    def refused(status: int, body: dict | None = None, tenant: str = KOTA_BANDUNG, role: str = "operator",
                **headers: str) -> dict:
        payload = {"period": "2026-S1", "activities": [{"name": "Survei"}], "indicators": [],
                   "budget": {"planned_idr": 0, "realised_idr": 0}, **(body or {})}
        response = p.monitoring.post(url, json=payload, headers={**p.headers(tenant, role), **headers})
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.json()

    assert refused(403, tenant="32")["code"] == "not_a_party"  # the province sees it, but is not a party
    assert refused(404, tenant=CIMAHI)["status"] == 404  # a neighbour that is not a party does not see it
    assert refused(404, tenant=SEMARANG)["status"] == 404  # may not even see it
    assert refused(403, role="monitor")["code"] == "role_required"
    bad = refused(422, {"indicators": [{"name": "x", "unit": "ton", "target": -1, "achieved": 0}]})
    assert bad["errors"][0]["field"] == "indicators[0].target"
    assert refused(422, {"period": "2026-S2"})["code"] == "period_not_started"
    assert refused(422, {"period": "2026"})["code"] == "period_not_a_semester"
    assert refused(422, {"period": "2026-S3"})["code"] == "validation_failed"
    assert monitoring_events(p) == before  # nothing refused was stored

    first = p.report(agreement, KOTA_BANDUNG, "2026-S1", obstacles="Lahan belum dibebaskan")
    assert first.headers["etag"] == '"1"'
    report = first.json()
    assert (report["region"], report["period"], report["version"]) == (KOTA_BANDUNG, "2026-S1", 1)
    again = p.report(agreement, KOTA_BANDUNG, "2026-S1", expect=428)
    assert again.json()["current_version"] == 1
    assert p.report(agreement, KOTA_BANDUNG, "2026-S1", version=7, expect=409).json()["code"] == "version_conflict"
    fixed = p.report(agreement, KOTA_BANDUNG, "2026-S1", version=1, expect=200, obstacles="Lahan sudah dibebaskan",
                     correction_reason="salah ketik").json()
    assert fixed["version"] == 2 and fixed["corrections"][0]["reason"] == "salah ketik"
    # The other party files its own report for the same period.
    p.report(agreement, KAB_BANDUNG, "2026-S1")

    old = p.monitoring.get(f"{url}/{report['id']}", params={"version": 1}, headers=p.headers(KAB_BANDUNG))
    assert old.status_code == 200 and old.json()["content"]["obstacles"] == "Lahan belum dibebaskan"
    p.sync()
    listed = p.monitoring.get(url, headers=p.headers("32", "monitor")).json()["items"]
    assert [(r["region"], r["version"]) for r in listed] == [(KAB_BANDUNG, 1), (KOTA_BANDUNG, 2)]
    assert listed[1]["content"]["obstacles"] == "Lahan sudah dibebaskan"
    assert p.monitoring.get(url, headers=p.headers(SEMARANG)).status_code == 404


def test_evaluations_are_recorded_by_the_province_or_the_national_level(p: Platform) -> None:
    own = signed(p, KOTA_BANDUNG, [CIMAHI], title="Transportasi")
    across = signed(p, CIREBON, [BREBES], title="Perbatasan")
    p.sync()
    body = {"period": "2026", "findings": "Berjalan sesuai rencana kerja", "score": 82.5,
            "recommendation": "diperluas", "evaluated_on": p.today.isoformat()}

    def post(agreement: dict, tenant: str, role: str = "monitor", **changes: Any) -> Any:
        return p.monitoring.post(f"/agreements/{agreement['id']}/evaluations", json={**body, **changes},
                                 headers=p.headers(tenant, role))

    assert post(own, "national").json()["code"] == "not_the_evaluator"
    assert post(own, "33").status_code == 404
    assert post(own, "32", role="operator").json()["code"] == "role_required"
    assert post(own, "32", score=120).status_code == 422
    assert post(own, "32", recommendation="dilupakan").status_code == 422
    short = post(own, "32", evaluated_on="0226-01-05")  # (2026, typed short: accepted before)
    assert (short.status_code, short.json()["code"]) == (422, "date_too_early"), short.text
    created = post(own, "32")
    assert created.status_code == 201, created.text
    assert created.json()["evaluator"] == "32" and created.json()["content"]["recommendation"] == "diperluas"
    # A cross-province agreement is the ministry's to evaluate.
    assert post(across, "32").json()["code"] == "not_the_evaluator"
    assert post(across, "national", recommendation="dilanjutkan").status_code == 201
    p.sync()
    listed = p.monitoring.get(f"/agreements/{own['id']}/evaluations", headers=p.headers(CIMAHI)).json()["items"]
    assert [(e["period"], e["content"]["score"]) for e in listed] == [("2026", 82.5)]


# -- alerts, each raised and cleared ---------------------------------------------------------------


def test_kb_without_pks_after_180_days_and_cleared_by_a_pks(p: Platform) -> None:
    agreement = signed(p, BOGOR, [KOTA_BOGOR], title="Sampah Bogor")
    start = p.today
    p.advance_to(start + timedelta(days=179))
    assert ("kb_without_pks", (start + timedelta(days=180)).isoformat()) not in p.alerts_of(agreement)
    p.advance_to(start + timedelta(days=180))
    assert ("kb_without_pks", (start + timedelta(days=180)).isoformat()) in p.alerts_of(agreement)
    p.sign_pks(agreement, signed_on=p.today, start_on=p.today, end_on=p.today + timedelta(days=700))
    assert "kb_without_pks" not in {k for k, _ in p.alerts_of(agreement)}
    cleared = p.alerts(agreement=agreement["id"], kind="kb_without_pks", state="cleared")
    assert len(cleared) == 1 and cleared[0]["cleared_at"]


def test_expiring_escalates_then_expired_still_active_until_the_end_is_recorded(p: Platform) -> None:
    agreement = signed(p, SEMARANG, [KOTA_SEMARANG], title="Angkutan aglomerasi")
    end = p.today + timedelta(days=120)
    p.sign_pks(agreement, signed_on=p.today, start_on=p.today, end_on=end)
    pks = agreement["pks"][0]["id"]

    def expiring() -> list[dict]:
        return p.alerts(agreement=agreement["id"], kind="expiring")

    p.advance_to(end - timedelta(days=91))
    assert expiring() == []
    p.advance_to(end - timedelta(days=90))
    [first] = expiring()
    assert (first["level"], first["severity"], first["since"]) == (90, "info", (end - timedelta(days=90)).isoformat())
    for level in (60, 30, 7):  # the worker re-evaluates daily; here, on the days a threshold is crossed
        p.advance_to(end - timedelta(days=level))
    [last] = expiring()
    assert (last["id"], last["level"], last["severity"]) == (first["id"], 7, "critical")  # one alert, escalated
    p.advance_to(end + timedelta(days=1))
    assert expiring() == []
    [expired] = p.alerts(agreement=agreement["id"], kind="expired_still_active")
    assert (expired["since"], expired["severity"]) == ((end + timedelta(days=1)).isoformat(), "critical")
    assert expired["details"]["document"] == f"pks:{pks}"
    p.act(agreement, "extend", {"document": pks, "reference": "Perpanjangan/1", "signed_on": p.today.isoformat(),
                                "new_end": (end + timedelta(days=365)).isoformat()}, SEMARANG)
    assert p.alerts(agreement=agreement["id"], kind="expired_still_active") == []

    # Every state of the alert reached the province's outbox once: opened, escalated 60/30/7, cleared.
    notes = p.monitoring.get(
        "/notifications", params={"limit": 100}, headers=p.headers("33", "monitor")
    ).json()["items"]
    mine = [(n["transition"], n["alert"]["level"]) for n in reversed(notes) if n["alert"]["id"] == first["id"]]
    assert mine == [("opened", 90), ("escalated", 60), ("escalated", 30), ("escalated", 7), ("cleared", 7)]


def test_approval_pending_after_30_days_and_cleared_by_the_decision(p: Platform) -> None:
    agreement = signed(p, KOTA_BANDUNG, [KAB_BANDUNG], title="Drainase", budgeted=False)
    p.act(agreement, "draft-pks", {"title": "PKS drainase", "object": "Saluran"}, KOTA_BANDUNG)
    pks = agreement["pks"][0]["id"]
    asked = p.today
    p.act(agreement, "request-approval", {"kind": "dprd", "document": pks, "reference": "mohon/1",
                                          "requested_on": asked.isoformat()}, KAB_BANDUNG)
    p.advance_to(asked + timedelta(days=29))
    assert p.alerts(agreement=agreement["id"], kind="approval_pending") == []
    p.advance_to(asked + timedelta(days=30))
    [pending] = p.alerts(agreement=agreement["id"], kind="approval_pending")
    assert pending["regions"] == [KAB_BANDUNG] and pending["details"]["days"] == 30
    p.act(agreement, "record-approval", {"kind": "dprd", "document": pks, "decision": "approved", "reference": "Kep/9",
                                         "decided_on": p.today.isoformat()}, KAB_BANDUNG)
    assert p.alerts(agreement=agreement["id"], kind="approval_pending") == []


def test_pks_without_progress_until_every_party_reports(p: Platform) -> None:
    agreement = signed(p, KOTA_BOGOR, [BOGOR], title="Air minum Bogor")
    first_day = p.today.replace(month=7, day=1) if p.today.month <= 6 else date(p.today.year + 1, 1, 1)
    p.sign_pks(agreement, signed_on=p.today, start_on=first_day, end_on=first_day + timedelta(days=3 * 365))
    semester = f"{first_day.year}-S{1 if first_day.month == 1 else 2}"
    period_end = date(first_day.year, 6, 30) if first_day.month == 1 else date(first_day.year, 12, 31)
    p.advance_to(period_end + timedelta(days=30))  # the last day a report is on time
    assert p.alerts(agreement=agreement["id"], kind="pks_without_progress") == []
    p.report(agreement, KOTA_BOGOR, semester)
    p.advance_to(period_end + timedelta(days=31))
    [late] = p.alerts(agreement=agreement["id"], kind="pks_without_progress")
    assert late["regions"] == [BOGOR] and late["details"]["missing"] == [{"period": semester, "region": BOGOR}]
    p.report(agreement, BOGOR, semester)
    assert p.alerts(agreement=agreement["id"], kind="pks_without_progress") == []


def test_no_neighbour_cooperation_for_a_region_that_cooperates_only_far_away(p: Platform) -> None:
    kinds = p.monitoring.get("/alert-kinds", headers=p.headers(BREBES)).json()["items"]
    assert {k["kind"]: k["available"] for k in kinds}["no_neighbour_cooperation"] is True
    far = "33.01"  # Cilacap: not a neighbour of Kota Tegal
    tegal = "33.76"
    signed(p, tegal, [far], title="Promosi wisata")
    p.tick()
    [alert] = p.alerts(region=tegal, kind="no_neighbour_cooperation")
    assert alert["region"] == tegal and "daerah tetangganya" in alert["message"]
    neighbour = sorted(load_regions().neighbours(tegal))[0]
    signed(p, tegal, [neighbour], title="Pasar bersama")
    assert p.alerts(region=tegal, kind="no_neighbour_cooperation") == []


def test_a_province_monitor_sees_its_kab_kota_alerts_and_not_another_province(p: Platform) -> None:
    p.tick()
    jabar = p.alerts("32")
    jateng = p.alerts("33")
    assert jabar and jateng
    assert all(any(r.startswith("32") for r in a["regions"]) for a in jabar)
    assert all(any(r.startswith("33") for r in a["regions"]) for a in jateng)
    shared = {a["id"] for a in jabar} & {a["id"] for a in jateng}
    # Only the cross-province agreement (Cirebon–Brebes) is both provinces' business.
    assert shared and all({"32", "33"} <= {r[:2] for r in a["regions"]} for a in jabar if a["id"] in shared)
    # A kab/kota sees the alerts of its own agreements only.
    bogor = p.alerts(BOGOR)
    assert bogor
    for alert in bogor:
        assert alert["agreement_id"], alert  # Kabupaten Bogor cooperates with its neighbour: no region alert
        status = p.monitoring.get(f"/agreements/{alert['agreement_id']}/status", headers=p.headers(BOGOR))
        assert BOGOR in status.json()["party_regions"]
    # Row-level security holds even for a query without the tenant filter.
    with psycopg.connect(p.url) as conn, conn.transaction():
        conn.execute("SELECT set_config('role', 'ksd_reader', true), set_config('ksd.tenant', '33', true)")
        provinces = {r[0] for r in conn.execute("SELECT unnest(provinces) FROM monitoring.alerts")}
    assert provinces <= {"33", "32"} and "33" in provinces


# -- status and health -------------------------------------------------------------------------------


def test_status_and_health_in_rest_and_graphql(p: Platform) -> None:
    agreement = signed(p, CIMAHI, [KAB_BANDUNG], title="Kesehatan")
    p.sign_pks(agreement, signed_on=p.today, start_on=p.today, end_on=p.today + timedelta(days=400))
    p.sync()
    status = p.monitoring.get(f"/agreements/{agreement['id']}/status", headers=p.headers(CIMAHI)).json()
    assert status["stage"] == "pelaksanaan" and status["evaluator"] == "32"
    assert {d["type"] for d in status["documents_in_force"]} == {"kesepakatan_bersama", "perjanjian_kerja_sama"}
    assert status["documents_in_force"][1]["days_left"] == 400
    assert p.monitoring.get(f"/agreements/{agreement['id']}/status", headers=p.headers(SEMARANG)).status_code == 404

    query = """query($id: ID!, $code: String!) {
      agreementHealth(id: $id) { stage documentsInForce { daysLeft } openAlerts { kind } }
      regionHealth(code: $code) { code agreements byStage { stage count } frameworksSigned frameworksWithPks
        shareFrameworksWithPks medianDaysFrameworkToFirstPks reportsDue reportsOnTime sharePksReportingOnTime
        region { name } }
    }"""
    answer = p.monitoring.post("/graphql", json={"query": query, "variables": {"id": agreement["id"], "code": CIMAHI}},
                               headers=p.headers(CIMAHI)).json()
    assert "errors" not in answer, answer
    health = answer["data"]["regionHealth"]
    assert health["region"]["name"] == "Kota Cimahi"
    assert (health["agreements"], health["frameworksSigned"], health["frameworksWithPks"]) == (2, 2, 1)
    assert health["shareFrameworksWithPks"] == 0.5 and health["medianDaysFrameworkToFirstPks"] == 0
    assert {s["stage"]: s["count"] for s in health["byStage"]} == {"kesepakatan_ditandatangani": 1, "pelaksanaan": 1}
    assert answer["data"]["agreementHealth"]["stage"] == "pelaksanaan"
    assert [d["daysLeft"] for d in answer["data"]["agreementHealth"]["documentsInForce"]] == [5 * 365, 400]
    # Another province's region is not this tenant's to look at.
    denied = p.monitoring.post("/graphql", json={"query": query, "variables": {"id": agreement["id"], "code": "33"}},
                               headers=p.headers(CIMAHI)).json()
    assert denied["data"] is None and denied["errors"][0]["message"] == "Wilayah tidak ditemukan."


# -- notifications --------------------------------------------------------------------------------------


def test_alert_notifications_reach_the_webhook_once_with_retries(p: Platform, webhook: Receiver) -> None:
    with Notifier(p.url, p.settings, clock=p.clock) as notifier:
        notifier.deliver_due(limit=1)  # refused once: retried later, not lost
        p.clock.advance(seconds=p.settings.notify_retry_base_seconds)
        while notifier.deliver_due():
            pass
        assert webhook.requests[0]["status"] == 500  # the refused one, delivered again later
        delivered = len(webhook.succeeded)
        with psycopg.connect(p.url) as conn:
            total, sent = conn.execute(
                "SELECT count(*), count(delivered_at) FROM monitoring.deliveries WHERE channel = 'webhook'").fetchone()
        assert delivered == total == sent > 0
        ids = [r["headers"]["X-KSD-Notification-Id"] for r in webhook.succeeded]
        assert len(ids) == len(set(ids))  # never twice
        sample = webhook.succeeded[0]
        expected = "sha256=" + hmac.new(b"rahasia-webhook", sample["body"], hashlib.sha256).hexdigest()
        assert sample["headers"]["X-KSD-Signature"] == expected
        assert json.loads(sample["body"])["alert"]["kind"]
        # Evaluating again with nothing changed writes nothing new.
        p.runners.view.alerts.refresh_all(force=True)
        assert notifier.deliver_due() == 0
        assert len(webhook.succeeded) == delivered


def test_graphql_refuses_bad_arguments_with_an_error_not_a_crash(p: Platform) -> None:
    for query, says in (('{ regionHealth(code: "abc") { agreements } }', "kode wilayah"),
                        ("{ alerts(first: -5) { items { kind } } }", "first: antara 1 dan 100")):
        answer = p.monitoring.post("/graphql", json={"query": query}, headers=p.headers("national", "monitor"))
        assert answer.status_code == 200
        body = answer.json()
        assert body["data"] is None and says in body["errors"][0]["message"], body


def test_no_neighbour_cooperation_is_unavailable_without_adjacency_data_not_faked(p: Platform) -> None:
    surabaya, bojonegoro = "35.78", "35.22"  # not neighbours
    bundled = load_regions()
    without = RegionCatalog(bundled.all(), {}, bundled.dataset)
    app_state, view = p.monitoring.app.state, p.runners.view
    app_state.regions = view.alerts.regions = without
    try:
        kinds = {k["kind"]: k for k in p.monitoring.get("/alert-kinds", headers=p.headers(surabaya)).json()["items"]}
        assert kinds["no_neighbour_cooperation"]["available"] is False
        assert kinds["no_neighbour_cooperation"]["unavailable_reason"]
        assert all(k["available"] for name, k in kinds.items() if name != "no_neighbour_cooperation")
        signed(p, surabaya, [bojonegoro], title="Tanpa data ketetanggaan")
        p.tick()
        assert p.alerts(region=surabaya, kind="no_neighbour_cooperation") == []
    finally:
        app_state.regions = view.alerts.regions = bundled
    p.tick()  # with the data back, the same facts raise it
    assert [a["region"] for a in p.alerts(region=surabaya, kind="no_neighbour_cooperation")] == [surabaya]
