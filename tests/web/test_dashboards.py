"""Beranda by role, the national dashboard with its charts and map, `/peringatan` and
`/analisis`, as each official sees them. The data is made through the services' APIs with
unique titles and read back once the workers have projected it (the database may be empty,
as in CI, or shared with other tests)."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.web.conftest import LivePlatform

MAP_PROVINCE_LINK = re.compile(r'<a href="/\?provinsi=(\d{2})" aria-label="([^"]+)">')
MAP_REGION_LINK = re.compile(r'<a href="/kerja-sama\?region=(\d{2}\.\d{2})" aria-label="([^"]+)">')
COUNT = re.compile(r": ([\d.]+) kerja sama$")


def _until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """The pages read the read models, which follow the events a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not seen in time: {what}"
            return result
        time.sleep(0.5)


def _labels(pattern: re.Pattern[str], text: str) -> dict[str, str]:
    return {code: html.unescape(label) for code, label in pattern.findall(text)}


def _count(label: str) -> int:
    match = COUNT.search(label)
    assert match, label
    return int(match.group(1).replace(".", ""))


def _kepala(region: str) -> dict[str, str]:
    return {"party": region, "name": f"Kepala Daerah {region}", "position": f"Kepala Daerah {region}",
            "capacity": "kepala_daerah"}


class Api:
    def __init__(self, live: LivePlatform) -> None:
        self.live = live

    def create(self, who: str, **body: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.live.registry}/agreements", json=body, timeout=30,
                              headers={"Authorization": f"Bearer {self.live.token(who)}"})
        assert response.status_code == 201, response.text
        return response.json()

    def act(self, agreement: dict[str, Any], action: str, body: dict[str, Any], who: str) -> dict[str, Any]:
        response = httpx.post(f"{self.live.registry}/agreements/{agreement['id']}/actions/{action}", json=body,
                              timeout=30, headers={"Authorization": f"Bearer {self.live.token(who)}",
                                                   "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def made(live: LivePlatform) -> dict[str, Any]:
    """Kota Bandung's cooperations: one in persiapan with Kabupaten Bandung, and one whose
    Kesepakatan Bersama was signed in 2023 and ended in 2024 yet is still recorded in force
    (a critical alert, `expired_still_active`)."""
    api = Api(live)
    word = f"ujidasbor{uuid.uuid4().hex[:10]}"
    fresh = api.create("bandung", form="KSDD", category="sukarela", title=f"Persampahan {word}",
                       object="Pengelolaan sampah bersama", urusan=["2.11"], parties=[{"region": "32.04"}],
                       value_idr=2_000_000_000)
    old = api.create("bandung", form="KSDD", category="sukarela", title=f"Transportasi {word}",
                     object="Angkutan umum lintas batas", urusan=["2.15"], parties=[{"region": "32.04"}],
                     budgeted_in_apbd=True, drafted_on="2023-01-02")
    old = api.act(old, "submit-offer", {"reference": "005/KS", "sent_on": "2023-02-01"}, "bandung")
    old = api.act(old, "record-offer-response", {"decision": "accepted", "reference": "jawab/32.04",
                                                 "responded_on": "2023-02-10"}, "kab_bandung")
    old = api.act(old, "sign-framework", {
        "number": f"KB/{word}", "signed_on": "2023-03-01", "valid_from": "2023-03-01", "valid_until": "2024-03-01",
        "signatories": [_kepala("32.73"), _kepala("32.04")]}, "bandung")
    return {"word": word, "fresh": fresh, "old": old}


def test_the_national_beranda_draws_the_charts_and_a_map_linking_all_38_provinces(web, made) -> None:  # noqa: ANN001
    monitor = web("monitor")

    def jabar_counted() -> Any:
        page = monitor.get("/")
        assert page.status_code == 200, page.text
        labels = _labels(MAP_PROVINCE_LINK, page.text)
        return page if labels and _count(labels["32"]) >= 2 else None

    page = _until(jabar_counted, "Jawa Barat on the map with the new cooperations")
    text = html.unescape(page.text)
    assert "<h1>Dasbor kerja sama daerah nasional</h1>" in text
    labels = _labels(MAP_PROVINCE_LINK, page.text)
    assert len(labels) == 38  # every province a link on the map
    assert labels["32"].startswith("Jawa Barat: ") and labels["51"].startswith("Bali: ")
    assert "<title>Jawa Barat: " in text  # each region names itself with its count
    assert 'viewBox="0 0 2000 ' in text  # the map scales to the screen
    assert "Tidak ada kerja sama" in text  # the legend, in Indonesian
    for title in ("Kerja sama per provinsi", "Kerja sama per tahun", "Kerja sama per bentuk", "Kerja sama per tahap",
                  "Kerja sama per urusan", "Peringatan terbuka per jenis"):
        assert f">{title}</title>" in text, title
        assert f"Tabel data: {title.lower()}" in text, title  # the data beside each chart
    assert len(re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \d+ \d+"[^>]* role="(?:img|group)"',
                          text)) >= 6  # the charts (as wide as their labels need), each naming itself
    assert "2.11 " in text and "KSDD" in text and "Persiapan" in text
    assert 'style="' not in page.text and "<style" not in page.text  # the CSP allows no inline style


def test_a_province_on_the_map_drills_down_to_its_kab_kota(web, made) -> None:  # noqa: ANN001
    monitor = web("monitor")

    def bandung_counted() -> Any:
        page = monitor.get("/?provinsi=32")
        labels = _labels(MAP_REGION_LINK, page.text)
        return page if labels and _count(labels["32.73"]) >= 2 else None

    page = _until(bandung_counted, "Kota Bandung on the map of Jawa Barat")
    text = html.unescape(page.text)
    assert "<h1>Kerja sama di Jawa Barat</h1>" in text
    labels = _labels(MAP_REGION_LINK, page.text)
    assert len(labels) == 27 and all(code.startswith("32.") for code in labels)
    assert labels["32.73"].startswith("Kota Bandung: ")
    assert '<a href="/">Dasbor nasional</a>' in text
    assert monitor.get("/?provinsi=99").status_code == 404


def test_a_region_sees_its_cooperations_needing_action_and_its_report_status(web, made) -> None:  # noqa: ANN001
    title = made["fresh"]["title"]
    for who in ("bandung", "kab_bandung"):  # the initiator and its partner
        client = web(who)
        page = _until(lambda c=client: (p := c.get("/")).status_code == 200 and title in p.text and p,
                      f"{title} on the beranda of {who}")
        text = html.unescape(page.text)
        assert "Kerja sama yang perlu ditindaklanjuti" in text
        assert f'<a href="/kerja-sama/{made["fresh"]["id"]}">{title}</a>' in text
        assert "Status laporan" in text and "Peringatan terbuka" in text
    other = web("surabaya").get("/")
    assert other.status_code == 200 and title not in other.text
    assert "Beranda Kota Surabaya" in html.unescape(other.text)


def test_a_province_sees_its_kab_kota_with_their_report_status(web, made) -> None:  # noqa: ANN001
    page = web("jabar").get("/")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "Kabupaten/kota di Jawa Barat" in text
    rows = re.findall(r'<th scope="row"><a href="/kerja-sama\?region=(32\.\d{2})">([^<]+)</a></th>\s*<td><span '
                      r'class="lencana[^"]*">([^<]+)</span>', page.text)
    assert len(rows) == 27
    statuses = {code: status for code, _, status in rows}
    assert set(statuses.values()) <= {"Tepat waktu", "Terlambat", "Belum menyampaikan"}
    assert "Kota Bandung" in {html.unescape(name) for _, name, _ in rows}
    assert len(_labels(MAP_REGION_LINK, page.text)) == 27  # and their map


def test_alerts_are_filtered_by_kind_severity_and_region(web, made) -> None:  # noqa: ANN001
    client = web("bandung")
    link = f'href="/kerja-sama/{made["old"]["id"]}"'
    critical = "/peringatan?kind=expired_still_active&severity=critical&region=32.73"
    page = _until(lambda: link in (p := client.get(critical)).text and p, "the expired agreement's alert", 45)
    text = html.unescape(page.text)
    assert "<h1>Peringatan</h1>" in text
    assert '<span class="lencana kritis">Kritis</span>' in text
    assert "Naskah melewati masa berlaku tetapi masih tercatat berlaku" in text
    assert '<option value="expired_still_active" selected>' in text  # the filter is kept
    assert link not in client.get("/peringatan?kind=approval_pending&region=32.73").text
    assert link not in client.get("/peringatan?kind=expired_still_active&region=35.78").text
    assert link in client.get("/peringatan?kind=expired_still_active&on=2024-06-01").text  # open on that day
    assert link not in client.get("/peringatan?kind=expired_still_active&on=2024-01-01").text  # not yet
    refused = client.get("/peringatan?region=99.99")
    assert refused.status_code == 200 and "Kode wilayah tidak dikenal" in html.unescape(refused.text)


def test_analysis_shows_statistics_network_and_coverage_as_tables(web, made) -> None:  # noqa: ANN001
    client = web("monitor")
    page = _until(lambda: "Kota Bandung" in (p := client.get("/analisis?provinsi=32")).text and p,
                  "the network of Jawa Barat")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "<h1>Analisis lintas daerah</h1>" in text
    for heading in ("Statistik kerja sama", "Jejaring kerja sama", "Cakupan"):
        assert heading in text
    pairs = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td class="angka">([\d.]+)</td>', text)
    assert any({"Kota Bandung", "Kabupaten Bandung"} == {a, b} for a, b, _ in pairs)
    assert "Cakupan per urusan" in text and "2.11 " in text
    assert ">Pasangan daerah dengan kerja sama terbanyak</title>" in text
    on_day = client.get("/analisis?on=2023-06-01&provinsi=32")
    assert on_day.status_code == 200 and "per 1 Juni 2023" in html.unescape(on_day.text)
    region = web("bandung").get("/analisis")
    assert region.status_code == 200 and "dalam lingkup Kota Bandung" in html.unescape(region.text)
    refused = client.get("/analisis?on=kemarin")
    assert "Tanggal tidak valid" in html.unescape(refused.text)


def test_the_map_scales_to_a_phone_and_each_province_is_a_link(page_as, made) -> None:  # noqa: ANN001
    page = page_as("monitor", width=360)
    page.goto("/")
    page.locator("figure.peta > svg").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    box = page.locator("figure.peta > svg").bounding_box()
    assert box is not None and box["width"] <= 360 and box["height"] < box["width"]
    assert page.locator('figure.peta a[href="/?provinsi=32"]').count() == 1
    page.locator('figure.peta a[href="/?provinsi=32"]').click()
    page.wait_for_url("**/?provinsi=32")
    assert page.locator("h1").inner_text() == "Kerja sama di Jawa Barat"
    assert page.locator("figure.peta a").count() == 27
