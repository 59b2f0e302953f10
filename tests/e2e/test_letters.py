"""Exported PDFs are letters an official signs and sends: the kop surat and signatory from the
region's profile, a nomor surat, the addressee up the chain (a kab/kota to its governor c.q.
the Biro Pemerintahan; a province to the Minister c.q. the Direktur Jenderal Bina
Administrasi Kewilayahan; the national roll-up as the Direktorat's nota dinas), the
substance first and the long lists as a LAMPIRAN after the signature.

DI Yogyakarta (province 34, five kab/kota): Kartamantul (Yogyakarta, Sleman, Bantul) with a
PKS, evaluated by the province; a Kulon Progo–Gunungkidul road cooperation. Yogyakarta, Sleman
and Bantul report on time, Kulon Progo late, Gunungkidul never.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import openpyxl
import pytest
from pypdf import PdfReader

from tests.e2e.reporting_platform import ReportingPlatform, reporting_platform

DIY = "34"
KULON_PROGO, BANTUL, GUNUNGKIDUL, SLEMAN, YOGYA = "34.01", "34.02", "34.03", "34.04", "34.71"

YOGYA_PROFILE = {
    "government_name": "Pemerintah Kota Yogyakarta",
    "address_lines": ["Jalan Kenari Nomor 56, Yogyakarta 55165"],
    "phone": "(0274) 515865", "email": "humas@jogjakota.go.id", "website": "https://jogjakota.go.id",
    "city": "Yogyakarta", "signatory_name": "Hasto Wardoyo", "signatory_title": "Wali Kota Yogyakarta",
    "letter_number_pattern": "000.5.3/{nomor}/Pem/{tahun}",
}
# The province's consolidation goes out signed on the governor's behalf by a civil servant.
DIY_PROFILE = {
    "government_name": "Pemerintah Daerah Daerah Istimewa Yogyakarta",
    "address_lines": ["Kompleks Kepatihan, Danurejan, Yogyakarta 55213"],
    "city": "Yogyakarta", "signatory_name": "Beny Suharsono",
    "signatory_title": "a.n. Gubernur DI Yogyakarta, Sekretaris Daerah", "signatory_is_civil_servant": True,
    "nip": "196812121995031001", "rank": "Pembina Utama Madya (IV/d)",
}


@pytest.fixture(scope="module")
def p(pg_server_url: str) -> Iterator[ReportingPlatform]:
    with reporting_platform(pg_server_url, start=date(2025, 12, 1)) as running:
        yield running


@pytest.fixture(scope="module")
def scenario(p: ReportingPlatform) -> dict[str, Any]:
    p.advance_to(date(2025, 12, 15))
    waste = p.start(YOGYA, [SLEMAN, BANTUL], category="wajib", title="Kartamantul: pengelolaan sampah TPST Piyungan",
                    value_idr=2_500_000_000)
    p.sign_framework(waste, signed_on=p.today, valid_until=date(2030, 12, 31))
    p.sign_pks(waste, signed_on=p.today, start_on=date(2026, 1, 1), end_on=date(2027, 12, 31))
    roads = p.start(KULON_PROGO, [GUNUNGKIDUL], title="Jalan poros Kulon Progo–Gunungkidul", value_idr=750_000_000)
    p.sign_framework(roads, signed_on=p.today, valid_until=date(2029, 12, 31))

    p.advance_to(date(2026, 7, 3))
    p.report(waste, YOGYA, "2026-S1")
    p.report(waste, SLEMAN, "2026-S1")
    evaluation = p.monitoring.post(f"/agreements/{waste['id']}/evaluations", headers=p.headers(DIY, "monitor"), json={
        "period": "2026-S1", "findings": "Armada pengangkut perlu ditambah", "score": 78,
        "recommendation": "diperluas", "evaluated_on": p.today.isoformat()})
    assert evaluation.status_code == 201, evaluation.text
    for region, profile in ((YOGYA, YOGYA_PROFILE), (DIY, DIY_PROFILE)):
        saved = p.reporting.put(f"/profiles/{region}", json=profile, headers=p.headers(region, "admin"))
        assert saved.status_code == 200, saved.text

    p.advance_to(date(2026, 7, 10))
    reports = {}
    for region in (YOGYA, SLEMAN, BANTUL):
        draft = p.draft(region, "2026-S1", narrative=f"Uraian pelaksanaan kerja sama {region} semester I 2026.")
        reports[region] = p.submit(draft)
    p.advance_to(date(2026, 8, 15))
    reports[KULON_PROGO] = p.submit(p.draft(KULON_PROGO, "2026-S1", narrative="Terlambat karena pergantian pejabat."))
    p.advance_to(date(2026, 8, 20))
    return {"reports": reports}


def pdf(p: ReportingPlatform, url: str, tenant: str, role: str, **params: Any) -> PdfReader:
    response = p.reporting.get(url, params={"format": "pdf", **params}, headers=p.headers(tenant, role))
    assert response.status_code == 200, response.text
    if directory := os.environ.get("KSD_LETTERS_DIR"):  # to look at them: KSD_LETTERS_DIR=/tmp/letters
        os.makedirs(directory, exist_ok=True)
        name = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
        with open(os.path.join(directory, name), "wb") as f:
            f.write(response.content)
    return PdfReader(io.BytesIO(response.content))


def texts(reader: PdfReader) -> list[str]:
    """Each page's text, its line breaks (a wrapped table cell) as spaces."""
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def annex_page(pages: list[str]) -> int:
    """The (0-based) page on which the LAMPIRAN begins."""
    return next(i for i, text in enumerate(pages) if "LAMPIRAN" in text)


def test_a_kab_kota_report_is_a_letter_to_its_governor(p: ReportingPlatform, scenario: dict) -> None:
    report = scenario["reports"][YOGYA]
    pages = texts(pdf(p, f"/reports/{report['id']}/export", YOGYA, "operator", nomor="000.5.3/417/Pem/2026"))
    first, text = pages[0], " ".join(pages)
    for expected in ("PEMERINTAH KOTA YOGYAKARTA", "Jalan Kenari Nomor 56, Yogyakarta 55165", "(0274) 515865",
                     "000.5.3/417/Pem/2026", "Yogyakarta, 20 Agustus 2026", "Yth. Gubernur DI Yogyakarta",
                     "c.q. Kepala Biro Pemerintahan", "Laporan Pelaksanaan Kerja Sama Daerah", "Semester I 2026",
                     "Sifat", "Lampiran", "1 (satu) berkas"):
        assert expected in first, expected
    # The substance first: the figures and the monev recommendation; the signature of the elected
    # wali kota, with no NIP; the lists after it, as the LAMPIRAN.
    assert "Temuan dan Rekomendasi" in text and "Diperluas (Semester I 2026): Armada pengangkut perlu ditambah" in text
    assert "Wali Kota Yogyakarta," in text and "Hasto Wardoyo" in text
    assert "NIP" not in text
    lampiran = text.index("LAMPIRAN")
    assert text.index("Hasto Wardoyo") < lampiran < text.index("Daftar Kerja Sama")
    assert annex_page(pages) <= 2


def test_without_a_profile_or_a_number_the_letter_is_a_draft_from_the_defaults(p: ReportingPlatform,
                                                                                scenario: dict) -> None:
    report = scenario["reports"][SLEMAN]
    text = " ".join(texts(pdf(p, f"/reports/{report['id']}/export", SLEMAN, "operator")))
    for expected in ("PEMERINTAH KABUPATEN SLEMAN", "000.5.3/......./2026", "Bupati Sleman,",
                     "(........................................)", "Yth. Gubernur DI Yogyakarta"):
        assert expected in text, expected
    assert "NIP" not in text


def test_the_consolidation_is_a_letter_to_the_minister_listing_each_kab_kotas_agreements(
    p: ReportingPlatform, scenario: dict
) -> None:
    reader = pdf(p, f"/consolidations/{DIY}/2026-S1/export", DIY, "consolidator")
    pages = texts(reader)
    text = " ".join(pages)
    for expected in ("PEMERINTAH DAERAH DAERAH ISTIMEWA YOGYAKARTA", "Yth. Menteri Dalam Negeri",
                     "c.q. Direktur Jenderal Bina Administrasi Kewilayahan", "000.5.3/......./2026",
                     "Yogyakarta, 20 Agustus 2026", "Belum menyampaikan laporan: Kabupaten Gunungkidul",
                     "Terlambat: Kabupaten Kulon Progo"):
        assert expected in text, expected
    # Signed by a civil servant: name, rank and NIP.
    signature = text.index("Beny Suharsono")
    assert text.index("Pembina Utama Madya (IV/d)") > signature
    assert text.index("NIP 19681212 199503 1 001") > signature
    # The LAMPIRAN after the signature: each kab/kota with its agreements and monev recommendations.
    lampiran = text.index("LAMPIRAN")
    assert signature < lampiran
    annex = text[lampiran:]
    assert "Kerja Sama dan Rekomendasi Monev per Kabupaten/Kota" in annex
    for regency in ("Kota Yogyakarta", "Kabupaten Sleman", "Kabupaten Bantul", "Kabupaten Kulon Progo"):
        assert regency in annex, regency
    assert annex.count("Kartamantul: pengelolaan sampah TPST Piyungan") >= 3  # in each of the three's reports
    assert "Jalan poros Kulon Progo–Gunungkidul" in annex
    assert annex.count("Diperluas (Semester I 2026): Armada pengangkut perlu ditambah") >= 3
    assert "Belum menyampaikan laporan" in annex  # Gunungkidul
    assert annex_page(pages) <= 2

    # The spreadsheet stays data, with the same header block and the per-kab/kota sheet.
    response = p.reporting.get(f"/consolidations/{DIY}/2026-S1/export", params={"format": "xlsx", "nomor": "X/1/2026"},
                               headers=p.headers(DIY, "consolidator"))
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    head = [v for row in book["Ringkasan"].iter_rows(max_row=6, values_only=True) for v in row if v]
    assert head[:2] == ["PEMERINTAH DAERAH DAERAH ISTIMEWA YOGYAKARTA",
                        "REKAPITULASI LAPORAN KERJA SAMA DAERAH KABUPATEN/KOTA"]
    assert "X/1/2026" in head
    rows = list(book["Kerja Sama Kab-Kota"].iter_rows(values_only=True))
    assert ("Kota Yogyakarta", "Kartamantul: pengelolaan sampah TPST Piyungan") in {r[:2] for r in rows}


def test_the_national_roll_up_is_a_short_nota_dinas_with_the_never_reporting_regions_in_an_annex(
    p: ReportingPlatform, scenario: dict
) -> None:
    reader = pdf(p, "/national/2026-S1/export", "national", "monitor", nomor="ND.100/77/BAK")
    pages = texts(reader)
    text = " ".join(pages)
    for expected in ("KEMENTERIAN DALAM NEGERI REPUBLIK INDONESIA", "NOTA DINAS", "Yth.",
                     "Direktur Jenderal Bina Administrasi Kewilayahan", "Dari", "ND.100/77/BAK",
                     "Direktur Dekonsentrasi, Tugas Pembantuan, dan Kerja Sama", "Temuan dan Rekomendasi"):
        assert expected in text, expected
    assert "NIP" in text[:text.index("LAMPIRAN")]  # the director is a civil servant
    # The main part is short; about 500 regions that never reported are a compact annex table.
    start = annex_page(pages)
    assert start <= 4, start
    assert len(pages) <= start + 12, len(pages)
    annex = " ".join(pages[start:])
    assert "Kabupaten Gunungkidul" in annex and "Kabupaten Gunungkidul" not in " ".join(pages[:start])
    assert "Kota Yogyakarta" not in annex  # it reported
