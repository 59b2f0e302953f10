"""The registry's lifecycle through HTTP, as officers drive it: Kota Bandung (32.73) and
Kabupaten Bandung (32.04) from `persiapan` to `berakhir` with two PKS, one amended and one
extended; every other form through its own path; If-Match, rule codes, documents."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from services.registry.app import create_app as create_registry
from shared.clock import ManualClock
from shared.settings import Settings
from tests.e2e.test_registry_http import BANDUNG, event_count

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
KOTA, KAB = "32.73", "32.04"


def kepala(region: str, name: str) -> dict[str, str]:
    return {"party": region, "name": name, "position": f"Kepala Daerah {region}", "capacity": "kepala_daerah"}


class Officer:
    """Drives one agreement through HTTP, always sending the version it last saw."""

    def __init__(self, client: TestClient, token: Callable[..., dict[str, str]], database_url: str,
                 agreement: dict) -> None:
        self.client, self.token, self.database_url, self.agreement = client, token, database_url, agreement

    @property
    def url(self) -> str:
        return f"/agreements/{self.agreement['id']}"

    def post(self, action: str, body: dict[str, Any], tenant: str = KOTA, *, version: int | None = None,
             role: str | None = None, **kw: Any) -> Any:
        role = role or ("approver" if tenant == "national" else "operator")
        current = self.agreement["version"] if version is None else version
        headers = {**self.token(tenant, role), "If-Match": f'"{current}"'}
        return self.client.post(f"{self.url}/actions/{action}", json=body, headers=headers, **kw)

    def step(self, action: str, body: dict[str, Any], tenant: str = KOTA) -> dict:
        response = self.post(action, body, tenant)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
        self.agreement = response.json()
        return self.agreement

    def refused(self, action: str, body: dict[str, Any], tenant: str = KOTA, *, status: int = 422, **kw: Any) -> dict:
        """Refused with a problem, and nothing appended to the event store."""
        before = event_count(self.database_url)
        response = self.post(action, body, tenant, **kw)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert event_count(self.database_url) == before
        problem = response.json()
        assert problem["detail"]
        return problem


@pytest.fixture(scope="module")
def officer(registry: TestClient, token, migrated_url: str) -> Callable[..., Officer]:
    def make(body: dict, tenant: str = KOTA, client: TestClient = registry) -> Officer:
        response = client.post("/agreements", json=body, headers=token(tenant, "operator"))
        assert response.status_code == 201, response.text
        return Officer(client, token, migrated_url, response.json())

    return make


def test_ksdd_bandung_walks_from_persiapan_to_berakhir_with_two_pks(
    officer: Callable[[dict], Officer], registry: TestClient, token, projection
) -> None:
    o = officer(BANDUNG)  # not budgeted in the APBD: each PKS needs both DPRDs
    assert o.agreement["stage"] == "persiapan"

    # persiapan -> penawaran, with If-Match required and checked.
    missing = registry.post(f"{o.url}/actions/submit-offer", json={"reference": "005/1", "sent_on": "2025-11-03"},
                            headers=token(KOTA))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    stale = o.refused("submit-offer", {"reference": "005/1", "sent_on": "2025-11-03"}, status=409, version=7)
    assert (stale["code"], stale["current_version"]) == ("version_conflict", 1)
    o.step("submit-offer", {"reference": "005/KS/XI/2025", "sent_on": "2025-11-03"})
    assert o.agreement["stage"] == "penawaran"

    # The counterpart answers for itself.
    assert o.refused("record-offer-response", {"decision": "accepted", "reference": "x", "responded_on": "2025-11-10",
                                               "party": KAB}, status=403)["code"] == "counterpart_must_respond"
    o.step("record-offer-response", {"decision": "accepted", "reference": "415/KAB/2025", "responded_on": "2025-11-10"},
           KAB)
    assert o.agreement["stage"] == "penyusunan_kesepakatan"

    # The framework: heads of region only.
    framework = {"number": "KB/01/BDG/2025", "signed_on": "2025-12-01", "valid_from": "2025-12-01",
                 "valid_until": "2030-11-30",
                 "signatories": [kepala(KOTA, "Wali Kota Bandung"),
                                 {"party": KAB, "name": "Kadis LH", "position": "Kepala DLH",
                                  "capacity": "pejabat_kuasa", "surat_kuasa": "SK/1"}]}
    assert o.refused("sign-framework", framework)["code"] == "signatory_not_authorized"
    framework["signatories"][1] = kepala(KAB, "Bupati Bandung")
    o.step("sign-framework", framework)
    assert o.agreement["stage"] == "kesepakatan_ditandatangani"
    assert o.agreement["framework"]["number"] == "KB/01/BDG/2025"

    # PKS 1: unbudgeted, so both DPRDs approve first; each region records its own.
    o.step("draft-pks", {"title": "PKS pengangkutan sampah", "object": "Angkutan ke TPPAS Legok Nangka",
                         "value_idr": 12_000_000_000, "drafted_on": "2025-12-02"})
    pks1 = {"pks": "pks-1", "number": "PKS/01/2025", "signed_on": "2025-12-20", "start_on": "2026-01-01",
            "end_on": "2028-12-31", "signatories": [kepala(KOTA, "Wali Kota Bandung"), kepala(KAB, "Bupati Bandung")]}
    problem = o.refused("sign-pks", pks1)
    assert problem["code"] == "dprd_approval_required"
    assert problem["missing"] == [{"kind": "dprd", "region": KOTA}, {"kind": "dprd", "region": KAB}]
    for region in (KOTA, KAB):
        o.step("request-approval", {"kind": "dprd", "document": "pks-1", "reference": f"mohon/{region}",
                                    "requested_on": "2025-12-05"}, region)
        assert o.agreement["pks"][0]["stage"] == "menunggu_persetujuan_dprd"
        o.step("record-approval", {"kind": "dprd", "document": "pks-1", "decision": "approved",
                                   "reference": f"Kep DPRD {region}", "decided_on": "2025-12-15"}, region)
    assert {a["reasons"][0] for a in o.agreement["approvals"]} == {"belum_teranggarkan"}
    o.step("sign-pks", pks1)
    assert o.agreement["stage"] == "pelaksanaan"

    # PKS 2: budgeted and not burdening, signed by an official with a surat kuasa.
    o.step("draft-pks", {"title": "PKS pemilahan sampah", "object": "Bank sampah", "budgeted_in_apbd": True,
                         "drafted_on": "2025-12-21"})
    pks2 = {"pks": "pks-2", "number": "PKS/02/2025", "signed_on": "2026-01-02", "start_on": "2026-01-05",
            "end_on": "2027-01-04",
            "signatories": [kepala(KOTA, "Wali Kota Bandung"),
                            {"party": KAB, "name": "Kadis LH", "position": "Kepala DLH",
                             "capacity": "pejabat_kuasa"}]}
    assert o.refused("sign-pks", pks2)["code"] == "surat_kuasa_required"
    pks2["signatories"][1]["surat_kuasa"] = "800/SK/2025"
    o.step("sign-pks", pks2)

    # PKS 1 amended, PKS 2 extended (and not beyond the term limit without exception).
    o.step("amend", {"document": "pks-1", "reference": "ADD/01/2026", "signed_on": "2026-01-03",
                     "changes": "Tambahan ritase angkutan", "value_idr": 14_000_000_000})
    assert o.refused("extend", {"document": "pks-2", "reference": "EXT/01", "signed_on": "2026-01-04",
                                "new_end": "2032-01-05"})["code"] == "duration_exceeds_limit"
    o.step("extend", {"document": "pks-2", "reference": "EXT/01/2026", "signed_on": "2026-01-04",
                      "new_end": "2029-01-04"})
    pks = {p["id"]: p for p in o.agreement["pks"]}
    assert pks["pks-1"]["value_idr"] == 14_000_000_000 and pks["pks-1"]["addenda"][0]["reference"] == "ADD/01/2026"
    assert pks["pks-2"]["end_on"] == "2029-01-04" and pks["pks-2"]["extensions"][0]["previous_end"] == "2027-01-04"

    # The signed PKS, attached; any tenant that sees the agreement may download it.
    upload = registry.post(f"{o.url}/actions/attach-document",
                           files={"file": ("pks-1.pdf", PDF, "application/pdf")},
                           data={"kind": "perjanjian_kerja_sama", "document": "pks-1"},
                           headers={**token(KOTA), "If-Match": f'"{o.agreement["version"]}"'})
    assert upload.status_code == 200, upload.text
    o.agreement = upload.json()
    (attached,) = o.agreement["documents"]
    assert attached["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (attached["media_type"], attached["size"], attached["document"]) == ("application/pdf", len(PDF), "pks-1")
    download = registry.get(attached["download_url"], headers=token("32", "monitor"))
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert registry.get(attached["download_url"], headers=token("35", "monitor")).status_code == 404

    # Ending: the framework only after both PKS; then the family is berakhir.
    ending = {"document": "framework", "ground": "tujuan_tercapai", "reference": "BA/KB/2026",
              "terminated_on": "2026-01-05"}
    assert o.refused("terminate", ending)["code"] == "documents_still_open"
    o.step("terminate", {"document": "pks-1", "ground": "masa_berlaku_habis", "reference": "BA/1",
                         "terminated_on": "2026-01-05"})
    o.step("terminate", {"document": "pks-2", "ground": "para_pihak_sepakat", "reference": "BA/2",
                         "terminated_on": "2026-01-05"}, KAB)
    o.step("terminate", ending)
    assert o.agreement["stage"] == "berakhir"
    assert [p["stage"] for p in o.agreement["pks"]] == ["berakhir", "diputus"]
    assert o.refused("draft-pks", {"title": "PKS lagi", "object": "Objek"})["code"] == "agreement_closed"

    # The read model and GraphQL show the same family, to every tenant that may see it.
    projection()
    read = registry.get(o.url, headers=token("national", "monitor")).json()
    listed = registry.get("/agreements", params={"stage": "berakhir", "q": "sampah"}, headers=token("32", "monitor"))
    (row,) = [a for a in listed.json()["items"] if a["id"] == read["id"]]
    assert row == read
    graphql = registry.post("/graphql", headers=token(KAB, "operator"), json={
        "query": """query($id: ID!) { agreement(id: $id) { stage version framework { number stage validUntil }
                    pks { id stage endOn addenda { reference valueIdr } extensions { newEnd } termination { ground } }
                    approvals { region decision reasons } documents { sha256 downloadUrl } } }""",
        "variables": {"id": read["id"]}}).json()
    node = graphql["data"]["agreement"]
    assert node["stage"] == "BERAKHIR" and node["version"] == read["version"]
    assert node["framework"] == {"number": "KB/01/BDG/2025", "stage": "berakhir", "validUntil": "2030-11-30"}
    assert [(p["id"], p["stage"]) for p in node["pks"]] == [("pks-1", "berakhir"), ("pks-2", "diputus")]
    assert node["pks"][0]["addenda"] == [{"reference": "ADD/01/2026", "valueIdr": "14000000000"}]
    assert node["pks"][1]["extensions"] == [{"newEnd": "2029-01-04"}]
    assert node["documents"][0]["sha256"] == attached["sha256"]


def test_only_operators_of_a_party_region_act(officer, registry: TestClient, token) -> None:
    o = officer(BANDUNG)
    offer = {"reference": "005/1", "sent_on": "2025-11-03"}
    assert o.refused("submit-offer", offer, "32", status=403)["code"] == "not_a_party"  # the province oversees
    assert o.refused("submit-offer", offer, KOTA, status=403, role="monitor")["code"] == "role_required"
    assert o.refused("submit-offer", offer, "35.78", status=404)["status"] == 404  # cannot even see it


def test_a_stale_if_match_after_a_concurrent_change_is_a_conflict(officer) -> None:
    o = officer(BANDUNG)
    seen = o.agreement["version"]
    o.step("submit-offer", {"reference": "005/1", "sent_on": "2025-11-03"})
    problem = o.refused("cancel", {"reason": "Dobel"}, status=409, version=seen)
    assert problem["current_version"] == o.agreement["version"]


def test_bad_action_bodies_are_problems_that_change_nothing(officer, registry: TestClient, token) -> None:
    o = officer(BANDUNG)
    unknown_field = o.refused("submit-offer", {"reference": "1", "sent_on": "2025-11-03", "stage": "berakhir"})
    assert unknown_field["errors"][0]["field"] == "stage"
    assert o.refused("submit-offer", {"reference": "1", "sent_on": "kemarin"})["errors"][0]["field"] == "sent_on"
    assert o.refused("sign-framework", {"number": "KB", "signed_on": "2025-12-01", "valid_from": "2025-12-01",
                                        "valid_until": "2030-01-01", "signatories": [kepala(KOTA, "Wali Kota")]}
                     )["code"] == "stage_transition_not_allowed"
    assert o.refused("submit-offer", {"reference": "1", "sent_on": "2027-01-01"})["code"] == "date_in_future"
    bad_match = registry.post(f"{o.url}/actions/submit-offer", json={"reference": "1", "sent_on": "2025-11-03"},
                              headers={**token(KOTA), "If-Match": "abc"})
    assert (bad_match.status_code, bad_match.json()["code"]) == (400, "invalid_if_match")
    unknown_action = registry.post(
        f"{o.url}/actions/sign-everything", json={}, headers={**token(KOTA), "If-Match": '"1"'}
    )
    assert unknown_action.status_code in (404, 405)
    assert unknown_action.headers["content-type"].startswith("application/problem+json")


def test_the_configured_limits_apply(officer, token, settings: Settings, migrated_url: str) -> None:
    """KSD_MAX_DOCUMENT_BYTES and KSD_PKS_MAX_YEARS reach the upload and the PKS rule."""
    tight = Settings.from_env({}, jwt_secret=settings.jwt_secret, data_dir=settings.data_dir, max_document_bytes=64,
                              pks_max_years=2, log_level="warning")
    with TestClient(create_registry(tight, database_url=migrated_url, clock=ManualClock()),
                    raise_server_exceptions=False) as client:
        o = officer({**BANDUNG, "budgeted_in_apbd": True}, client=client)
        too_big = client.post(f"{o.url}/actions/attach-document", files={"file": ("kb.pdf", PDF * 10)},
                              data={"kind": "studi_kelayakan"}, headers={**token(KOTA), "If-Match": '"1"'})
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("application/problem+json")
        o.step("submit-offer", {"reference": "005/1", "sent_on": "2025-11-03"})
        o.step("record-offer-response", {"decision": "accepted", "reference": "j", "responded_on": "2025-11-04"}, KAB)
        signatories = [kepala(KOTA, "Wali Kota Bandung"), kepala(KAB, "Bupati Bandung")]
        o.step("sign-framework", {"number": "KB/2", "signed_on": "2025-11-05", "valid_from": "2025-11-05",
                                  "valid_until": "2030-11-04", "signatories": signatories})
        o.step("draft-pks", {"title": "PKS tiga tahun", "object": "Angkutan", "drafted_on": "2025-11-05"})
        three_years = {"pks": "pks-1", "number": "PKS/3", "signed_on": "2025-11-06", "start_on": "2026-01-01",
                       "end_on": "2028-12-31", "signatories": signatories}
        problem = o.refused("sign-pks", three_years)
        assert (problem["code"], problem["max_years"]) == ("duration_exceeds_limit", 2)


def test_attachments_must_be_pdf_or_images(officer, registry: TestClient, token, migrated_url: str) -> None:
    o = officer(BANDUNG)

    def upload(client: TestClient, content: bytes, name: str = "x.pdf") -> Any:
        return client.post(f"{o.url}/actions/attach-document", files={"file": (name, content, "application/pdf")},
                           data={"kind": "studi_kelayakan"},
                           headers={**token(KOTA), "If-Match": f'"{o.agreement["version"]}"'})

    before = event_count(migrated_url)
    script = upload(registry, b"<html><script>alert(1)</script></html>", "kajian.pdf")
    assert script.status_code == 415 and script.json()["code"] == "unsupported_media_type"
    assert event_count(migrated_url) == before
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    ok = upload(registry, png, "peta.png")
    assert ok.status_code == 200, ok.text
    assert ok.json()["documents"][0]["media_type"] == "image/png"


PATHS: dict[str, dict[str, Any]] = {
    "KSDPK": {"partner": {"name": "PT Tirta Bandung", "type": "badan_usaha"}, "approvals": [],
              "document_type": None, "plan": []},
    "KSDPL": {"partner": {"name": "Stadt Braunschweig", "type": "pemerintah_daerah_luar_negeri",
                          "country": "Jerman"}, "approvals": ["dprd", "central"], "document_type": "mou", "plan": []},
    "KSDLL": {"partner": {"name": "JICA", "type": "lembaga_luar_negeri", "country": "Jepang"},
              "approvals": ["dprd", "central"], "document_type": "loi", "plan": []},
    "SINERGI": {"partner": {"name": "Kementerian PUPR", "type": "kementerian"}, "approvals": [],
                "document_type": None, "plan": ["Penyusunan DED TPPAS", "Pembangunan jalan akses"]},
}


@pytest.mark.parametrize("form", list(PATHS))
def test_every_other_form_walks_its_own_path_to_berakhir(officer, form: str, projection, registry, token) -> None:
    path = PATHS[form]
    partner = path["partner"]["name"]
    o = officer({**BANDUNG, "form": form, "category": None, "parties": [path["partner"]], "budgeted_in_apbd": True})
    o.step("submit-offer", {"reference": "005/1", "sent_on": "2025-11-03"})
    o.step("record-offer-response", {"decision": "accepted", "reference": "jawab/1", "responded_on": "2025-11-10"})
    framework = {"number": f"{form}/01", "signed_on": "2025-12-01", "valid_from": "2025-12-01",
                 "valid_until": "2030-11-30", "document_type": path["document_type"], "rencana_kerja": path["plan"],
                 "signatories": [kepala(KOTA, "Wali Kota Bandung"),
                                 {"party": partner, "name": "Wakil mitra", "position": "Direktur",
                                  "capacity": "perwakilan_mitra"}]}
    days = [("2025-11-12", "2025-11-18"), ("2025-11-19", "2025-11-25")]
    for kind, (asked, decided) in zip(path["approvals"], days, strict=False):
        assert o.refused("sign-framework", framework)["code"] == f"{kind}_approval_required"
        o.step("request-approval", {"kind": kind, "reference": f"mohon/{kind}", "requested_on": asked})
        # The DPRD's decision is recorded by the region; the Minister's by the national level.
        o.step("record-approval", {"kind": kind, "decision": "approved", "reference": f"setuju/{kind}",
                                   "decided_on": decided}, "national" if kind == "central" else KOTA)
    o.step("sign-framework", framework)
    if form == "SINERGI":
        assert o.refused("draft-pks", {"title": "PKS", "object": "Objek"})["code"] == "pks_not_allowed_for_form"
        o.step("start-work-plan", {"started_on": "2026-01-02"})
    else:
        o.step("draft-pks", {"title": f"PKS {form}", "object": "Pelaksanaan", "drafted_on": "2025-12-02"})
        o.step("sign-pks", {"pks": "pks-1", "number": "PKS/1", "signed_on": "2025-12-15", "start_on": "2026-01-01",
                            "end_on": "2027-12-31", "signatories": framework["signatories"]})
        o.step("terminate", {"document": "pks-1", "ground": "tujuan_tercapai", "reference": "BA/1",
                             "terminated_on": "2026-01-05"})
    assert o.agreement["stage"] == "pelaksanaan"
    o.step("terminate", {"document": "framework", "ground": "para_pihak_sepakat", "reference": "BA/KB",
                         "terminated_on": "2026-01-05"})
    assert o.agreement["stage"] == "berakhir"
    projection()
    listed = registry.get("/agreements", params={"form": form, "stage": "berakhir"}, headers=token(KOTA)).json()
    assert o.agreement["id"] in [a["id"] for a in listed["items"]]


def test_cancelling_before_signature_and_not_after(officer) -> None:
    o = officer(BANDUNG)
    o.step("submit-offer", {"reference": "005/1", "sent_on": "2025-11-03"})
    o.step("cancel", {"reason": "Anggaran dialihkan"})
    assert o.agreement["stage"] == "dibatalkan"
    rejected = officer(BANDUNG)
    rejected.step("submit-offer", {"reference": "005/2", "sent_on": "2025-11-03"})
    rejected.step("record-offer-response", {"decision": "rejected", "reference": "tolak", "responded_on": "2025-11-04"},
                  KAB)
    assert rejected.agreement["stage"] == "dibatalkan"


def test_list_and_graphql_filter_by_signed_and_expiring_dates(officer, registry: TestClient, token, projection) -> None:
    o = officer({**BANDUNG, "title": "Kerja sama air minum Bandung Raya", "budgeted_in_apbd": True})
    o.step("submit-offer", {"reference": "005/1", "sent_on": "2025-10-01"})
    o.step("record-offer-response", {"decision": "accepted", "reference": "j", "responded_on": "2025-10-02"}, KAB)
    o.step("sign-framework", {"number": "KB/AIR", "signed_on": "2025-10-15", "valid_from": "2025-10-15",
                              "valid_until": "2026-03-31",
                              "signatories": [kepala(KOTA, "Wali Kota"), kepala(KAB, "Bupati")]})
    projection()

    def ids(**params: str) -> list[str]:
        return [a["id"] for a in registry.get("/agreements", params={"q": "air minum", **params},
                                              headers=token("32", "monitor")).json()["items"]]

    assert o.agreement["id"] in ids(signed_from="2025-10-01", signed_to="2025-10-31")
    assert o.agreement["id"] not in ids(signed_from="2025-11-01")
    assert o.agreement["id"] in ids(expiring_from="2026-03-01", expiring_to="2026-04-30")
    assert o.agreement["id"] not in ids(expiring_to="2026-02-28")
    graphql = registry.post("/graphql", headers=token("national", "monitor"), json={"query": """
        { agreements(filter: {q: "air minum", expiringFrom: "2026-03-01", expiringTo: "2026-04-30"}) {
            nodes { id framework { validUntil } } } }"""}).json()
    assert graphql["data"]["agreements"]["nodes"] == [
        {"id": o.agreement["id"], "framework": {"validUntil": "2026-03-31"}}
    ]


def test_concurrent_writers_one_wins_the_other_gets_409(registry_app, migrated_url: str) -> None:
    """Two officers act on the same version at the same moment: exactly one is recorded."""
    import threading

    from services.registry.application import StartAgreement
    from services.registry.domain import commands as c
    from shared.auth import Identity
    from shared.errors import VersionConflict

    kota = Identity(sub="op-kota", name="", tenant=KOTA, roles=("operator",))
    started = registry_app.start_agreement(kota, StartAgreement(
        form="KSDD", category="wajib", title="Serentak", object="Uji", urusan=["2.11"], parties=[{"region": KAB}]))
    agreement_id = started.agreement.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(command: Any) -> None:
        barrier.wait()
        try:
            registry_app.act(kota, agreement_id, 1, command)
            outcomes.append("ok")
        except VersionConflict as exc:
            assert exc.extra["current_version"] == 2
            outcomes.append("409")

    threads = [threading.Thread(target=write, args=(cmd,)) for cmd in
               (c.SubmitOffer("005/A", started.agreement.created_on.date()), c.Cancel("Tidak jadi"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "ok"]
    with psycopg.connect(migrated_url) as conn:
        versions = conn.execute("SELECT originator_version FROM registry.registry_events WHERE originator_id = %s",
                                (agreement_id,)).fetchall()
    assert sorted(v[0] for v in versions) == [1, 2]
