"""Kerja sama, as an official uses it: the list with every filter of the API, its paging and
search box; the form that starts a cooperation, with the pickers that find regions and urusan
by name, the server's refusals next to the field they name and nothing typed lost."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.web.conftest import LivePlatform, WebClient

ROW_TITLE = re.compile(r'<th scope="row"><a href="/kerja-sama/([0-9a-f-]{36})">([^<]+)</a>')


def _create(live: LivePlatform, who: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{live.registry}/agreements", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {live.token(who)}"})
    assert response.status_code == 201, response.text
    return response.json()


def _titles(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return [html.unescape(title) for _, title in ROW_TITLE.findall(page.text)]


def _until(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """The list reads the registry's read model, which follows the events a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not seen in time: {what}"
            return result
        time.sleep(0.3)


def _errors(page: httpx.Response) -> dict[str, str]:
    """The message shown next to each field: {control id: message}."""
    found = re.findall(r'<p class="pesan-galat" id="f-([^"]+)-galat">(.*?)</p>', page.text)
    return {f: html.unescape(m) for f, m in found}


@pytest.fixture(scope="module")
def bandung_three(live: LivePlatform) -> dict[str, Any]:
    """Three cooperations of Kota Bandung, found by one unique word in their titles."""
    word = f"ujidaftar{uuid.uuid4().hex[:10]}"
    with_kab = _create(live, "bandung", form="KSDD", category="sukarela", title=f"Sampah bersama {word}",
                       object="Pengelolaan sampah di TPST bersama", urusan=["2.11"], parties=[{"region": "32.04"}],
                       value_idr=1_250_000_000)
    with_firm = _create(live, "bandung", form="KSDPK", title=f"Air minum {word}", object="Penyediaan air minum",
                        urusan=["1.03"], parties=[{"name": "PT Tirta Uji", "type": "badan_usaha"}])
    with_surabaya = _create(live, "bandung", form="KSDD", category="sukarela", title=f"Pertukaran pegawai {word}",
                            object="Pertukaran pengetahuan pengelolaan sampah", urusan=["2.11", "2.16"],
                            parties=[{"region": "35.78"}])
    return {"word": word, "kab": with_kab, "firm": with_firm, "surabaya": with_surabaya}


def test_the_list_shows_each_cooperation_with_its_parties_stage_dates_and_value(web, bandung_three) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    word = bandung_three["word"]
    page = _until(lambda: (p := client.get(f"/kerja-sama?q={word}")) and len(_titles(p)) == 3 and p, "three rows")
    expected = [f"Sampah bersama {word}", f"Air minum {word}", f"Pertukaran pegawai {word}"]
    assert sorted(_titles(page)) == sorted(expected)
    text = page.text
    assert f'href="/kerja-sama/{bandung_three["kab"]["id"]}"' in text
    for seen in ("Kabupaten Bandung", "Kota Surabaya", "PT Tirta Uji", "Kota Bandung", "Persiapan",
                 "Rp 1.250.000.000", "KSDPK", "Sukarela", "2.11 Lingkungan hidup"):
        assert seen in text, seen
    assert re.search(r"Disiapkan \d{1,2} (Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|"
                     r"November|Desember) \d{4}", text)
    assert 'class="gulir"' in text and '<th scope="col">Para pihak</th>' in text
    assert "Buat kerja sama baru" in text  # an operator may start one


def test_every_filter_of_the_api_narrows_the_list(web, bandung_three) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    word = bandung_three["word"]
    _until(lambda: len(_titles(client.get(f"/kerja-sama?q={word}"))) == 3, "three rows")

    def titles(query: str) -> list[str]:
        return sorted(t.removesuffix(f" {word}") for t in _titles(client.get(f"/kerja-sama?q={word}&{query}")))

    assert titles("form=KSDPK") == ["Air minum"]
    assert titles("form=KSDPK&form=KSDD") == ["Air minum", "Pertukaran pegawai", "Sampah bersama"]
    assert titles("region=Kabupaten+Bandung") == ["Sampah bersama"]  # a region by its name
    assert titles("region=35.78") == ["Pertukaran pegawai"]  # or by its code
    assert titles("province=35") == ["Pertukaran pegawai"]
    assert titles("urusan=2.11") == ["Pertukaran pegawai", "Sampah bersama"]
    assert titles("category=sukarela") == ["Pertukaran pegawai", "Sampah bersama"]
    assert titles("stage=persiapan") == ["Air minum", "Pertukaran pegawai", "Sampah bersama"]
    assert titles("stage=penawaran&stage=pelaksanaan") == []
    assert titles("signed_from=2020-01-01") == []  # none has a signed framework yet
    assert titles("expiring_to=2099-12-31") == []
    # `on`: as legally in force on a day; long before they were prepared, nothing was.
    assert titles("on=2001-01-01") == []
    # Every word of the search box must be in the title or the object.
    assert [t.removesuffix(f" {word}") for t in _titles(client.get(f"/kerja-sama?q={word}+TPST"))] == ["Sampah bersama"]

    # The filters a person chose stay in the form.
    page = client.get(f"/kerja-sama?q={word}&form=KSDPK&stage=persiapan&urusan=1.03")
    assert re.search(r'name="form" value="KSDPK" checked', page.text)
    assert re.search(r'name="stage" value="persiapan" checked', page.text)
    assert '<option value="1.03" selected>' in page.text
    assert f'value="{word}"' in page.text


def test_a_filter_the_server_refuses_is_explained_next_to_it(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    page = client.get("/kerja-sama?signed_from=2026-13-45")
    assert page.status_code == 200
    assert "tanggal" in _errors(page)["signed_from"]
    unknown = client.get("/kerja-sama?region=Negeri+Antah+Berantah")
    assert "Daerah tidak ditemukan" in _errors(unknown)["region"]


def test_htmx_asks_only_for_the_results(web, bandung_three) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    word = bandung_three["word"]
    _until(lambda: len(_titles(client.get(f"/kerja-sama?q={word}"))) == 3, "three rows")
    full = client.get(f"/kerja-sama?q={word}")
    assert 'hx-get="/kerja-sama"' in full.text and 'hx-target="#hasil"' in full.text
    assert 'hx-push-url="true"' in full.text
    assert 'method="get" action="/kerja-sama"' in full.text  # and it works without JavaScript
    fragment = client.get(f"/kerja-sama?q={word}&form=KSDPK", headers={"HX-Request": "true", "HX-Target": "hasil"})
    assert "<html" not in fragment.text and "<nav class=\"menu\"" not in fragment.text
    assert _titles(fragment) == [f"Air minum {word}"]


def test_paging_goes_forward_and_back_page_by_page(web, bandung_three) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    word = bandung_three["word"]
    _until(lambda: len(_titles(client.get(f"/kerja-sama?q={word}"))) == 3, "three rows")
    first = client.get(f"/kerja-sama?q={word}&limit=2")
    first_titles = _titles(first)
    assert len(first_titles) == 2 and "Sebelumnya" not in first.text
    next_link = html.unescape(re.search(r'href="([^"]+)"[^>]*>Berikutnya<', first.text).group(1))
    second = client.get(next_link)
    second_titles = _titles(second)
    assert len(second_titles) == 1 and not set(first_titles) & set(second_titles)
    assert "Berikutnya" not in second.text and "Halaman 2" in second.text
    back = html.unescape(re.search(r'href="([^"]+)"[^>]*>Sebelumnya<', second.text).group(1))
    assert _titles(client.get(back)) == first_titles
    start = html.unescape(re.search(r'href="([^"]+)"[^>]*>Halaman pertama<', second.text).group(1))
    assert _titles(client.get(start)) == first_titles


def test_a_region_sees_only_the_cooperations_it_may_see(web, live, bandung_three) -> None:  # noqa: ANN001
    word = bandung_three["word"]
    bandung: WebClient = web("bandung")
    _until(lambda: len(_titles(bandung.get(f"/kerja-sama?q={word}"))) == 3, "three rows")
    surabaya: WebClient = web("surabaya")
    # Surabaya is a party to one of the three only.
    assert _titles(surabaya.get(f"/kerja-sama?q={word}")) == [f"Pertukaran pegawai {word}"]
    only_bandung = f"hanya{uuid.uuid4().hex[:10]}"
    _create(live, "bandung", form="KSDD", category="wajib", title=f"Jalan perbatasan {only_bandung}",
            object="Pemeliharaan jalan perbatasan", urusan=["1.03"], parties=[{"region": "32.04"}])
    _until(lambda: _titles(bandung.get(f"/kerja-sama?q={only_bandung}")), "Bandung's own")
    assert _titles(surabaya.get(f"/kerja-sama?q={only_bandung}")) == []
    assert "Tidak ada kerja sama yang cocok" in surabaya.get(f"/kerja-sama?q={only_bandung}").text


def test_pickers_find_regions_and_urusan_by_name(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    regions = client.get("/cari/daerah?q=band")
    assert regions.status_code == 200
    assert 'value="32.04"' in regions.text and "Kabupaten Bandung" in regions.text
    assert "Kabupaten Bandung Barat" in regions.text
    assert 'value="32.73"' not in regions.text  # the initiator is a party already
    kept = client.get("/cari/daerah?q=surabaya&parties=32.04")
    assert re.search(r'value="32.04" checked', kept.text) and 'value="35.78"' in kept.text
    assert "Kota Surabaya" in client.get("/cari/daerah?q=35.78").text
    assert "Tidak ada daerah" in client.get("/cari/daerah?q=zzzqqq").text
    options = client.get("/cari/daerah?bentuk=opsi&region=sidoarjo")
    assert '<option value="35.15">' in options.text
    urusan = client.get("/cari/urusan?q=sampah")
    assert 'value="2.11"' in urusan.text and "2.11 Lingkungan hidup" in urusan.text
    assert 'value="1.02"' in client.get("/cari/urusan?q=kesehatan").text
    assert re.search(r'value="1.01" checked', client.get("/cari/urusan?q=sampah&urusan=1.01").text)


def _new_form(client: WebClient) -> dict[str, Any]:
    page = client.get("/kerja-sama/baru")
    assert page.status_code == 200
    key = re.search(r'name="_kunci" value="([^"]+)"', page.text).group(1)
    return {"_kunci": key}


def test_the_form_carries_the_apis_limits_as_html_constraints(web) -> None:  # noqa: ANN001
    page = web("bandung").get("/kerja-sama/baru")
    text = page.text
    assert re.search(r'name="title"[^>]*required', text, re.S) and 'maxlength="300"' in text and 'minlength="3"' in text
    assert re.search(r'<select id="f-form" name="form" required', text)
    assert 'name="object" rows="4" required minlength="3" maxlength="4000"' in text
    assert re.search(r'name="value_idr" type="number"[^>]*min="0" max="9007199254740991" step="1"', text, re.S)
    assert re.search(r'name="drafted_on" type="date"[^>]*max="\d{4}-\d{2}-\d{2}"', text, re.S)
    assert 'hx-get="/cari/daerah"' in text and 'hx-get="/cari/urusan"' in text
    assert "Kota Bandung" in text  # the initiator, the user's own region


def test_a_wajib_ksdd_between_non_neighbours_is_refused_next_to_the_category_keeping_the_input(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    title = f"Wajib tanpa batas {uuid.uuid4().hex[:8]}"
    response = client.post("/kerja-sama/baru", {
        **_new_form(client), "form": "KSDD", "category": "wajib", "title": title,
        "object": "Pengelolaan sampah lintas daerah", "urusan": ["2.11", "1.03"], "parties": ["35.78"],
        "value_idr": "750000000", "drafted_on": "2026-01-05",
    })
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "tidak berbatasan" in _errors(response)["category"]
    text = response.text
    assert f'value="{title}"' in text
    assert "Pengelolaan sampah lintas daerah</textarea>" in text
    assert re.search(r'value="35.78" checked', text) and re.search(r'value="2.11" checked', text)
    assert re.search(r'value="1.03" checked', text)
    assert 'value="750000000"' in text and 'value="2026-01-05"' in text
    assert '<option value="wajib" selected>' in text and '<option value="KSDD" selected>' in text
    assert 'id="ringkasan-galat"' in text and 'href="#f-category">Kategori<' in text


def test_an_empty_title_is_refused_next_to_the_title(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    response = client.post("/kerja-sama/baru", {
        **_new_form(client), "form": "KSDD", "category": "sukarela", "title": "",
        "object": "Objek yang tetap ada", "urusan": ["2.11"], "parties": ["32.04"],
    })
    assert response.status_code == 422
    assert "3 karakter" in _errors(response)["title"]
    assert "Objek yang tetap ada</textarea>" in response.text


def test_a_value_with_a_decimal_point_is_refused_next_to_the_value_not_read_as_another(web) -> None:  # noqa: ANN001
    # "1.5" was sent as 15 (every dot stripped); "1.250.000" is the thousands' way of writing.
    client: WebClient = web("bandung")
    base = {**_new_form(client), "form": "KSDD", "category": "sukarela", "title": "Nilai uji",
            "object": "Objek uji nilai", "urusan": ["2.11"], "parties": ["32.04"]}
    response = client.post("/kerja-sama/baru", {**base, "value_idr": "1.5"})
    assert response.status_code == 422, response.text
    assert "value_idr" in _errors(response) and 'value="1.5"' in response.text


@pytest.mark.parametrize(("typed", "sent"), [
    ("1250000", 1_250_000), ("1.250.000", 1_250_000), (" 1 250 000 ", 1_250_000), ("-5", -5),
    ("Rp 1.250.000,00", 1_250_000), ("1.5", "1.5"), ("1.250.000,50", "1.250.000,50"), ("12.34", "12.34"),
    ("satu", "satu"),
])
def test_the_web_form_sends_a_value_as_typed_unless_it_is_whole_rupiah(typed: str, sent: object) -> None:
    from services.web.format import typed_rupiah

    assert typed_rupiah(typed) == sent


def test_a_partner_of_the_wrong_kind_is_named_on_its_row(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    response = client.post("/kerja-sama/baru", {
        **_new_form(client), "form": "KSDPL", "title": "Kota kembar uji", "object": "Pertukaran budaya",
        "urusan": ["2.22"], "parties[0].name": "Stadt Braunschweig", "parties[0].type": "pemerintah_daerah_luar_negeri",
    })
    assert response.status_code == 422
    assert "negara" in _errors(response)["parties-0-country"].lower()
    assert 'value="Stadt Braunschweig"' in response.text


def test_a_started_cooperation_opens_its_page_and_is_listed(web, live) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    title = f"Sister city uji {uuid.uuid4().hex[:8]}"
    response = client.post("/kerja-sama/baru", {
        **_new_form(client), "form": "KSDPL", "title": title, "object": "Pertukaran pelajar dan budaya",
        "urusan": ["2.22", "1.01"], "parties[0].name": "Stadt Braunschweig",
        "parties[0].type": "pemerintah_daerah_luar_negeri", "parties[0].country": "Jerman",
        "value_idr": "1250000000", "budgeted_in_apbd": "1",
    })
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/kerja-sama/[0-9a-f-]{36}", location)
    agreement = httpx.get(f"{live.registry}/agreements/{location.rsplit('/', 1)[1]}", timeout=30,
                          headers={"Authorization": f"Bearer {live.token('bandung')}"}).json()
    assert agreement["title"] == title and agreement["form"] == "KSDPL" and agreement["value_idr"] == 1_250_000_000
    assert {"kind": "other", "role": "partner", "name": "Stadt Braunschweig",
            "type": "pemerintah_daerah_luar_negeri", "country": "Jerman"} in agreement["parties"]
    assert sorted(agreement["urusan"]) == ["1.01", "2.22"]
    listed = _until(lambda: _titles(client.get("/kerja-sama?q=" + title.split()[-1])), "the new one")
    assert listed == [title]


def test_a_search_without_javascript_keeps_the_form(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    response = client.post("/kerja-sama/baru", {
        **_new_form(client), "form": "KSDD", "title": "Belum selesai", "parties": ["32.04"],
        "_cari": "daerah", "cari_daerah": "sumedang",
    })
    assert response.status_code == 200
    assert 'value="32.11"' in response.text and re.search(r'value="32.04" checked', response.text)
    assert 'value="Belum selesai"' in response.text and "pesan-galat" not in response.text


def test_only_operators_may_start_a_cooperation(web) -> None:  # noqa: ANN001
    monitor: WebClient = web("monitor")
    assert "Buat kerja sama baru" not in monitor.get("/kerja-sama").text
    refused = monitor.get("/kerja-sama/baru")
    assert refused.status_code == 403 and "Hanya operator" in refused.text
    assert monitor.post("/kerja-sama/baru", {"form": "KSDD", "title": "Tidak boleh"}).status_code == 403
    admin: WebClient = web("bandung_admin")
    assert admin.get("/kerja-sama/baru").status_code == 403


def test_in_a_browser_the_filters_update_the_table_in_place(page_as, bandung_three) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    word = bandung_three["word"]
    page = page_as("bandung", width=360)
    page.goto("/kerja-sama")
    page.evaluate("window.samePage = true")
    page.get_by_label("Cari judul atau objek").fill(word)
    page.wait_for_url(re.compile(rf".*q={word}.*"))
    expect(page.locator("#hasil tbody tr")).to_have_count(3)
    page.locator("summary", has_text="Saringan lain").click()
    page.get_by_role("checkbox", name="KSDPK").check()
    page.wait_for_url(re.compile(r".*form=KSDPK.*"))
    expect(page.locator("#hasil tbody tr")).to_have_count(1)
    assert page.locator("#hasil tbody tr").first.inner_text().startswith("Air minum")
    page.get_by_label("Daerah pihak").fill("sidoarjo")  # its suggestions come as a datalist
    expect(page.locator('#daftar-daerah option[value="35.15"]')).to_have_count(1)
    assert "/kerja-sama?" in page.url and "cari" not in page.url
    assert page.evaluate("window.samePage") is True  # no full reload
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # usable at 360 px


def test_in_a_browser_the_region_picker_keeps_what_was_chosen(page_as) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page = page_as("bandung")
    page.goto("/kerja-sama/baru")
    search = page.get_by_label("Cari daerah")
    search.fill("sumedang")
    page.get_by_role("checkbox", name=re.compile("Kabupaten Sumedang")).check()
    search.fill("garut")
    page.get_by_role("checkbox", name=re.compile("Kabupaten Garut")).wait_for()
    assert page.get_by_role("checkbox", name=re.compile("Kabupaten Sumedang")).is_checked()
    page.get_by_label("Cari urusan").fill("sampah")
    expect(page.locator("#pilihan-urusan input")).to_have_count(1)
    assert page.get_by_role("checkbox", name=re.compile("2.11 Lingkungan hidup")).is_visible()


def test_the_list_and_the_form_pass_axe_core_also_with_errors_shown(page_as, bandung_three) -> None:  # noqa: ANN001
    from tests.web.test_browser import check_page, serve_axe

    page = page_as("bandung")
    serve_axe(page)
    page.goto(f"/kerja-sama?q={bandung_three['word']}&limit=2&stage=persiapan&signed_from=2026-13-45")
    check_page(page)
    page.goto(f"/kerja-sama?q={bandung_three['word']}&limit=2&stage=persiapan")
    check_page(page)
    page.goto("/kerja-sama/baru")
    page.get_by_label("Bentuk kerja sama").select_option("KSDD")
    page.get_by_label("Kategori (khusus KSDD)").select_option("wajib")
    page.get_by_label("Judul").fill("Uji aksesibilitas")
    page.get_by_label("Objek kerja sama").fill("Objek uji")
    page.locator('#pilihan-urusan input[value="2.11"]').check()
    page.get_by_label("Cari daerah").fill("surabaya")
    page.locator('#pilihan-daerah input[value="35.78"]').check()
    page.get_by_role("button", name="Simpan kerja sama").click()
    page.locator("#f-category-galat").wait_for()
    check_page(page)
    assert page.evaluate("document.activeElement.id") == "ringkasan-galat"  # focus moves to what to fix


def test_the_lists_error_summary_names_each_filter_by_its_label(web) -> None:  # noqa: ANN001
    client: WebClient = web("bandung")
    for query, label, field in (("on=2026-02-30", "Keadaan per tanggal", "on"),
                                ("signed_from=2026-13-45", "Ditandatangani sejak", "signed_from")):
        page = client.get(f"/kerja-sama?{query}")
        summary = re.search(r'<div class="galat-ringkas".*?</div>', page.text, re.S)
        assert summary, page.text
        words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", summary.group(0))))
        assert f"{label}:" in words, words
        assert f"{field}:" not in words and f">{field}<" not in summary.group(0)
        assert f'href="#f-{field}"' in summary.group(0)  # the label links to its control


def test_the_new_agreement_form_says_when_dprd_approval_is_asked(web) -> None:  # noqa: ANN001
    page = web("bandung").get("/kerja-sama/baru")
    assert page.status_code == 200
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.text)))
    assert "setiap PKS memerlukan persetujuan DPRD sebelum ditandatangani" in words
    assert "KSDPL dan KSDLL selalu memerlukan persetujuan DPRD dan pemerintah pusat" in words
    assert "penandatanganan memerlukan persetujuan DPRD" not in words
