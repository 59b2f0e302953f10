"""/audit/{id} (history, the verdict in words, the bundle) and /impor (template, dry run with
its row-by-row report, then the import), used as an auditor and an operator would."""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from services.web.pages.audit import verdict
from tests.e2e.test_imports import fill, sample_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def text_of(page: str) -> str:
    """What a person reads: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def start_agreement(live: Any, title: str) -> dict[str, Any]:
    response = httpx.post(f"{live.registry}/agreements", timeout=30, headers={
        "Authorization": f"Bearer {live.token('bandung')}", "Idempotency-Key": str(uuid.uuid4()),
    }, json={
        "form": "KSDD", "category": "sukarela", "title": title, "object": "Pengolahan sampah bersama",
        "urusan": ["2.11"], "parties": [{"region": "32.04"}], "value_idr": 1_250_000_000,
    })
    assert response.status_code == 201, response.text
    return response.json()


def test_auditor_reads_history_and_verdict_and_downloads_the_bundle(live, web) -> None:
    title = f"Audit uji web {uuid.uuid4().hex[:8]}"
    agreement = start_agreement(live, title)
    auditor = web("auditor")

    response = auditor.get(f"/audit/{agreement['id']}")
    assert response.status_code == 200, response.text
    seen = text_of(response.text)
    assert "Audit riwayat kerja sama" in seen and title in seen
    assert "Riwayat utuh: 1 peristiwa, tidak ada yang diubah." in seen
    assert "Versi 1: Kerja sama dimulai (persiapan)" in seen
    assert (f"Kerja sama \u201c{title}\u201d (Kerja Sama Daerah dengan Daerah Lain) dimulai pada tahap persiapan "
            "dengan para pihak Kota Bandung, Kabupaten Bandung") in seen
    assert "oleh Operator · Kota Bandung" in seen  # who recorded it, by role and region

    again = auditor.get(f"/audit/{agreement['id']}/verifikasi", headers={"HX-Request": "true"})
    assert again.status_code == 200
    assert "Riwayat utuh: 1 peristiwa" in text_of(again.text) and "<html" not in again.text

    assert f'href="/audit/{agreement["id"]}/unduh"' in response.text
    bundle = auditor.get(f"/audit/{agreement['id']}/unduh")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("application/json")
    assert bundle.headers["content-disposition"] == f'attachment; filename="audit-{agreement["id"]}.json"'
    body = json.loads(bundle.content)
    assert body["agreement"] == agreement["id"]
    assert [e["type"] for e in body["events"]] == ["Started"]


def test_auditor_finds_an_agreement_to_audit_by_title(live, web) -> None:
    title = f"Audit cari {uuid.uuid4().hex[:8]}"
    agreement = start_agreement(live, title)
    response = web("auditor").get("/audit", params={"q": title})
    assert response.status_code == 200
    assert title in text_of(response.text)
    assert f'href="/audit/{agreement["id"]}"' in response.text


def test_operator_sees_the_history_but_no_bundle_download(live, web) -> None:
    agreement = start_agreement(live, f"Audit operator {uuid.uuid4().hex[:8]}")
    operator = web("bandung")
    response = operator.get(f"/audit/{agreement['id']}")
    assert response.status_code == 200
    assert "Riwayat utuh" in text_of(response.text)
    assert "/unduh" not in response.text
    refused = operator.get(f"/audit/{agreement['id']}/unduh")
    assert refused.status_code == 403
    assert "Tidak berwenang" in text_of(refused.text)


def test_another_region_cannot_audit_the_agreement(live, web) -> None:
    agreement = start_agreement(live, f"Audit lain {uuid.uuid4().hex[:8]}")
    response = web("surabaya").get(f"/audit/{agreement['id']}")
    assert response.status_code == 404
    assert "Tidak ditemukan" in text_of(response.text)


@pytest.mark.parametrize(("result", "words"), [
    ({"valid": False, "events": 5, "first_invalid_version": 3, "reason": "event_changed",
      "reason_text": {"id": "Isi peristiwa tidak cocok dengan hash-nya.", "en": "x"}},
     ["Riwayat TIDAK utuh: Isi peristiwa tidak cocok dengan hash-nya.", "pada versi 3 dari 5 peristiwa"]),
    ({"valid": True, "events": 2, "first_invalid_version": None, "log": {"tree_size": None}},
     ["Riwayat utuh: 2 peristiwa, tidak ada yang diubah.", "Belum ada kepala log bertanda tangan"]),
    # How much a signed tree head of the transparency log already vouches for (QA: the page
    # claimed a national digest covered a history it was signed before).
    ({"valid": True, "events": 3, "log": {"tree_size": 40, "signed_at": None, "anchored_version": None}},
     ["Belum tercakup kepala log bertanda tangan terbaru (ukuran 40)"]),
    ({"valid": True, "events": 3,
      "log": {"tree_size": 40, "signed_at": "2026-12-05T20:00:00+00:00", "anchored_version": 2}},
     ["Versi 1–2 terbukti tercatat di log transparansi (kepala log ukuran 40, ditandatangani"
      " 6 Desember 2026 03.00 WIB)",
      "1 peristiwa sesudahnya"]),
    ({"valid": True, "events": 3, "log": {"tree_size": 41, "anchored_version": 3}},
     ["Seluruh 3 peristiwa terbukti tercatat di log transparansi"]),
])
def test_verdict_in_words(result: dict[str, Any], words: list[str]) -> None:
    said = verdict(result)
    text = " ".join([said["headline"], *said["details"]])
    for phrase in words:
        assert phrase in text


def test_import_dry_run_report_then_import_shows_the_agreements(live, web) -> None:
    operator = web("bandung")
    page = operator.get("/impor")
    assert page.status_code == 200
    assert "Unduh templat impor (XLSX)" in text_of(page.text)
    template = operator.get("/impor/templat.xlsx")
    assert template.status_code == 200
    assert template.headers["content-type"] == XLSX
    assert "attachment" in template.headers["content-disposition"]

    tag = f"W4{int(time.time() * 1000) % 10**9}"
    rows, expected = sample_rows(tag, 3)
    upload = fill(template.content, rows)
    dry = operator.post("/impor/uji", {}, files={"berkas": ("kerja-sama-lama.xlsx", upload, XLSX)})
    assert dry.status_code == 200, dry.text
    seen = text_of(dry.text)
    assert "Laporan uji coba: kerja-sama-lama.xlsx" in seen
    assert "belum ada kerja sama yang disimpan" in seen
    assert "3 baris dapat diimpor" in seen and "4 baris ditolak" in seen
    for row, column in expected.items():  # each refused row with its row number and column
        shown = rf"{row} Kesepakatan Bersama \S+ Ditolak {re.escape(column)} Ditolak \(kolom {re.escape(column)}\)"
        assert re.search(shown, seen), (row, column)
    file_id = re.search(r'name="berkas_id" value="([^"]+)"', dry.text).group(1)
    assert file_id not in str(operator.http.cookies.jar)  # held on the server, not in the cookie

    # Nothing stored by the dry run.
    listed = operator.get("/kerja-sama", params={"q": f"impor uji {tag}"})
    assert f"Kerja sama impor uji {tag}0000" not in text_of(listed.text)

    # Another session cannot use the held file.
    stranger = web("bandung").post("/impor/simpan", {"berkas_id": file_id})
    assert stranger.status_code == 410
    assert "Unggah berkasnya lagi" in text_of(stranger.text)

    done = operator.post("/impor/simpan", {"berkas_id": file_id})
    assert done.status_code == 200, done.text
    seen = text_of(done.text)
    assert "Hasil impor: kerja-sama-lama.xlsx" in seen and "3 baris diimpor" in seen

    wanted = [f"Kerja sama impor uji {tag}{i:04d}" for i in range(3)]
    deadline = time.monotonic() + 30  # the list is a read model: it follows the registry shortly
    while True:
        listed = operator.get("/kerja-sama", params={"q": f"impor uji {tag}"})
        assert listed.status_code == 200
        missing = [t for t in wanted if t not in text_of(listed.text)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, missing

    # The held file is gone after the import.
    assert operator.post("/impor/simpan", {"berkas_id": file_id}).status_code == 410


def test_import_refuses_a_file_that_is_not_the_template(live, web) -> None:
    operator = web("bandung")
    response = operator.post("/impor/uji", {}, files={"berkas": ("catatan.txt", b"bukan templat", "text/plain")})
    assert response.status_code == 422
    assert "Berkas harus XLSX atau CSV" in text_of(response.text)
    response = operator.post("/impor/uji", {}, files={"berkas": ("salah.xlsx", b"PK\x03\x04 rusak", XLSX)})
    assert response.status_code == 422
    assert "Isian belum dapat disimpan" in text_of(response.text)
    assert 'aria-invalid="true"' in response.text
