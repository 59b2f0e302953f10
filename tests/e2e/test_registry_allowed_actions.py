"""`GET /agreements/{id}/actions`: the steps the caller may take now, by stage, party and role,
as the web app's buttons offer them; every step it lists for the next stage is then accepted."""

from __future__ import annotations

from collections.abc import Callable

from litestar.testing import TestClient

from tests.e2e.test_registry_http import BANDUNG

KOTA, KAB = "32.73", "32.04"


def actions(client: TestClient, headers: dict[str, str], agreement_id: str) -> dict[str, dict]:
    response = client.get(f"/agreements/{agreement_id}/actions", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    return {a["action"]: a for a in body["actions"]}


def test_the_allowed_actions_follow_the_stage_the_party_and_the_role(
    registry: TestClient, token: Callable[..., dict[str, str]]
) -> None:
    body = {**BANDUNG, "title": "Langkah berikutnya: sampah Bandung Raya", "budgeted_in_apbd": True}
    created = registry.post("/agreements", json=body, headers=token(KOTA, "operator"))
    assert created.status_code == 201, created.text
    agreement = created.json()
    aid = agreement["id"]

    # persiapan: the initiator sends the offer or cancels; the partner only attaches and corrects.
    kota = actions(registry, token(KOTA, "operator"), aid)
    assert list(kota) == ["submit-offer", "cancel", "attach-document", "correct"]
    assert list(actions(registry, token(KAB, "operator"), aid)) == ["cancel", "attach-document", "correct"]
    # Who may only read gets nothing to do: an auditor, a monitor, an approver with nothing pending.
    assert actions(registry, token("national", "auditor"), aid) == {}
    assert actions(registry, token("national", "approver"), aid) == {}
    assert actions(registry, token(KOTA, "admin"), aid) == {}
    # A region that is not a party does not see it at all.
    assert registry.get(f"/agreements/{aid}/actions", headers=token("35.78", "operator")).status_code == 404

    def step(action: str, payload: dict, tenant: str) -> None:
        nonlocal agreement
        response = registry.post(f"/agreements/{aid}/actions/{action}", json=payload,
                                 headers={**token(tenant, "operator"), "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, response.text
        agreement = response.json()

    step("submit-offer", {"reference": "005/KS/2025", "sent_on": "2025-09-10"}, KOTA)
    # penawaran: the partner answers; the initiator waits.
    assert "record-offer-response" in actions(registry, token(KAB, "operator"), aid)
    assert "record-offer-response" not in actions(registry, token(KOTA, "operator"), aid)
    step("record-offer-response", {"decision": "accepted", "reference": "120/KS/2025",
                                   "responded_on": "2025-09-20"}, KAB)
    # penyusunan_kesepakatan of a budgeted KSDD: no approval needed, the framework can be signed.
    kab = actions(registry, token(KAB, "operator"), aid)
    assert "sign-framework" in kab and "request-approval" not in kab and "cancel" in kab
    signatories = [
        {"party": KOTA, "name": "Wali Kota", "position": "Wali Kota Bandung", "capacity": "kepala_daerah"},
        {"party": KAB, "name": "Bupati", "position": "Bupati Bandung", "capacity": "kepala_daerah"},
    ]
    step("sign-framework", {"number": "KB/01/2025", "signed_on": "2025-10-01", "valid_from": "2025-10-01",
                            "valid_until": "2030-09-30", "signatories": signatories}, KOTA)
    signed = actions(registry, token(KOTA, "operator"), aid)
    assert list(signed) == ["draft-pks", "amend", "extend", "terminate", "attach-document", "correct"]
    assert signed["amend"]["documents"] == ["framework"]
    assert signed["terminate"]["documents"] == ["framework"]

    step("draft-pks", {"title": "PKS pengangkutan", "object": "Angkutan sampah ke Legok Nangka",
                       "drafted_on": "2025-10-05"}, KOTA)
    drafted = actions(registry, token(KOTA, "operator"), aid)
    assert drafted["sign-pks"]["documents"] == ["pks-1"]
    assert drafted["cancel"]["documents"] == ["pks-1"]
    # An open PKS keeps the framework from being terminated.
    assert "terminate" not in drafted


def test_a_pending_dprd_approval_is_recorded_by_its_region_and_a_central_one_by_the_approver(
    registry: TestClient, token: Callable[..., dict[str, str]]
) -> None:
    body = {"form": "KSDPL", "title": "Kerja sama kota kembar Bandung", "object": "Pertukaran budaya dan pendidikan",
            "urusan": ["1.01"], "parties": [{"name": "Kota Braunschweig", "type": "pemerintah_daerah_luar_negeri",
                                             "country": "DE"}], "drafted_on": "2025-09-01", "budgeted_in_apbd": True}
    created = registry.post("/agreements", json=body, headers=token(KOTA, "operator"))
    assert created.status_code == 201, created.text
    agreement = created.json()
    aid = agreement["id"]

    def step(action: str, payload: dict, tenant: str = KOTA, role: str = "operator") -> None:
        nonlocal agreement
        response = registry.post(f"/agreements/{aid}/actions/{action}", json=payload,
                                 headers={**token(tenant, role), "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, response.text
        agreement = response.json()

    step("submit-offer", {"reference": "005/KS/2025", "sent_on": "2025-09-10"})
    # The initiator records a foreign partner's answer.
    assert "record-offer-response" in actions(registry, token(KOTA, "operator"), aid)
    step("record-offer-response", {"decision": "accepted", "reference": "BS/2025", "responded_on": "2025-09-20",
                                   "party": "Kota Braunschweig"})
    kota = actions(registry, token(KOTA, "operator"), aid)
    assert kota["request-approval"] == {"action": "request-approval", "documents": ["framework"], "kinds": ["dprd"]}
    assert "sign-framework" not in kota
    step("request-approval", {"kind": "dprd", "reference": "DPRD/1", "requested_on": "2025-09-25"})
    kota = actions(registry, token(KOTA, "operator"), aid)
    assert kota["record-approval"]["kinds"] == ["dprd"] and "request-approval" not in kota
    step("record-approval", {"kind": "dprd", "decision": "approved", "reference": "DPRD/KEP/1",
                             "decided_on": "2025-09-30"})
    assert actions(registry, token(KOTA, "operator"), aid)["request-approval"]["kinds"] == ["central"]
    step("request-approval", {"kind": "central", "reference": "PUSAT/1", "requested_on": "2025-10-01"})
    approver = actions(registry, token("national", "approver"), aid)
    assert approver["record-approval"] == {"action": "record-approval", "documents": ["framework"],
                                           "kinds": ["central"]}
    assert approver["attach-document"]["attachment_kind"] == "persetujuan_pemerintah_pusat"
    assert "record-approval" not in actions(registry, token(KOTA, "operator"), aid)
