"""Facts as they happened, through HTTP (issue 13): the defects a new user met, each now a
refusal with its code and the step it conflicts with; the central approval recorded by the
national level; wajib only between neighbours; progress only for periods of the framework."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.e2e.monitoring_platform import Platform, platform
from tests.e2e.test_registry_http import event_count

KOTA, KAB, SURABAYA = "32.73", "32.04", "35.78"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[Platform]:
    with platform(pg_server_url, start=date(2026, 7, 10)) as running:
        yield running


def post(p: Platform, agreement: dict, action: str, body: dict, tenant: str, *roles: str) -> Any:
    return p.registry.post(f"/agreements/{agreement['id']}/actions/{action}", json=body,
                           headers=p.headers(tenant, *roles, version=agreement["version"]))


def refused(p: Platform, agreement: dict, action: str, body: dict, tenant: str = KOTA, *roles: str,
            status: int = 422) -> dict:
    """Refused as problem+json, and nothing appended."""
    before = event_count(p.url)
    response = post(p, agreement, action, body, tenant, *roles)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert event_count(p.url) == before
    return response.json()


def kepala(region: str) -> dict[str, str]:
    return {"party": region, "name": f"Kepala {region}", "position": f"Kepala Daerah {region}",
            "capacity": "kepala_daerah"}


def offered(p: Platform, sent_on: str, answered_on: str | None = None) -> dict:
    agreement = p.start(KOTA, [KAB], category="wajib")
    p.act(agreement, "submit-offer", {"reference": "005/KS/2026", "sent_on": sent_on}, KOTA)
    if answered_on:
        p.act(agreement, "record-offer-response",
              {"decision": "accepted", "reference": "415/2026", "responded_on": answered_on}, KAB)
    return agreement


def test_a_framework_signed_before_its_offer_is_refused_naming_the_offer(p: Platform) -> None:
    # The defect: `sign-framework` signed_on 2025-12-01 was accepted for an offer sent 2026-01-12.
    agreement = offered(p, "2026-01-12", "2026-01-12")
    problem = refused(p, agreement, "sign-framework", {
        "number": "KB/01/2025", "signed_on": "2025-12-01", "valid_from": "2025-12-01", "valid_until": "2030-11-30",
        "signatories": [kepala(KOTA), kepala(KAB)]})
    assert problem["code"] == "date_out_of_order"
    assert problem["conflicts_with"]["date"] == "2026-01-12"
    assert problem["conflicts_with"]["step"] in ("submit-offer", "record-offer-response")
    # The detail names the step and the dates in words, never the action's code or an ISO date.
    assert "pengiriman penawaran" in problem["detail"] or "jawaban atas penawaran" in problem["detail"]
    assert "1 Desember 2025" in problem["detail"] and "12 Januari 2026" in problem["detail"]
    assert problem["conflicts_with"]["step"] not in problem["detail"] and "2026-01-12" not in problem["detail"]


def test_an_offer_response_before_its_offer_is_refused_naming_the_offer(p: Platform) -> None:
    # The defect: a `record-offer-response` dated 2026-05-01 was accepted for an offer dated 2026-06-01.
    agreement = offered(p, "2026-06-01")
    problem = refused(p, agreement, "record-offer-response",
                      {"decision": "accepted", "reference": "415/2026", "responded_on": "2026-05-01"}, KAB)
    assert (problem["code"], problem["conflicts_with"]) == (
        "date_out_of_order", {"step": "submit-offer", "date": "2026-06-01"})


def test_a_pks_drafted_today_is_not_signed_months_before_and_its_draft_date_is_kept(p: Platform) -> None:
    # The defect: `draft-pks` had no date, so a PKS drafted "today" showed as signed months earlier.
    agreement = offered(p, "2026-01-12", "2026-01-20")
    p.act(agreement, "sign-framework", {
        "number": "KB/02/2026", "signed_on": "2026-02-16", "valid_from": "2026-02-16", "valid_until": "2031-02-15",
        "signatories": [kepala(KOTA), kepala(KAB)]}, KOTA)
    p.act(agreement, "draft-pks", {"title": "PKS angkutan", "object": "Angkutan sampah"}, KOTA)
    assert agreement["pks"][0]["drafted_on"] == p.today.isoformat()  # none stated: today in WIB
    sign = {"pks": "pks-1", "number": "PKS/1", "signed_on": "2026-03-01", "start_on": "2026-03-01",
            "end_on": "2028-02-29", "signatories": [kepala(KOTA), kepala(KAB)]}
    problem = refused(p, agreement, "sign-pks", sign)
    assert (problem["code"], problem["conflicts_with"]) == (
        "date_out_of_order", {"step": "draft-pks", "date": p.today.isoformat()})
    # The DPRD's decisions do not predate the draft either, nor does a draft predate its framework.
    early_draft = refused(p, agreement, "draft-pks",
                          {"title": "PKS lain", "object": "Objek lain", "drafted_on": "2026-02-01"})
    assert early_draft["conflicts_with"] == {"step": "sign-framework", "date": "2026-02-16"}
    # Stated as drafted on 2026-02-20, a PKS is signed on 2026-03-01.
    p.act(agreement, "cancel", {"reason": "Disusun ulang", "document": "pks-1"}, KOTA)
    p.act(agreement, "draft-pks", {"title": "PKS angkutan", "object": "Angkutan", "drafted_on": "2026-02-20"}, KOTA)
    assert agreement["pks"][1]["drafted_on"] == "2026-02-20"
    p.act(agreement, "sign-pks", {**sign, "pks": "pks-2"}, KOTA)
    assert agreement["stage"] == "pelaksanaan"


def test_a_pks_outside_its_framework_needs_an_exception_reference(p: Platform) -> None:
    # The defect: a PKS ending 2031-12-31 was accepted under a KB valid until 2031-02-15.
    agreement = offered(p, "2026-01-12", "2026-01-20")
    p.act(agreement, "sign-framework", {
        "number": "KB/03/2026", "signed_on": "2026-02-16", "valid_from": "2026-02-16", "valid_until": "2031-02-15",
        "signatories": [kepala(KOTA), kepala(KAB)]}, KOTA)
    p.act(agreement, "draft-pks", {"title": "PKS air", "object": "Air bersih", "drafted_on": "2026-02-20"}, KOTA)
    sign = {"pks": "pks-1", "number": "PKS/1", "signed_on": "2026-03-01", "start_on": "2027-01-01",
            "end_on": "2031-12-31", "signatories": [kepala(KOTA), kepala(KAB)]}
    problem = refused(p, agreement, "sign-pks", sign)
    assert problem["code"] == "pks_outside_framework_validity"
    assert problem["conflicts_with"] == {"step": "sign-framework", "date": "2031-02-15"}
    assert (problem["valid_from"], problem["valid_until"]) == ("2026-02-16", "2031-02-15")
    p.act(agreement, "sign-pks", {**sign, "exception_reference": "UU 23/2014 Pasal 363"}, KOTA)
    assert agreement["pks"][0]["end_on"] == "2031-12-31"


def test_a_cancellation_carries_the_day_it_happened(p: Platform) -> None:
    agreement = offered(p, "2026-06-01")
    assert refused(p, agreement, "cancel", {"reason": "Tidak berlanjut", "cancelled_on": "2026-05-01"})[
        "conflicts_with"] == {"step": "submit-offer", "date": "2026-06-01"}
    p.act(agreement, "cancel", {"reason": "Tidak berlanjut", "cancelled_on": "2026-06-15"}, KOTA)
    assert (agreement["stage"], agreement["ended_on"]) == ("dibatalkan", "2026-06-15")
    assert agreement["cancellation"]["cancelled_on"] == "2026-06-15"


def test_the_preparation_day_is_recorded_and_no_offer_predates_it(p: Platform) -> None:
    agreement = p.start(KOTA, [KAB], category="wajib", drafted_on="2026-03-01")
    assert agreement["drafted_on"] == "2026-03-01"
    problem = refused(p, agreement, "submit-offer", {"reference": "005/KS", "sent_on": "2026-02-01"})
    assert problem["conflicts_with"] == {"step": "create", "date": "2026-03-01"}
    future = p.registry.post("/agreements", json={
        "form": "KSDD", "category": "wajib", "title": "Kerja sama masa depan", "object": "Objek",
        "urusan": ["1.03"], "parties": [{"region": KAB}], "drafted_on": "2026-08-01"}, headers=p.headers(KOTA))
    assert (future.status_code, future.json()["code"]) == (422, "date_in_future")


def test_a_year_typed_short_is_refused_not_filed_outside_every_period(p: Platform) -> None:
    # 0224 for 2024: accepted before, the agreement then counted in no period's report.
    before = p.registry.post("/agreements", json={
        "form": "KSDD", "category": "wajib", "title": "Kerja sama lama", "object": "Objek",
        "urusan": ["1.03"], "parties": [{"region": KAB}], "drafted_on": "0224-01-05"}, headers=p.headers(KOTA))
    assert (before.status_code, before.json()["code"]) == (422, "date_too_early"), before.text
    agreement = p.start(KOTA, [KAB], category="wajib", drafted_on="1945-08-17")
    problem = refused(p, agreement, "submit-offer", {"reference": "005/KS", "sent_on": "0224-01-05"})
    assert problem["code"] == "date_too_early" and "Proklamasi" in problem["detail"]


# -- who decides records the decision -------------------------------------------------------------


def test_central_approval_is_requested_by_the_region_and_recorded_by_the_national_level(p: Platform) -> None:
    # The defect: the region recorded the Minister's approval itself; a national token got 403 role_required.
    agreement = p.start(KOTA, [], form="KSDPL", budgeted=True,
                        parties=[{"name": "Stadt Braunschweig", "type": "pemerintah_daerah_luar_negeri",
                                  "country": "Jerman"}])
    p.act(agreement, "submit-offer", {"reference": "005/KS", "sent_on": "2026-03-02"}, KOTA)
    p.act(agreement, "record-offer-response",
          {"decision": "accepted", "reference": "jawab/1", "responded_on": "2026-03-10"}, KOTA)
    p.act(agreement, "request-approval",
          {"kind": "dprd", "reference": "mohon/DPRD", "requested_on": "2026-03-12"}, KOTA)
    p.act(agreement, "record-approval", {"kind": "dprd", "decision": "approved", "reference": "Kep DPRD 1",
                                         "decided_on": "2026-03-20"}, KOTA)
    p.act(agreement, "request-approval",
          {"kind": "central", "reference": "mohon/Mendagri", "requested_on": "2026-03-21"}, KOTA)
    decision = {"kind": "central", "decision": "approved", "reference": "Kep Mendagri 100/2026",
                "decided_on": "2026-04-15"}
    # The region may not record it.
    assert refused(p, agreement, "record-approval", decision, KOTA, status=403)["code"] == (
        "central_approval_recorded_by_national")
    # A national monitor without the approver role may not either.
    assert refused(p, agreement, "record-approval", decision, "national", "monitor", status=403)["code"] == (
        "role_required")
    # The national level sees the agreement, and its approver records the decision.
    seen = p.registry.get(f"/agreements/{agreement['id']}", headers=p.headers("national", "approver"))
    assert seen.status_code == 200
    recorded = post(p, agreement, "record-approval", decision, "national", "approver")
    assert recorded.status_code == 200, recorded.text
    central = [a for a in recorded.json()["approvals"] if a["kind"] == "central"]
    assert [(a["region"], a["decision"], a["decided_on"]) for a in central] == [(KOTA, "approved", "2026-04-15")]
    history = p.registry.get(f"/agreements/{agreement['id']}/history", headers=p.headers(KOTA)).json()
    items = history["items"] if isinstance(history, dict) else history
    assert items[-1]["actor"]["tenant"] == "national"
    agreement.update(recorded.json())
    # The approver attaches the Minister's letter to the framework.
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    attached = p.registry.post(
        f"/agreements/{agreement['id']}/actions/attach-document",
        files={"file": ("kep-mendagri.pdf", pdf, "application/pdf")},
        data={"kind": "persetujuan_pemerintah_pusat", "document": "framework"},
        headers=p.headers("national", "approver", version=agreement["version"]))
    assert attached.status_code == 200, attached.text
    assert [(d["kind"], d["attached_by"]) for d in attached.json()["documents"]] == [
        ("persetujuan_pemerintah_pusat", "national")]
    agreement.update(attached.json())
    # The approver does nothing else: it is no party.
    assert refused(p, agreement, "cancel", {"reason": "Batal"}, "national", "approver", status=403)["code"] in (
        "role_required", "not_a_party")


def test_the_approver_role_is_for_the_national_level_only(p: Platform) -> None:
    with pytest.raises(ValueError, match="national"):
        p.tokens.issue(tenant=KOTA, roles=["approver"])


# -- wajib means neighbours ------------------------------------------------------------------------


def test_a_wajib_ksdd_between_bandung_and_surabaya_is_refused_and_sukarela_is_not(p: Platform) -> None:
    # The defect: a wajib KSDD was accepted between Kota Bandung and Kota Surabaya, which share no border.
    body = {"form": "KSDD", "category": "wajib", "title": "Kerja sama kota besar", "object": "Tukar pengalaman",
            "urusan": ["2.11"], "parties": [{"region": SURABAYA}]}
    before = event_count(p.url)
    response = p.registry.post("/agreements", json=body, headers=p.headers(KOTA))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["pair"]) == ("wajib_requires_adjacency", [KOTA, SURABAYA])
    assert event_count(p.url) == before
    ok = p.registry.post("/agreements", json={**body, "category": "sukarela"}, headers=p.headers(KOTA))
    assert ok.status_code == 201, ok.text


# -- progress is reported for periods of the framework ----------------------------------------------


def test_a_progress_report_for_a_period_before_the_framework_is_refused(p: Platform) -> None:
    # The defect: a progress report for 2025-S2 was accepted for a KB signed 2026-02-16.
    agreement = p.start(KOTA, [KAB], category="wajib")
    p.sign_framework(agreement, signed_on=date(2026, 2, 16), valid_until=date(2031, 2, 15))
    p.sync()
    problem = p.report(agreement, KOTA, "2025-S2", expect=422).json()
    assert problem["code"] == "period_before_framework"
    assert problem["conflicts_with"] == {"step": "sign-framework", "date": "2026-02-16"}
    p.report(agreement, KOTA, "2026-S1")
