"""Reports in the web application: a kota composes, fills, submits and downloads its report;
the province sees its kab/kota's standing and sends the consolidation; the national level
reads the roll-up; a region's admin keeps the letter profile every PDF is printed with.

The shared development database may already hold the reports these tests write (a rerun): a
report already submitted is sent again as a revision with a reason, as a person would."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx

PERIOD = "2026-S1"  # over (today is after 30 June 2026): a report for it may be submitted
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def hidden(page: httpx.Response, name: str, action: str | None = None) -> str:
    """The value of a hidden field, in the form posting to `action` when given."""
    text = page.text
    if action is not None:
        start = text.index(f'action="{action}"')
        text = text[start:text.index("</form>", start)]
    match = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert match, f"no hidden {name} in the form"
    return html.unescape(match.group(1))


def row(page: httpx.Response, attr: str, code: str) -> str:
    match = re.search(rf'<tr {attr}="{re.escape(code)}">(.*?)</tr>', page.text, re.S)
    assert match, f"no row for {code}"
    return match.group(1)


def submit_form(client: Any, report_path: str) -> httpx.Response:
    """Press "Kirim" on the report page (a revision with a reason when already submitted)."""
    page = client.get(report_path)
    action = f"{report_path}/kirim"
    form = {"version": hidden(page, "version", action), "idempotency_key": hidden(page, "idempotency_key", action)}
    if 'name="reason"' in page.text:
        form["reason"] = "Pembaruan data kemajuan kerja sama."
    return client.post(action, form)


def ensure_submitted(live: Any, who: str, period: str) -> dict[str, Any]:
    """The region's report for `period`, submitted at least once (set up through the API)."""
    headers = {"Authorization": f"Bearer {live.token(who)}"}
    with httpx.Client(base_url=live.reporting, headers=headers, timeout=30) as http:
        created = http.post("/reports", json={"period": period})
        report_id = created.json()["report_id"] if created.status_code == 409 else created.json()["id"]
        report = http.get(f"/reports/{report_id}").json()
        if report["revision"] == 0:
            if not report["narrative"].strip():
                report = http.patch(f"/reports/{report_id}", json={"narrative": "Uraian laporan uji."},
                                    headers={"If-Match": f'"{report["version"]}"'}).json()
            answer = http.post(f"/reports/{report_id}/submit", headers={"If-Match": f'"{report["version"]}"'})
            assert answer.status_code == 200, answer.text
            report = answer.json()
        return report


def test_a_kota_composes_fills_submits_and_downloads_its_report(web: Any) -> None:
    bandung = web("bandung")
    listing = bandung.get("/laporan")
    assert listing.status_code == 200
    assert "Susun laporan" in listing.text

    composed = bandung.post("/laporan", {"period": PERIOD})
    assert composed.status_code == 303, composed.text
    location = composed.headers["location"]
    assert re.match(r"^/laporan/[0-9a-f-]{36}\?pesan=(dibuat|ada)$", location), location
    path = location.split("?")[0]

    page = bandung.get(location)
    assert page.status_code == 200
    assert "Laporan Kota Bandung: Semester I 2026" in page.text
    assert "Kirim ke provinsi" in page.text
    assert "Ringkasan" in page.text and "Indikator capaian" in page.text and "Evaluasi (monev)" in page.text

    narrative = f"Kerja sama berjalan baik; uji {uuid.uuid4().hex[:8]}."
    version = hidden(page, "version", f"{path}/uraian")
    saved = bandung.post(f"{path}/uraian", {"version": version, "narrative": narrative,
                                            "obstacles": "Keterbatasan anggaran", "follow_up": ""})
    assert saved.status_code == 303, saved.text
    page = bandung.get(saved.headers["location"])
    assert "Uraian laporan telah disimpan." in page.text
    assert narrative in page.text

    # A stale version: someone else changed it; the page says so and keeps what was typed.
    stale = bandung.post(f"{path}/uraian", {"version": version, "narrative": "Teks yang tidak boleh hilang"})
    assert stale.status_code == 409
    assert "telah diubah orang lain" in stale.text
    assert "Teks yang tidak boleh hilang" in stale.text

    sent = submit_form(bandung, path)
    assert sent.status_code == 303, sent.text
    page = bandung.get(sent.headers["location"])
    assert "Laporan telah disampaikan." in page.text
    assert "Disampaikan (revisi" in page.text
    assert "Riwayat penyampaian" in page.text
    # Submitted now, long after the deadline of 30 July 2026: late.
    assert re.search(r'Ketepatan waktu</dt><dd><span class="lencana perhatian">Terlambat</span>', page.text)

    pdf = bandung.get(f"{path}/unduh?format=pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="laporan-ksd-32.73-2026-S1.pdf"'

    xlsx = bandung.get(f"{path}/unduh?format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == XLSX
    assert xlsx.content.startswith(b"PK")
    assert xlsx.headers["content-disposition"].endswith('.xlsx"')

    csv = bandung.get(f"{path}/unduh?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")

    listing = bandung.get(f"/laporan?periode={PERIOD}&status=disampaikan")
    assert f'href="{path}"' in listing.text


def test_a_kota_cannot_submit_without_a_narrative_and_sees_why(web: Any) -> None:
    surabaya = web("surabaya")
    composed = surabaya.post("/laporan", {"period": "2000-S1"})
    assert composed.status_code == 303, composed.text
    path = composed.headers["location"].split("?")[0]
    page = surabaya.get(path)
    if 'name="reason"' in page.text:  # a rerun: already submitted once
        return
    version = hidden(page, "version", f"{path}/uraian")
    surabaya.post(f"{path}/uraian", {"version": version, "narrative": ""})
    refused = submit_form(surabaya, path)
    assert refused.status_code == 422
    assert 'id="f-narrative-galat"' in refused.text
    assert "Isi uraian (narasi) laporan sebelum menyampaikannya." in refused.text


def test_the_province_sees_its_kab_kota_standing_and_downloads_the_consolidation(web: Any, live: Any) -> None:
    report = ensure_submitted(live, "bandung", PERIOD)
    expected = "Tepat waktu" if report["submissions"][0]["on_time"] else "Terlambat"
    jabar = web("jabar")

    latest = jabar.get("/konsolidasi/32")
    assert latest.status_code in (302, 303)
    assert latest.headers["location"] == f"/konsolidasi/32/{PERIOD}"

    page = jabar.get(f"/konsolidasi/32/{PERIOD}")
    assert page.status_code == 200
    assert "Konsolidasi Provinsi Jawa Barat: Semester I 2026" in page.text
    bandung = row(page, "data-daerah", "32.73")
    assert expected in bandung
    assert f'href="/laporan/{report["id"]}"' in bandung
    missing = [code for code in ("32.01", "32.02", "32.03", "32.04", "32.05")
               if "Belum menyampaikan" in row(page, "data-daerah", code)]
    assert missing, "other kab/kota are listed as missing"
    assert "Kirim konsolidasi ke Kemendagri" in page.text

    # The kab/kota's report as it was submitted, read-only for the province.
    submitted = jabar.get(f"/laporan/{report['id']}")
    assert submitted.status_code == 200
    assert "Laporan Kota Bandung: Semester I 2026" in submitted.text
    assert "Sebagaimana disampaikan pada revisi" in submitted.text
    assert "Kirim ke provinsi" not in submitted.text and "Simpan uraian" not in submitted.text

    xlsx = jabar.get(f"/konsolidasi/32/{PERIOD}/unduh?format=xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == XLSX
    assert xlsx.content.startswith(b"PK")
    assert "attachment" in xlsx.headers["content-disposition"]

    pdf = jabar.get(f"/konsolidasi/32/{PERIOD}/unduh?format=pdf&nomor=000.5.3/77/Pem/2026")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    # A kota's operator may not read the province's consolidation.
    refused = web("bandung").get(f"/konsolidasi/32/{PERIOD}")
    assert refused.status_code in (403, 404)
    assert "Konsolidasi Provinsi" not in refused.text


def test_the_consolidator_sends_the_consolidation_to_the_ministry(web: Any) -> None:
    period = "2024-S2"
    jabar = web("jabar")
    page = jabar.get(f"/konsolidasi/32/{period}")
    action = f"/konsolidasi/32/{period}/kirim"
    form = {"version": hidden(page, "version", action), "idempotency_key": hidden(page, "idempotency_key", action),
            "narrative": "Catatan provinsi untuk Kemendagri."}
    if 'name="reason"' in page.text:
        form["reason"] = "Kab/kota menyusulkan laporan."
    sent = jabar.post(action, form)
    assert sent.status_code == 303, sent.text
    page = jabar.get(sent.headers["location"])
    assert "Konsolidasi telah dikirim ke Kemendagri." in page.text
    assert "Riwayat pengiriman konsolidasi" in page.text
    assert "Catatan provinsi untuk Kemendagri." in page.text


def test_the_national_monitor_reads_the_roll_up(web: Any) -> None:
    monitor = web("monitor")
    latest = monitor.get("/nasional")
    assert latest.status_code in (302, 303)
    assert latest.headers["location"] == f"/nasional/{PERIOD}"

    page = monitor.get(f"/nasional/{PERIOD}")
    assert page.status_code == 200
    assert "Rekapitulasi nasional: Semester I 2026" in page.text
    jawa_barat = row(page, "data-provinsi", "32")
    assert f'href="/konsolidasi/32/{PERIOD}"' in jawa_barat
    assert "Jawa Barat" in jawa_barat
    assert "Daerah yang belum pernah menyampaikan laporan" in page.text

    pdf = monitor.get(f"/nasional/{PERIOD}/unduh?format=pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    # The monitor opens a province's consolidation from the roll-up.
    assert monitor.get(f"/konsolidasi/32/{PERIOD}").status_code == 200

    refused = web("bandung").get(f"/nasional/{PERIOD}")
    assert refused.status_code in (403, 404)


def test_the_region_admin_keeps_the_letter_profile(web: Any) -> None:
    admin = web("bandung_admin")
    page = admin.get("/profil")
    assert page.status_code == 200
    assert "Profil surat Kota Bandung" in page.text
    assert 'value="Pemerintah Kota Bandung"' in page.text or "Pemerintah Kota Bandung" in page.text
    version = hidden(page, "version", "/profil")
    name = f"Wali Uji {uuid.uuid4().hex[:6]}"
    form = {
        "version": version, "government_name": "Pemerintah Kota Bandung",
        "address_lines": "Jalan Wastukencana Nomor 2\nBandung 40117", "phone": "(022) 4234793",
        "email": "setda@bandung.go.id", "website": "https://bandung.go.id", "city": "Bandung",
        "signatory_title": "Wali Kota Bandung", "signatory_name": name,
        "letter_number_pattern": "000.5.3/{nomor}/Pem/{tahun}", "addressee": "",
    }

    # An elected wali kota has no NIP: the refusal stands next to the field, input kept.
    refused = admin.post("/profil", {**form, "nip": "197001011990031001"})
    assert refused.status_code == 422
    assert 'id="f-nip-galat"' in refused.text
    assert "NIP hanya untuk penandatangan ASN" in refused.text
    assert name in refused.text and "Jalan Wastukencana Nomor 2" in refused.text

    saved = admin.post("/profil", form)
    assert saved.status_code == 303, saved.text
    page = admin.get(saved.headers["location"])
    assert "Profil surat telah disimpan." in page.text
    assert name in page.text
    assert "Jalan Wastukencana Nomor 2\nBandung 40117" in html.unescape(page.text)

    # The version read before the save is stale now: 409, the newer state shown, input kept.
    stale = admin.post("/profil", {**form, "signatory_name": "Nama yang tidak boleh hilang"})
    assert stale.status_code == 409
    assert "Data telah berubah." in stale.text
    assert "Nama yang tidak boleh hilang" in stale.text
    assert name in stale.text  # the current profile, as saved

    operator = web("bandung")
    assert operator.get("/profil").status_code == 403
    assert operator.post("/profil", form).status_code == 403
