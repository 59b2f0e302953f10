"""One cooperation's page, as its officials use it: the history in words, a step sent through
its form, a stale form (409) that keeps what was typed, a refused date shown at its field, a
correction beside the step it corrects, an attachment uploaded and downloaded, another region
refused, and the page as it was on an earlier day."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime
from typing import Any

import httpx

from shared.periods import WIB

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def today() -> str:
    return datetime.now(WIB).date().isoformat()


def start(live: Any, title: str, drafted_on: str = "2026-01-05") -> dict[str, Any]:
    """A KSDD of Kota Bandung with Kabupaten Bandung, started through the registry's API."""
    body = {"form": "KSDD", "category": "sukarela", "title": f"{title} {uuid.uuid4().hex[:8]}",
            "object": "Pengelolaan sampah bersama", "urusan": ["1.03"], "parties": [{"region": "32.04"}],
            "drafted_on": drafted_on}
    response = httpx.post(f"{live.registry}/agreements", json=body,
                          headers={"Authorization": f"Bearer {live.token('bandung')}"})
    assert response.status_code == 201, response.text
    return response.json()


def act(
    live: Any, agreement: dict[str, Any], action: str, body: dict[str, Any], who: str = "bandung"
) -> dict[str, Any]:
    response = httpx.post(f"{live.registry}/agreements/{agreement['id']}/actions/{action}", json=body,
                          headers={"Authorization": f"Bearer {live.token(who)}",
                                   "If-Match": f'"{agreement["version"]}"'})
    assert response.status_code == 200, response.text
    return response.json()


def attach(live: Any, agreement: dict[str, Any], name: str) -> dict[str, Any]:
    response = httpx.post(f"{live.registry}/agreements/{agreement['id']}/actions/attach-document",
                          files={"file": (name, PDF, "application/pdf")}, data={"kind": "kak", "name": name},
                          headers={"Authorization": f"Bearer {live.token('bandung')}",
                                   "If-Match": f'"{agreement["version"]}"'})
    assert response.status_code == 200, response.text
    return response.json()


def text_of(page: str) -> str:
    """What a person reads: the page without its tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def value_of(page: str, name: str) -> str | None:
    match = re.search(rf'name="{re.escape(name)}"[^>]*?value="([^"]*)"', page)
    return html.unescape(match.group(1)) if match else None


def test_the_offer_sent_through_its_form_appears_in_the_timeline(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (penawaran)")
    bandung = web("bandung")
    page = bandung.get(f"/kerja-sama/{agreement['id']}")
    assert page.status_code == 200
    assert 'data-aksi="submit-offer"' in page.text
    assert "Riwayat utuh" in text_of(page.text)
    assert 'href="/audit/' in page.text
    # The partner cannot send the offer; it sees no such button.
    assert 'data-aksi="submit-offer"' not in web("kab_bandung").get(f"/kerja-sama/{agreement['id']}").text

    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/submit-offer")
    assert form.status_code == 200
    assert value_of(form.text, "sent_on") == today()  # a legal date defaults to today (WIB)
    assert value_of(form.text, "_versi") == "1"
    sent = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                        {"_versi": "1", "reference": "005/PNW/2026", "sent_on": "2026-02-02"})
    assert sent.status_code == 303, sent.text
    page = bandung.get(sent.headers["location"])
    words = text_of(page.text)
    assert "Surat penawaran nomor 005/PNW/2026 tanggal 2 Februari 2026 dikirim kepada mitra." in words
    assert "oleh Operator · Kota Bandung" in words
    assert "Penawaran" in words
    # Now the partner answers: its button is there.
    assert 'data-aksi="record-offer-response"' in web("kab_bandung").get(f"/kerja-sama/{agreement['id']}").text


def test_a_stale_form_says_someone_else_changed_it_and_keeps_the_input(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (konflik)")
    bandung = web("bandung")
    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/submit-offer")
    assert value_of(form.text, "_versi") == "1"
    attach(live, agreement, "kak-konflik.pdf")  # someone else changes it meanwhile (version 2)

    stale = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                         {"_versi": "1", "reference": "KETIKAN/SAYA/2026", "sent_on": "2026-02-03",
                          "note": "catatan saya"})
    assert stale.status_code == 409
    words = text_of(stale.text)
    assert "telah diubah oleh pengguna lain" in words
    assert "kak-konflik.pdf" in words  # what changed, in words
    assert value_of(stale.text, "reference") == "KETIKAN/SAYA/2026"
    assert value_of(stale.text, "sent_on") == "2026-02-03"
    assert "catatan saya" in stale.text
    assert value_of(stale.text, "_versi") == "2"  # resubmitting applies it to the new version

    again = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                         {"_versi": "2", "reference": "KETIKAN/SAYA/2026", "sent_on": "2026-02-03"})
    assert again.status_code == 303, again.text


def test_a_refused_date_is_shown_next_to_its_field(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (tanggal)")
    bandung = web("bandung")
    refused = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                           {"_versi": "1", "reference": "005/PNW/2026", "sent_on": "2025-12-01"})
    assert refused.status_code == 422
    # Before the day it was prepared (5 January 2026): the rule's message at the date field.
    match = re.search(r'<p class="pesan-galat" id="f-sent_on-galat">([^<]+)</p>', refused.text)
    assert match, refused.text
    assert "mendahului" in html.unescape(match.group(1))
    assert value_of(refused.text, "reference") == "005/PNW/2026"
    assert value_of(refused.text, "sent_on") == "2025-12-01"
    # A field the schema refuses (a number too long) is named by the API and shown there too.
    too_long = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                            {"_versi": "1", "reference": "X" * 500, "sent_on": "2026-02-01"})
    assert too_long.status_code == 422
    assert 'id="f-reference-galat"' in too_long.text


def test_a_correction_appears_beside_the_step_it_corrects(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (ralat)")
    agreement = act(live, agreement, "submit-offer", {"reference": "005/SALAH/2026", "sent_on": "2026-02-02"})
    bandung = web("bandung")
    page = bandung.get(f"/kerja-sama/{agreement['id']}")
    assert 'data-aksi="correct" data-versi="2"' in page.text

    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/correct?versi=2")
    assert form.status_code == 200
    assert value_of(form.text, "changes.reference") == "005/SALAH/2026"
    assert value_of(form.text, "changes.sent_on") == "2026-02-02"
    done = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/correct",
                        {"_versi": "2", "_langkah": "2", "changes.reference": "005/BENAR/2026",
                         "changes.sent_on": "2026-02-02", "reason": "Salah ketik nomor surat"})
    assert done.status_code == 303, done.text

    page = bandung.get(f"/kerja-sama/{agreement['id']}").text
    step = re.search(r'<li id="langkah-2".*?</li>\s*</ul>', page, re.S)
    assert step, page
    words = text_of(step.group(0))
    assert "Surat penawaran nomor 005/SALAH/2026" in words  # the original stays
    assert "Ralat atas surat penawaran (versi 2). Alasan: Salah ketik nomor surat." in words
    assert "Nomor surat: 005/SALAH/2026 menjadi 005/BENAR/2026" in words


def test_an_attachment_uploaded_through_the_page_downloads_as_the_same_bytes(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (lampiran)")
    bandung = web("bandung")
    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/attach-document")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    sent = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/attach-document",
                        {"_versi": "1", "kind": "studi_kelayakan", "name": "Studi kelayakan TPPAS"},
                        files={"file": ("studi.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    page = bandung.get(f"/kerja-sama/{agreement['id']}").text
    link = re.search(r'href="(/kerja-sama/[^"]+/dokumen/[0-9a-f]{64})"[^>]*>Studi kelayakan TPPAS<', page)
    assert link, page
    assert "Dokumen Studi kelayakan “Studi kelayakan TPPAS” dilampirkan." in text_of(page)
    download = bandung.get(link.group(1))
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert "attachment" in download.headers["content-disposition"]
    # Another region cannot fetch it through the web app either.
    assert web("surabaya").get(link.group(1)).status_code == 404


def test_another_region_gets_the_not_found_page(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (tenant)")
    page = web("surabaya").get(f"/kerja-sama/{agreement['id']}")
    assert page.status_code == 404
    assert "Tidak ditemukan" in text_of(page.text)
    assert agreement["title"] not in page.text
    form = web("surabaya").get(f"/kerja-sama/{agreement['id']}/aksi/submit-offer")
    assert form.status_code == 404


def test_the_page_as_it_was_on_an_earlier_day(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (per tanggal)")
    act(live, agreement, "submit-offer", {"reference": "005/PNW/2026", "sent_on": "2026-02-02"})
    bandung = web("bandung")
    then = bandung.get(f"/kerja-sama/{agreement['id']}?on=2026-01-20")
    assert then.status_code == 200
    words = text_of(then.text)
    assert "Keadaan per tanggal 20 Januari 2026" in words
    assert "Persiapan" in words
    assert "Surat penawaran nomor 005/PNW/2026" not in words  # not yet sent that day
    assert "data-aksi=" not in then.text  # no step is recorded on a past view
    now = text_of(bandung.get(f"/kerja-sama/{agreement['id']}").text)
    assert "Keadaan per tanggal" not in now
    assert "Surat penawaran nomor 005/PNW/2026" in now


def kepala(region: str) -> dict[str, str]:
    return {"party": region, "name": f"Kepala {region}", "position": f"Kepala Daerah {region}",
            "capacity": "kepala_daerah"}


def summary_of(page: str) -> str:
    match = re.search(r'<div class="galat-ringkas".*?</div>', page, re.S)
    assert match, page
    return re.sub(r" :", ":", text_of(match.group(0)))


def test_a_stale_form_whose_step_is_no_longer_possible_offers_no_resubmit(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (dua tab)")
    bandung = web("bandung")
    # "Batalkan" opened in two tabs: both forms at version 1.
    for _tab in range(2):
        assert value_of(bandung.get(f"/kerja-sama/{agreement['id']}/aksi/cancel").text, "_versi") == "1"
    typed = {"_versi": "1", "reason": "Tidak jadi bekerja sama", "cancelled_on": "2026-02-01"}
    first = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/cancel", typed)
    assert first.status_code == 303, first.text
    second = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/cancel", typed)
    assert second.status_code == 409
    words = text_of(second.text)
    assert "telah diubah oleh pengguna lain" in words
    assert "tidak lagi dapat dilakukan pada tahap sekarang" in words
    assert "Dibatalkan" in words  # the new stage
    assert "Kirim ulang" not in words and "Isian Anda tidak hilang" not in words
    assert 'action="/kerja-sama/' not in second.text  # no form to send again
    assert re.search(rf'<a href="/kerja-sama/{agreement["id"]}"[^>]*>Kembali ke kerja sama</a>', second.text)


def test_a_stale_form_whose_step_is_still_possible_offers_to_resubmit(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (masih boleh)")
    bandung = web("bandung")
    attach(live, agreement, "kak-dua-tab.pdf")
    stale = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/cancel",
                         {"_versi": "1", "reason": "Tidak jadi", "cancelled_on": "2026-02-01"})
    assert stale.status_code == 409
    words = text_of(stale.text)
    assert "Kirim ulang" in words and "tidak lagi dapat dilakukan" not in words


def test_the_error_summary_names_the_forms_labels_not_the_api_fields(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (label)")
    bandung = web("bandung")
    refused = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                           {"_versi": "1", "reference": "X" * 500, "sent_on": "2026-02-01"})
    assert refused.status_code == 422
    summary = summary_of(refused.text)
    assert "Nomor surat:" in summary
    assert "reference" not in summary
    early = bandung.post(f"/kerja-sama/{agreement['id']}/aksi/submit-offer",
                         {"_versi": "1", "reference": "005/PNW/2026", "sent_on": "2025-12-01"})
    summary = summary_of(early.text)
    assert "Tanggal surat penawaran:" in summary and "sent_on" not in summary


def test_a_day_before_the_cooperation_existed_stays_on_its_page_with_a_notice(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (belum ada)")
    page = web("bandung").get(f"/kerja-sama/{agreement['id']}?on=2026-01-01")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Pada 1 Januari 2026 kerja sama ini belum disiapkan." in words
    assert "disiapkan sejak 5 Januari 2026" in words
    assert agreement["title"] in words  # its page, as it is now
    assert value_of(page.text, "on") == "2026-01-01"  # the date field, to choose another day
    assert "2026-01-01" not in words and "Tidak ditemukan" not in words


def test_another_regions_monitoring_fragment_is_not_found(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (pemantauan)")
    other = web("surabaya").get(f"/kerja-sama/{agreement['id']}/pemantauan")
    assert other.status_code == 404
    assert "Kerja sama tidak ditemukan" in text_of(other.text)
    own = web("bandung").get(f"/kerja-sama/{agreement['id']}/pemantauan")
    assert own.status_code == 200


def test_the_draft_pks_form_offers_one_default_and_the_started_step_reads_well(live: Any, web: Any) -> None:
    agreement = start(live, "Sampah Bandung Raya (PKS)")
    agreement = act(live, agreement, "submit-offer", {"reference": "005/PNW/2026", "sent_on": "2026-02-02"})
    agreement = act(live, agreement, "record-offer-response",
                    {"decision": "accepted", "reference": "jawab/32.04", "responded_on": "2026-02-10"},
                    who="kab_bandung")
    act(live, agreement, "sign-framework", {
        "number": f"KB/{agreement['id'][:8]}", "signed_on": "2026-03-01", "valid_from": "2026-03-01",
        "valid_until": "2027-03-01", "signatories": [kepala("32.73"), kepala("32.04")]})
    bandung = web("bandung")
    form = bandung.get(f"/kerja-sama/{agreement['id']}/aksi/draft-pks")
    assert form.status_code == 200, form.text
    select = re.search(r'<select id="f-burdens_community".*?</select>', form.text, re.S)
    assert select
    options = [text_of(o).strip() for o in re.findall(r"<option[^>]*>[^<]*</option>", select.group(0))]
    assert options == ["Sama dengan kerja sama", "Ya", "Tidak"]
    assert "persetujuan DPRD sebelum ditandatangani" in text_of(form.text)
    words = text_of(bandung.get(f"/kerja-sama/{agreement['id']}").text)
    assert "Kerja sama “" in words and "” (Kerja Sama Daerah dengan Daerah Lain) dimulai pada tahap persiapan" in words
    assert "1.03 Pekerjaan umum dan penataan ruang" in words  # urusan names start with a capital
