"""The reporting chain through HTTP, on DI Yogyakarta (province 34, five kab/kota): region
reports compiled from the read models and frozen when submitted, the province's
consolidation (three on time, one late, one never), its submission to the ministry, the
national roll-up, and the exports an official prints.

One platform (its own database, one clock that only moves forward) for the module; the
scenario is built once and each test reads one side of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import openpyxl
import psycopg
import pytest
from pypdf import PdfReader

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

DIY = "34"
KULON_PROGO, BANTUL, GUNUNGKIDUL, SLEMAN, YOGYA = "34.01", "34.02", "34.03", "34.04", "34.71"
KOTA_BANDUNG = "32.73"


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2025, 12, 1)) as running:
        yield running


def reporting_events(p: ReportingPlatform) -> int:
    with psycopg.connect(p.url) as conn:
        return conn.execute("SELECT count(*) FROM reporting.reporting_events").fetchone()[0]


def kartamantul(p: ReportingPlatform) -> dict:
    agreement = p.start(YOGYA, [SLEMAN, BANTUL], category="wajib",
                        title="Kartamantul: pengelolaan sampah TPST Piyungan",
                        value_idr=2_500_000_000)
    p.sign_framework(agreement, signed_on=p.today, valid_until=date(2030, 12, 31))
    return p.sign_pks(agreement, signed_on=date(2025, 12, 15) if p.today >= date(2025, 12, 15) else p.today,
                      start_on=date(2026, 1, 1), end_on=date(2027, 12, 31))


@pytest.fixture(scope="module")
def scenario(p: ReportingPlatform) -> dict[str, Any]:
    """December 2025: Kartamantul (Yogyakarta, Sleman, Bantul) with a PKS for 2026-2027, a
    Kulon Progo–Gunungkidul road cooperation, and the province's own cooperation with
    Kota Bandung. July 2026: progress for 2026-S1, then the reports: Yogyakarta, Sleman and
    Bantul on time, Kulon Progo late (August), Gunungkidul never."""
    p.advance_to(date(2025, 12, 15))
    waste = kartamantul(p)
    roads = p.start(KULON_PROGO, [GUNUNGKIDUL], title="Jalan poros Kulon Progo–Gunungkidul", value_idr=750_000_000)
    p.sign_framework(roads, signed_on=p.today, valid_until=date(2029, 12, 31))
    own = p.start(DIY, [KOTA_BANDUNG], title="Promosi pariwisata DIY–Bandung", value_idr=400_000_000)
    p.sign_framework(own, signed_on=p.today, valid_until=date(2028, 12, 31))

    p.advance_to(date(2026, 7, 3))
    p.report(waste, YOGYA, "2026-S1", obstacles="Armada pengangkut kurang",
             indicators=[{"name": "Sampah terangkut", "unit": "ton", "target": 1200, "achieved": 950}],
             budget={"planned_idr": 1_500_000_000, "realised_idr": 1_100_000_000})
    p.report(waste, SLEMAN, "2026-S1")

    p.advance_to(date(2026, 7, 10))
    reports = {}
    for region in (YOGYA, SLEMAN, BANTUL):
        draft = p.draft(region, "2026-S1", narrative=f"Uraian pelaksanaan kerja sama {region} semester I 2026.")
        reports[region] = p.submit(draft)
    p.advance_to(date(2026, 8, 15))  # after the deadline (30 July)
    late = p.draft(KULON_PROGO, "2026-S1", narrative="Laporan terlambat karena pergantian pejabat.")
    reports[KULON_PROGO] = p.submit(late)
    return {"waste": waste, "roads": roads, "own": own, "reports": reports}


def test_a_region_report_is_compiled_from_the_read_models(p: ReportingPlatform, scenario: dict) -> None:
    report = scenario["reports"][YOGYA]
    assert (report["status"], report["timeliness"], report["revision"]) == ("disampaikan", "tepat_waktu", 1)
    assert report["content_source"] == "submitted" and report["deadline"] == "2026-07-30"
    content = report["content"]
    assert content["region"] == {"code": YOGYA, "name": "Kota Yogyakarta", "kind": "kota", "province": DIY}
    assert content["period"]["code"] == "2026-S1" and content["compiled_on"] == "2026-07-10"
    [entry] = content["agreements"]
    assert entry["id"] == scenario["waste"]["id"] and entry["stage"] == "pelaksanaan"
    assert {p["code"] for p in entry["partners"]} == {SLEMAN, BANTUL}
    assert [d["type"] for d in entry["documents"] if d["in_force"]] == ["kesepakatan_bersama", "perjanjian_kerja_sama"]
    assert entry["progress_due"] == ["2026-S1"] and entry["progress_missing"] == []
    assert [i["achieved"] for p in entry["progress"] for i in p["indicators"]] == [950]
    assert (entry["budget_planned_idr"], entry["budget_realised_idr"]) == (1_500_000_000, 1_100_000_000)
    summary = content["summary"]
    assert (summary["agreements"], summary["value_idr"], summary["pks_in_force"]) == (1, 2_500_000_000, 1)
    assert (summary["progress_expected"], summary["progress_reported"]) == (1, 1)
    assert summary["realisation_share"] == round(1_100_000_000 / 1_500_000_000, 4)
    assert report["sources"]["registry"] > 0 and report["sources"]["monitoring"] > 0

    # Bantul filed no progress for the semester: its report says so; the alert comes only after the
    # progress deadline (30 days after the semester), so none yet on 10 July.
    bantul = scenario["reports"][BANTUL]["content"]
    [waste] = bantul["agreements"]
    assert waste["progress_due"] == ["2026-S1"] and waste["progress_missing"] == ["2026-S1"]
    assert bantul["summary"]["progress_reported"] == 0 and waste["alerts"] == []


def test_the_consolidation_says_who_reported_on_time_late_or_never(p: ReportingPlatform, scenario: dict) -> None:
    body = p.consolidation(DIY, "2026-S1")
    assert body["status"] == "draf" and body["content_source"] == "live"
    content = body["content"]
    standing = {r["code"]: r["status"] for r in content["regions"]}
    assert standing == {YOGYA: "tepat_waktu", SLEMAN: "tepat_waktu", BANTUL: "tepat_waktu",
                        KULON_PROGO: "terlambat", GUNUNGKIDUL: "belum_menyampaikan"}
    assert [r["code"] for r in content["regions"]] == [KULON_PROGO, BANTUL, GUNUNGKIDUL, SLEMAN, YOGYA]
    c = content["completeness"]
    assert (c["regions"], c["tepat_waktu"], c["terlambat"], c["belum_menyampaikan"], c["submitted"]) == (5, 3, 1, 1, 4)
    late = next(r for r in content["regions"] if r["code"] == KULON_PROGO)
    assert late["first_submitted_on"] == "2026-08-15" and late["figures"]["agreements"] == 1
    assert next(r for r in content["regions"] if r["code"] == GUNUNGKIDUL)["figures"] is None
    # Kartamantul is in three regions' reports: agreements are counted once, province-wide, and
    # only each region's own figures (its budget and progress) add up across reports.
    assert "agreements" not in content["reported_totals"]
    assert content["reported_totals"]["budget_planned_idr"] == 1_500_000_000 + 1_000_000_000  # Yogya's and Sleman's
    assert content["province_wide"]["agreements"] == 3
    assert content["province_wide"]["value_idr"] == 2_500_000_000 + 750_000_000 + 400_000_000
    assert content["own_report"]["status"] == "belum_menyampaikan"
    assert [a["title"] for a in content["own_report"]["agreements"]] == ["Promosi pariwisata DIY–Bandung"]


def test_only_the_province_and_the_ministry_see_the_consolidation(p: ReportingPlatform, scenario: dict) -> None:
    url = f"/consolidations/{DIY}/2026-S1"
    own = p.reporting.get(url, headers=p.headers(DIY, "monitor"))
    ministry = p.reporting.get(url, headers=p.headers("national", "monitor"))
    assert own.status_code == ministry.status_code == 200
    # The ministry reads the province's consolidation as the province does (the same rows).
    assert ministry.json()["content"] == own.json()["content"]
    for tenant, role, status in ((YOGYA, "operator", 404), ("32", "consolidator", 404), (DIY, "operator", 403)):
        response = p.reporting.get(url, headers=p.headers(tenant, role))
        assert response.status_code == status, (tenant, role, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # Not a province code at all: a malformed path (400); a well-formed but unknown province: 404.
    assert p.reporting.get(f"/consolidations/{YOGYA}/2026-S1", headers=p.headers(YOGYA, "consolidator")
                           ).json()["code"] == "invalid_parameter"
    for unknown in ("99", "00"):
        for suffix in ("", "/export"):
            response = p.reporting.get(f"/consolidations/{unknown}/2026-S1{suffix}",
                                       headers=p.headers("national", "monitor"))
            assert response.status_code == 404, response.text
        response = p.reporting.post(f"/consolidations/{unknown}/2026-S1/submit",
                                    headers=p.headers("national", "consolidator"))
        assert response.status_code == 404, response.text


def test_refused_requests_change_nothing(p: ReportingPlatform, scenario: dict) -> None:
    before = reporting_events(p)

    def refused(status: int, method: str, url: str, tenant: str, *roles: str, body: Any = None, **headers: str) -> dict:
        response = p.reporting.request(method, url, json=body, headers={**p.headers(tenant, *roles), **headers})
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.json()

    assert refused(422, "POST", "/reports", GUNUNGKIDUL, body={"period": "2026-S3"})["code"] == "validation_failed"
    assert refused(422, "POST", "/reports", GUNUNGKIDUL, body={"period": "2027-S1"})["code"] == "period_not_started"
    unknown = refused(422, "POST", "/reports", GUNUNGKIDUL, body={"period": "2026-S1", "x": 1})
    assert unknown["errors"][0]["field"] == "x"
    monitor = refused(403, "POST", "/reports", GUNUNGKIDUL, "monitor", body={"period": "2026-S1"})
    assert monitor["code"] == "role_required"
    assert refused(403, "POST", "/reports", "national", body={"period": "2026-S1"})["code"] == "tenant_not_a_region"
    yogya = scenario["reports"][YOGYA]
    submit = f"/reports/{yogya['id']}/submit"
    assert refused(428, "POST", submit, YOGYA)["status"] == 428
    assert refused(409, "POST", submit, YOGYA, **{"If-Match": '"1"'})["code"] == "version_conflict"
    assert refused(404, "POST", submit, SLEMAN, **{"If-Match": f'"{yogya["version"]}"'})["status"] == 404
    assert refused(403, "POST", submit, DIY, **{"If-Match": f'"{yogya["version"]}"'})["code"] == "not_the_region"
    assert refused(404, "POST", submit, "35.78", **{"If-Match": f'"{yogya["version"]}"'})["status"] == 404
    revised = refused(422, "POST", submit, YOGYA, **{"If-Match": f'"{yogya["version"]}"'})
    assert revised["code"] == "revision_reason_required"
    assert refused(404, "GET", f"/reports/{yogya['id']}", "32")["status"] == 404  # another province
    assert reporting_events(p) == before  # nothing refused was stored
    # A draft for a period still running cannot be submitted.
    draft = p.draft(GUNUNGKIDUL, "2026-S2", narrative="Semester berjalan.")
    before = reporting_events(p)
    assert refused(422, "POST", f"/reports/{draft['id']}/submit", GUNUNGKIDUL,
                   **{"If-Match": f'"{draft["version"]}"'})["code"] == "period_not_ended"
    assert reporting_events(p) == before
    empty = p.draft(GUNUNGKIDUL, "2026-S1")
    before = reporting_events(p)
    assert refused(422, "POST", f"/reports/{empty['id']}/submit", GUNUNGKIDUL,
                   **{"If-Match": f'"{empty["version"]}"'})["code"] == "narrative_required"
    assert reporting_events(p) == before  # nothing refused was stored
    # The same draft request again is a safe retry; another text is a conflict.
    assert p.draft(GUNUNGKIDUL, "2026-S1", expect=200)["id"] == empty["id"]
    assert p.draft(GUNUNGKIDUL, "2026-S1", expect=409, narrative="lain")["code"] == "report_exists"


def test_a_submitted_report_is_frozen_when_the_agreement_changes_later(p: ReportingPlatform, scenario: dict) -> None:
    report = scenario["reports"][YOGYA]
    waste = scenario["waste"]
    p.act(waste, "amend", {"document": "framework", "reference": "Addendum/1", "signed_on": p.today.isoformat(),
                           "changes": "Nilai kerja sama ditambah", "value_idr": 3_000_000_000}, YOGYA)
    p.sync()
    url = f"/reports/{report['id']}"
    frozen = p.reporting.get(url, headers=p.headers(YOGYA)).json()
    assert frozen["content"] == report["content"] and frozen["sources"] == report["sources"]
    assert frozen["content"]["agreements"][0]["value_idr"] == 2_500_000_000
    live = p.reporting.get(url, params={"live": "true"}, headers=p.headers(YOGYA)).json()
    assert live["content_source"] == "live" and live["content"]["agreements"][0]["value_idr"] == 3_000_000_000
    assert live["sources"]["registry"] > report["sources"]["registry"]

    # The operator rewrites the narrative for a new revision: the submitted one keeps its own text.
    edited = p.reporting.patch(url, json={"narrative": "Uraian diperbarui setelah addendum."},
                               headers=p.headers(YOGYA, version=frozen["version"]))
    assert edited.status_code == 200, edited.text
    assert edited.json()["narrative"] == report["narrative"] and edited.json()["content_source"] == "submitted"
    draft_text = p.reporting.get(url, params={"live": "true"}, headers=p.headers(YOGYA)).json()
    assert draft_text["narrative"] == "Uraian diperbarui setelah addendum."
    printed = PdfReader(io.BytesIO(p.reporting.get(f"{url}/export", params={"format": "pdf", "revision": 1},
                                                   headers=p.headers(YOGYA)).content))
    text = " ".join(page.extract_text() for page in printed.pages)
    assert report["narrative"] in text and "diperbarui setelah addendum" not in text

    # Submitting again makes revision 2; revision 1 stays as it was.
    again = p.submit(edited.json(), reason="Nilai kerja sama berubah dengan addendum")
    assert again["narrative"] == "Uraian diperbarui setelah addendum."
    assert (again["revision"], again["timeliness"]) == (2, "tepat_waktu")  # the first submission was on time
    assert again["content"]["agreements"][0]["value_idr"] == 3_000_000_000
    assert [s["on_time"] for s in again["submissions"]] == [True, False]
    first = p.reporting.get(url, params={"revision": 1}, headers=p.headers(DIY, "consolidator")).json()
    assert first["content"] == report["content"] and first["content_revision"] == 1
    assert (first["narrative"], first["deadline"]) == (report["narrative"], "2026-07-30")
    assert p.reporting.get(url, params={"revision": 3}, headers=p.headers(YOGYA)).status_code == 404


def test_the_province_submits_its_consolidation_and_the_ministry_sees_it(p: ReportingPlatform, scenario: dict) -> None:
    url = f"/consolidations/{DIY}/2026-S1/submit"
    assert p.reporting.post(url, headers=p.headers(DIY, "monitor")).json()["code"] == "role_required"
    assert p.reporting.post(url, headers=p.headers("national", "consolidator")).json()["code"] == "not_the_province"
    body = {"narrative": "Gunungkidul belum menyampaikan laporan."}
    key = {"Idempotency-Key": "konsolidasi-34-2026-S1"}
    response = p.reporting.post(url, json=body, headers={**p.headers(DIY, "consolidator"), **key})
    assert response.status_code == 201, response.text
    sent = response.json()
    # The response was lost; the retry with the same key and body gets the same answer, records nothing.
    p.sync()
    before = reporting_events(p)
    retry = p.reporting.post(url, json=body, headers={**p.headers(DIY, "consolidator"), **key})
    assert (retry.status_code, retry.headers["idempotent-replayed"]) == (201, "true")
    assert retry.json()["submissions"] == sent["submissions"]
    other = p.reporting.post(url, json={"narrative": "lain"}, headers={**p.headers(DIY, "consolidator"), **key})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert reporting_events(p) == before
    assert (sent["status"], sent["revision"], sent["timeliness"]) == ("disampaikan", 1, "tepat_waktu")
    assert sent["content"]["completeness"]["belum_menyampaikan"] == 1  # sent with the missing regency listed
    assert p.reporting.post(url, headers=p.headers(DIY, "consolidator")).status_code == 428

    national = p.national("2026-S1")
    diy = next(x for x in national["provinces"] if x["code"] == DIY)
    assert diy["consolidation"]["status"] == "tepat_waktu"
    assert diy["consolidation"]["first_submitted_on"] == p.today.isoformat()
    assert (diy["completeness"]["tepat_waktu"], diy["completeness"]["terlambat"]) == (3, 1)
    assert len(national["provinces"]) == 38 and national["consolidations"]["submitted"] == 1
    # DKI Jakarta has no autonomous kab/kota: it owes no consolidation and is not counted as missing one.
    dki = next(x for x in national["provinces"] if x["code"] == "31")
    assert dki["consolidation"] is None and national["consolidations"]["regions"] == 37
    assert national["completeness"]["regions"] == 508 and national["completeness"]["submitted"] == 4
    never = {r["code"] for r in national["never_reporting"]}
    assert GUNUNGKIDUL in never and YOGYA not in never and DIY in never
    # Alive in 2026-S1: Kartamantul, the Kulon Progo road and the province's own with Kota Bandung.
    totals = national["totals"]
    assert (totals["agreements"], totals["value_idr"]) == (3, 3_000_000_000 + 750_000_000 + 400_000_000)
    assert [(g["code"], g["count"]) for g in totals["by_form"]] == [("KSDD", 3)]
    assert [(g["code"], g["count"]) for g in totals["by_stage"]] == [("kesepakatan_ditandatangani", 2),
                                                                      ("pelaksanaan", 1)]
    assert [(g["code"], g["count"]) for g in totals["by_urusan"]] == [("1.03", 3)]
    assert p.reporting.get("/national/2026-S1", headers=p.headers(DIY, "monitor")).status_code == 404


# -- exports -----------------------------------------------------------------------------------------


def _export(p: ReportingPlatform, url: str, fmt: str, tenant: str, *roles: str) -> bytes:
    response = p.reporting.get(url, params={"format": fmt}, headers=p.headers(tenant, *roles))
    assert response.status_code == 200, response.text
    assert fmt in response.headers["content-disposition"]
    return response.content


def test_the_consolidation_exports_open_and_carry_the_figures(p: ReportingPlatform, scenario: dict) -> None:
    url = f"/consolidations/{DIY}/2026-S1/export"
    book = openpyxl.load_workbook(io.BytesIO(_export(p, url, "xlsx", DIY, "consolidator")))
    sheet = book["Kabupaten-Kota"]
    cells = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(cells) if row[:3] == ("No", "Kode", "Kabupaten/Kota"))
    rows = {row[1]: row for row in cells[header + 1:] if row[1] in (KULON_PROGO, BANTUL, GUNUNGKIDUL, SLEMAN, YOGYA)}
    assert {k: v[3] for k, v in rows.items()} == {
        YOGYA: "Tepat waktu", SLEMAN: "Tepat waktu", BANTUL: "Tepat waktu", KULON_PROGO: "Terlambat",
        GUNUNGKIDUL: "Belum menyampaikan"}
    assert rows[YOGYA][7] == 3_000_000_000  # Yogyakarta's latest revision when the province consolidated
    assert rows[YOGYA][5] == 2 and rows[GUNUNGKIDUL][4] is None
    flat = " ".join(str(v) for row in book["Ringkasan"].iter_rows(values_only=True) for v in row if v is not None)
    assert "REKAPITULASI LAPORAN KERJA SAMA DAERAH KABUPATEN/KOTA" in flat and "Semester I 2026" in flat
    assert "4 dari 5 kab/kota menyampaikan laporan (3 tepat waktu, 1 terlambat); 1 belum menyampaikan" in flat

    pdf = PdfReader(io.BytesIO(_export(p, url, "pdf", DIY, "consolidator")))
    text = " ".join(page.extract_text() for page in pdf.pages)
    for expected in ("REKAPITULASI LAPORAN KERJA SAMA DAERAH", "DI Yogyakarta", "Kabupaten Gunungkidul",
                     "Belum menyampaikan", "Terlambat", "Rp 2.500.000.000", "15 Agustus 2026", "Halaman 1 dari"):
        assert expected in text, expected

    exported = _export(p, url, "csv", DIY, "consolidator").decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(exported), delimiter=";"))
    kulon = next(line for line in lines if KULON_PROGO in line)
    assert "Terlambat" in kulon and "15 Agustus 2026" in kulon


def test_the_region_report_and_national_exports(p: ReportingPlatform, scenario: dict) -> None:
    report = scenario["reports"][YOGYA]
    url = f"/reports/{report['id']}/export"
    book = openpyxl.load_workbook(io.BytesIO(p.reporting.get(
        url, params={"format": "xlsx", "revision": 1}, headers=p.headers(YOGYA)).content))
    cells = [v for row in book["Kerja Sama"].iter_rows(values_only=True) for v in row]
    assert "Kartamantul: pengelolaan sampah TPST Piyungan" in cells and 2_500_000_000 in cells
    pdf = PdfReader(io.BytesIO(_export(p, url, "pdf", YOGYA, "operator")))
    text = " ".join(page.extract_text() for page in pdf.pages)
    for expected in ("LAPORAN PELAKSANAAN KERJA SAMA DAERAH", "Kota Yogyakarta (34.71)", "Semester I 2026",
                     "Rp 3.000.000.000", "Sampah terangkut", "Armada pengangkut kurang", "revisi 2 dari 2"):
        assert expected in text, expected

    national = PdfReader(io.BytesIO(_export(p, "/national/2026-S1/export", "pdf", "national", "monitor")))
    text = " ".join(page.extract_text() for page in national.pages)
    assert "REKAPITULASI NASIONAL LAPORAN KERJA SAMA DAERAH" in text and "DI Yogyakarta" in text
    assert "4 dari 508 kab/kota" in text
    lines = list(csv.reader(io.StringIO(_export(p, "/national/2026-S1/export", "csv", "national", "monitor")
                                        .decode("utf-8-sig")), delimiter=";"))
    diy = next(line for line in lines if DIY in line and "DI Yogyakarta" in line)
    assert "Tepat waktu" in diy


def test_concurrent_submissions_one_wins_the_other_gets_409(p: ReportingPlatform, scenario: dict) -> None:
    """Two officers of Sleman submit the same version at the same moment: exactly one revision."""
    import threading

    from services.reporting.application import Compiled, Reporting
    from services.reporting.setup import reporting_env
    from shared.auth import Identity
    from shared.errors import VersionConflict

    app = Reporting(reporting_env(p.url, pool_size=2), clock=p.clock)
    sleman = Identity(sub="op-sleman", name="", tenant=SLEMAN, roles=("operator",))
    report = app.get_report(sleman, UUID(scenario["reports"][SLEMAN]["id"]))
    before = reporting_events(p)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(n: int) -> None:
        barrier.wait()
        try:
            app.submit_report(sleman, report.id, Compiled({"n": n}, {}), report.version, reason=f"ulang {n}")
            outcomes.append("ok")
        except VersionConflict as exc:
            assert exc.extra["current_version"] == report.version + 1
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(n,)) for n in (1, 2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        app.close()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert reporting_events(p) == before + 1
