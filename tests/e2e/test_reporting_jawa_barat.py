"""The issue's "done when", as a test: Jawa Barat's consolidator sees which of its 27 kab/kota
have reported for 2026-S1, downloads the consolidation as Excel and PDF, and submits it;
the national view shows Jawa Barat's submission.

`jawa_barat(p)` builds the scenario; `EXPORT_DIR=<dir> pytest <this file>` also writes the
exported files there to read them as an official would.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader

from shared.regions import load_regions
from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

JABAR = "32"
REGENCIES = [r.code for r in load_regions().in_province(JABAR) if r.autonomous]
LATE = ["32.05", "32.09", "32.14", "32.78"]  # Garut, Cirebon, Purwakarta, Kota Tasikmalaya
NEVER = ["32.02", "32.07", "32.18", "32.76", "32.79"]  # Sukabumi, Ciamis, Pangandaran, Kota Depok, Kota Banjar
ON_TIME = [r for r in REGENCIES if r not in LATE + NEVER]


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2025, 12, 1)) as running:
        yield running


def jawa_barat(p: ReportingPlatform) -> dict[str, Any]:
    """Legok Nangka (the province with six kab/kota, a PKS for 2026-2027), Bogor–Kota Bogor,
    the cross-border Cirebon–Brebes and a Bekasi cooperation with a company; progress for
    2026-S1 in early July; then 18 kab/kota report on time, 4 in August (late), 5 never."""
    p.advance_to(date(2025, 12, 10))
    # Sukarela: not every pair of these kab/kota shares a border (wajib requires that).
    legok = p.start(JABAR, ["32.73", "32.04", "32.17", "32.77", "32.11", "32.05"], category="sukarela",
                    title="TPPAS Legok Nangka: pengolahan sampah regional", value_idr=12_500_000_000)
    p.sign_framework(legok, signed_on=p.today, valid_until=date(2030, 12, 31))
    p.sign_pks(legok, signed_on=p.today, start_on=date(2026, 1, 1), end_on=date(2027, 12, 31))
    bogor = p.start("32.01", ["32.71"], category="wajib", title="Transportasi Bogor Raya", value_idr=3_200_000_000)
    p.sign_framework(bogor, signed_on=p.today, valid_until=date(2029, 12, 31))
    border = p.start("32.09", ["33.29"], category="wajib", title="Jalan perbatasan Cirebon–Brebes",
                     value_idr=1_750_000_000)
    p.sign_framework(border, signed_on=p.today, valid_until=date(2028, 12, 31))
    company = p.start("32.16", [], form="KSDPK", title="Pengelolaan air bersih Bekasi", value_idr=5_000_000_000,
                      parties=[{"name": "PT Tirta Bekasi", "type": "badan_usaha"}])
    p.start("32.75", ["32.16"], title="Kajian banjir Bekasi Raya")  # still in persiapan

    p.advance_to(date(2026, 7, 3))
    for region in ("32.73", "32.04", "32.17"):
        p.report(legok, region, "2026-S1", obstacles="Akses jalan ke TPPAS belum selesai",
                 budget={"planned_idr": 2_000_000_000, "realised_idr": 1_400_000_000})
    p.advance_to(date(2026, 7, 20))
    reports = {r: p.submit(p.draft(r, "2026-S1", narrative=f"Laporan kerja sama {r} semester I 2026."))
               for r in ON_TIME}
    p.advance_to(date(2026, 8, 18))
    reports |= {r: p.submit(p.draft(r, "2026-S1", narrative=f"Laporan {r}; terlambat.")) for r in LATE}
    p.advance_to(date(2026, 8, 25))
    return {"legok": legok, "bogor": bogor, "border": border, "company": company, "reports": reports}


@pytest.fixture(scope="module")
def scenario(p: ReportingPlatform) -> dict[str, Any]:
    return jawa_barat(p)


def _download(p: ReportingPlatform, fmt: str) -> bytes:
    response = p.reporting.get(f"/consolidations/{JABAR}/2026-S1/export", params={"format": fmt},
                               headers=p.headers(JABAR, "consolidator"))
    assert response.status_code == 200, response.text
    if os.environ.get("EXPORT_DIR"):
        Path(os.environ["EXPORT_DIR"], f"konsolidasi-32-2026-S1.{fmt}").write_bytes(response.content)
    return response.content


def test_jawa_barat_sees_which_of_its_27_regencies_reported(p: ReportingPlatform, scenario: dict) -> None:
    assert len(REGENCIES) == 27 and (len(ON_TIME), len(LATE), len(NEVER)) == (18, 4, 5)
    content = p.consolidation(JABAR, "2026-S1")["content"]
    standing = {r["code"]: r["status"] for r in content["regions"]}
    assert standing == {**dict.fromkeys(ON_TIME, "tepat_waktu"), **dict.fromkeys(LATE, "terlambat"),
                        **dict.fromkeys(NEVER, "belum_menyampaikan")}
    c = content["completeness"]
    assert (c["regions"], c["tepat_waktu"], c["terlambat"], c["belum_menyampaikan"]) == (27, 18, 4, 5)
    # Each agreement once province-wide: Legok Nangka, Bogor, the border road, Bekasi's two.
    assert content["province_wide"]["agreements"] == 5
    assert content["province_wide"]["value_idr"] == 12_500_000_000 + 3_200_000_000 + 1_750_000_000 + 5_000_000_000
    titles = [a["title"] for a in content["own_report"]["agreements"]]
    assert titles == ["TPPAS Legok Nangka: pengolahan sampah regional"]


def test_the_consolidation_downloads_as_excel_and_pdf(p: ReportingPlatform, scenario: dict) -> None:
    book = openpyxl.load_workbook(io.BytesIO(_download(p, "xlsx")))
    rows = [row for row in book["Kabupaten-Kota"].iter_rows(values_only=True) if row[1] in REGENCIES]
    assert len(rows) == 27
    status = {row[1]: row[3] for row in rows}
    assert [status[r] for r in NEVER] == ["Belum menyampaikan"] * 5
    assert [status[r] for r in LATE] == ["Terlambat"] * 4
    bandung = next(row for row in rows if row[1] == "32.73")
    assert (bandung[2], bandung[3], bandung[4].date(), bandung[6], bandung[7]) == (  # a real date cell
        "Kota Bandung", "Tepat waktu", date(2026, 7, 20), 1, 12_500_000_000)
    pdf = PdfReader(io.BytesIO(_download(p, "pdf")))
    text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())  # a letter: lines wrap
    for expected in ("REKAPITULASI LAPORAN KERJA SAMA DAERAH KABUPATEN/KOTA", "Jawa Barat (32)", "Semester I 2026",
                     "22 dari 27 kab/kota menyampaikan laporan (18 tepat waktu, 4 terlambat); 5 belum menyampaikan",
                     "Kota Depok", "Kabupaten Pangandaran", "Rp 12.500.000.000", "20 Juli 2026", "18 Agustus 2026",
                     "Gubernur Jawa Barat", "Yth. Menteri Dalam Negeri"):
        assert expected in text, expected
    assert "NIP" not in text  # the elected governor signs (the province's default profile): no NIP
    _download(p, "csv")


def test_jawa_barat_submits_and_the_ministry_sees_it(p: ReportingPlatform, scenario: dict) -> None:
    response = p.reporting.post(f"/consolidations/{JABAR}/2026-S1/submit",
                                json={"narrative": "Lima kab/kota belum menyampaikan laporan; sudah disurati."},
                                headers=p.headers(JABAR, "consolidator"))
    assert response.status_code == 201, response.text
    assert response.json()["submissions"][0]["submitted_on"] == "2026-08-25"
    national = p.national("2026-S1")
    jabar = next(x for x in national["provinces"] if x["code"] == JABAR)
    assert jabar["consolidation"]["status"] == "tepat_waktu"
    assert jabar["consolidation"]["first_submitted_on"] == "2026-08-25"
    assert jabar["consolidation"]["completeness"]["belum_menyampaikan"] == 5
    assert jabar["completeness"]["submitted"] == 22 and national["consolidations"]["submitted"] == 1
    never = {r["code"] for r in national["never_reporting"]}
    assert set(NEVER) <= never and not set(ON_TIME + LATE) & never
    response = p.reporting.get("/national/2026-S1/export", params={"format": "xlsx"},
                               headers=p.headers("national", "monitor"))
    assert response.status_code == 200
    if os.environ.get("EXPORT_DIR"):
        Path(os.environ["EXPORT_DIR"], "rekap-nasional-2026-S1.xlsx").write_bytes(response.content)
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    jabar_row = next(row for row in book["Provinsi"].iter_rows(values_only=True) if row[1] == JABAR)
    assert jabar_row[2:8] == ("Jawa Barat", 27, 18, 4, 5, pytest.approx(22 / 27, abs=1e-4))
    assert jabar_row[9] == "Tepat waktu" and jabar_row[10].date() == date(2026, 8, 25)
