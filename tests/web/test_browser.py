"""Requirement 7: the five scenarios in a real browser (Playwright driving Debian's Chromium,
headless), by clicking, as the officials would. Every page visited is also checked with
axe-core (no violation of impact serious or critical), photographed at 1280 and 360 px wide
into shared/docs/screenshots/, and the main pages must not scroll sideways at 360 px.

axe-core (tests/web/axe/axe.min.js, MPL-2.0, vendored) is served to the page from the page's
own origin through `page.route`, so it loads as a same-origin script and the page's
Content-Security-Policy (no inline script) stays enforced during the whole test."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import SCREENSHOTS, USERS, LivePlatform

AXE = Path(__file__).parent / "axe" / "axe.min.js"
AXE_PATH = "/__uji__/axe.min.js"  # not a route of the app: answered by page.route only
BLOCKING = ("serious", "critical")
NARROW = 360
PERIOD = "2026-S1"




# -- what every visited page gets ----------------------------------------------------------------

def serve_axe(page: Any) -> None:
    body = AXE.read_bytes()
    page.route(f"**{AXE_PATH}", lambda route: route.fulfill(status=200, body=body,
                                                            content_type="application/javascript"))


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; the serious and critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_PATH)
        page.wait_for_function("() => typeof window.axe !== 'undefined'")
    result = page.evaluate("""async () => {
        const r = await window.axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in BLOCKING]


def shoot(page: Any, path: Path) -> None:
    """The visible viewport as a small PNG (a 256-colour palette: the pages are flat colours)."""
    from PIL import Image  # pillow: already a dependency of the PDF exports

    image = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def check_page(page: Any, name: str | None = None, *, main: bool = True) -> None:
    """axe-core on the page; with a `name`, its screenshots (desktop and 360 px) and, for a
    main page, no sideways scrolling at 360 px. The viewport is restored afterwards."""
    page.wait_for_load_state("networkidle")
    problems = axe_violations(page)
    assert not problems, f"axe-core on {page.url}: {json.dumps(problems, ensure_ascii=False, indent=1)}"
    if name is None:
        return
    size = page.viewport_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, SCREENSHOTS / f"{name}-desktop.png")
    page.set_viewport_size({"width": NARROW, "height": 780})
    page.wait_for_timeout(100)
    if main:
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= NARROW + 1, f"{page.url} scrolls sideways at {NARROW} px (scrollWidth {width})"
    problems = axe_violations(page)
    assert not problems, f"axe-core at {NARROW} px on {page.url}: {json.dumps(problems, ensure_ascii=False)}"
    shoot(page, SCREENSHOTS / f"{name}-360.png")
    page.set_viewport_size(size)


@pytest.fixture
def as_user(page_as: Any) -> Any:
    """`as_user("bandung")`: a signed-in page that can run axe-core."""

    def make(who: str) -> Any:
        page = page_as(who)
        serve_axe(page)
        page.on("dialog", lambda dialog: dialog.accept())  # data-konfirmasi asks before a step
        return page

    return make


def agreement_id(page: Any) -> str:
    match = re.search(r"/kerja-sama/([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def do_action(page: Any, action: str, fill: dict[str, str], *, selects: dict[str, str] | None = None) -> None:
    """On an agreement's page: click the step's button, fill its form, send it, and land back
    on the agreement's page."""
    page.locator(f'[data-aksi="{action}"]').first.click()
    page.wait_for_url(re.compile(rf".*/aksi/{action}$"))
    check_page(page)
    form = page.locator(f'form[action$="/aksi/{action}"]')
    for name, value in (selects or {}).items():
        form.locator(f'select[name="{name}"]').select_option(value)
    for name, value in fill.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator('button[type="submit"]').last.click()
    page.wait_for_url(re.compile(r".*/kerja-sama/[0-9a-f-]{36}(\?.*)?$"))
    errors = page.locator(".galat-ringkas, .pesan-galat")
    assert errors.count() == 0, errors.first.inner_text()


def open_agreement(page: Any, title: str) -> None:
    """From the list: search by title and open it, as a person finds it."""
    page.goto("/kerja-sama")
    search = page.get_by_role("searchbox").first
    search.fill(title)
    search.press("Enter")
    link = page.get_by_role("link", name=title)
    for _ in range(40):  # the list is a read model: it follows the registry within moments
        if link.count():
            break
        time.sleep(0.5)
        page.reload()
    link.first.click()
    page.wait_for_url(re.compile(r".*/kerja-sama/[0-9a-f-]{36}$"))


# -- the scenarios -------------------------------------------------------------------------------

def test_a_b_bandung_offers_a_ksdd_kab_bandung_accepts_both_approve_and_sign(as_user: Any, live: LivePlatform) -> None:
    title = f"Pengelolaan sampah Bandung Raya uji peramban {uuid.uuid4().hex[:6]}"

    # (a) The operator of Kota Bandung starts a KSDD with Kabupaten Bandung and sends the offer.
    kota = as_user("bandung")
    check_page(kota, "beranda-operator")
    kota.get_by_role("link", name="Kerja sama", exact=True).click()
    kota.wait_for_url(re.compile(r".*/kerja-sama(\?.*)?$"))
    check_page(kota, "kerja-sama-daftar")
    kota.goto("/kerja-sama/baru")
    check_page(kota, "kerja-sama-baru")
    kota.get_by_label("Bentuk kerja sama").select_option("KSDD")
    kota.get_by_label("Kategori (khusus KSDD)").select_option("sukarela")
    kota.get_by_label("Judul").fill(title)
    kota.get_by_label("Objek kerja sama").fill("Pengolahan sampah bersama di TPPAS Legok Nangka")
    kota.get_by_label("Cari urusan").fill("lingkungan hidup")
    kota.locator('#pilihan-urusan input[name="urusan"][value="2.11"]').check()
    kota.get_by_label("Cari daerah").fill("kabupaten bandung")
    kota.locator('#pilihan-daerah input[name="parties"][value="32.04"]').check()
    kota.get_by_label("Nilai kerja sama (rupiah)").fill("1250000000")
    kota.get_by_label("Tanggal persiapan").fill("2026-01-05")
    kota.get_by_label("Membebani masyarakat dan daerah").check()  # so both DPRDs must approve
    kota.get_by_role("button", name="Simpan kerja sama").click()
    kota.wait_for_url(re.compile(r".*/kerja-sama/[0-9a-f-]{36}(\?.*)?$"))
    ident = agreement_id(kota)
    assert title in kota.locator("h1").inner_text()
    check_page(kota, "kerja-sama-rinci")
    do_action(kota, "submit-offer", {"reference": "005/PNW/Pem/2026", "sent_on": "2026-01-10"})
    assert "Penawaran" in kota.locator("main").inner_text()

    # (b) Kabupaten Bandung accepts; the Kesepakatan Bersama is signed; both DPRDs approve the PKS.
    kab = as_user("kab_bandung")
    open_agreement(kab, title)
    assert agreement_id(kab) == ident
    do_action(kab, "record-offer-response", {"reference": "006/JWB/Pem/2026", "responded_on": "2026-01-20"},
              selects={"decision": "accepted"})
    # The Kesepakatan Bersama is signed by both heads of region (one step, both signatories).
    kota.goto(f"/kerja-sama/{ident}")
    do_action(kota, "sign-framework", {
        "number": "KB/7/2026", "signed_on": "2026-02-10", "valid_from": "2026-02-10", "valid_until": "2031-02-09",
        "signatories[0].name": "Muhammad Farhan", "signatories[0].position": "Wali Kota Bandung",
        "signatories[1].name": "Dadang Supriatna", "signatories[1].position": "Bupati Bandung",
    })
    shown = kota.locator("main").inner_text()
    assert "KB/7/2026" in shown and "Kesepakatan ditandatangani" in shown
    # Its PKS burdens the community, so each region's DPRD approves it before it is signed
    # (DOMAIN.md: the DPRD approves the PKS of a KSDD; the framework needs none).
    do_action(kota, "draft-pks", {"title": "PKS angkutan sampah ke TPPAS", "object": "Angkutan dan pengolahan sampah",
                                  "value_idr": "750000000", "drafted_on": "2026-02-15"},
              selects={"burdens_community": "true"})
    for page, who in ((kab, "32.04"), (kota, "32.73")):
        page.goto(f"/kerja-sama/{ident}")
        if page.locator('[data-aksi="request-approval"]').count():
            do_action(page, "request-approval", {"reference": f"REQ/{who}/2026", "requested_on": "2026-02-20"},
                      selects={"kind": "dprd"})
        do_action(page, "record-approval", {"reference": f"DPRD/{who}/2026", "decided_on": "2026-03-02"},
                  selects={"kind": "dprd", "decision": "approved"})
    kota.goto(f"/kerja-sama/{ident}")
    do_action(kota, "sign-pks", {
        "number": "PKS/7/2026", "signed_on": "2026-03-10", "start_on": "2026-03-10", "end_on": "2028-03-09",
        "signatories[0].name": "Muhammad Farhan", "signatories[0].position": "Wali Kota Bandung",
        "signatories[1].name": "Dadang Supriatna", "signatories[1].position": "Bupati Bandung",
    })
    shown = kota.locator("main").inner_text()
    assert "PKS/7/2026" in shown and "Pelaksanaan" in shown
    check_page(kota, "kerja-sama-rinci-pelaksanaan")


def test_c_consolidator_sees_its_kab_kota_and_downloads_the_xlsx(as_user: Any) -> None:
    jabar = as_user("jabar")
    check_page(jabar, "beranda-provinsi")
    jabar.get_by_role("link", name="Konsolidasi", exact=True).click()
    jabar.wait_for_load_state("networkidle")
    if not re.search(rf"/konsolidasi/32/{PERIOD}$", jabar.url):
        jabar.goto(f"/konsolidasi/32/{PERIOD}")
    check_page(jabar, "konsolidasi")
    shown = jabar.locator("main").inner_text()
    assert "Kota Bandung" in shown and "Kabupaten Bandung" in shown
    assert re.search(r"[Tt]epat waktu|[Tt]erlambat|[Bb]elum", shown)
    with jabar.expect_download() as download:
        jabar.locator('a[href*="/unduh"][href*="xlsx"]').first.click()
    saved = download.value
    assert saved.suggested_filename.endswith(".xlsx")
    assert Path(saved.path()).read_bytes()[:2] == b"PK"


def test_d_national_monitor_sees_the_dashboard_and_opens_the_map(as_user: Any) -> None:
    monitor = as_user("monitor")
    check_page(monitor, "beranda-nasional")
    shown = monitor.locator("main").inner_text()
    assert "provinsi" in shown.lower()
    assert monitor.locator("main svg").count() >= 2  # charts and the map, drawn from the data
    province = monitor.locator(".peta a").first
    province.click()
    monitor.wait_for_load_state("networkidle")
    assert monitor.locator(".peta svg, main svg").count() >= 1
    check_page(monitor, "peta-provinsi")
    monitor.get_by_role("link", name="Nasional", exact=True).click()
    monitor.wait_for_load_state("networkidle")
    if not re.search(rf"/nasional/{PERIOD}$", monitor.url):
        monitor.goto(f"/nasional/{PERIOD}")
    check_page(monitor, "nasional")
    for path, name in (("/peringatan", "peringatan"), ("/analisis", "analisis"), ("/laporan", None)):
        monitor.goto(path)
        check_page(monitor, name)


def test_e_auditor_verifies_the_history_and_downloads_the_bundle(as_user: Any, live: LivePlatform) -> None:
    import httpx

    title = f"Audit peramban {uuid.uuid4().hex[:6]}"
    created = httpx.post(f"{live.registry}/agreements", timeout=30, headers={
        "Authorization": f"Bearer {live.token('bandung')}", "Idempotency-Key": str(uuid.uuid4()),
    }, json={"form": "KSDD", "category": "sukarela", "title": title, "object": "Air minum bersama",
             "urusan": ["1.03"], "parties": [{"region": "32.04"}]})
    assert created.status_code == 201, created.text

    auditor = as_user("auditor")
    auditor.get_by_role("link", name="Audit", exact=True).click()
    auditor.wait_for_url(re.compile(r".*/audit$"))
    check_page(auditor, "audit-cari")
    auditor.get_by_label("Judul kerja sama").fill(title)
    auditor.get_by_role("button", name="Cari").click()
    link = auditor.get_by_role("link", name=re.compile(rf"Lihat riwayat {re.escape(title)}"))
    for _ in range(40):
        if link.count():
            break
        time.sleep(0.5)
        auditor.reload()
    link.first.click()
    auditor.wait_for_url(re.compile(r".*/audit/[0-9a-f-]{36}$"))
    assert "Riwayat utuh: 1 peristiwa, tidak ada yang diubah." in auditor.locator("#verdikt").inner_text()
    auditor.get_by_role("link", name="Verifikasi ulang riwayat").click()
    auditor.locator("#verdikt", has_text="Diperiksa ulang baru saja").wait_for()
    check_page(auditor, "audit")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Unduh bundel audit (JSON)").click()
    saved = download.value
    assert saved.suggested_filename == f"audit-{created.json()['id']}.json"
    bundle = json.loads(Path(saved.path()).read_text())
    assert bundle["agreement"] == created.json()["id"] and len(bundle["events"]) == 1


def test_import_page_in_the_browser(as_user: Any) -> None:
    """The import from the menu: the template, a dry run's report, then the import."""
    operator = as_user("bandung")
    operator.get_by_role("link", name="Impor", exact=True).click()
    operator.wait_for_url(re.compile(r".*/impor$"))
    check_page(operator, "impor")
    with operator.expect_download() as download:
        operator.locator("#unduh-templat").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    from tests.e2e.test_imports import fill, sample_rows

    tag = f"PB{uuid.uuid4().hex[:8]}"
    rows, _ = sample_rows(tag, 2)
    upload = fill(Path(download.value.path()).read_bytes(), rows)
    operator.get_by_label(re.compile("Berkas impor")).set_input_files(
        files=[{"name": "kerja-sama-lama.xlsx", "buffer": upload,
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    operator.get_by_role("button", name="Uji coba (belum disimpan)").click()
    operator.wait_for_url(re.compile(r".*/impor/uji$"))
    assert "2 baris dapat diimpor" in operator.locator("main").inner_text()
    check_page(operator, "impor-laporan")
    operator.get_by_role("button", name="Impor sekarang").click()
    operator.wait_for_url(re.compile(r".*/impor/simpan$"))
    assert "2 baris diimpor" in operator.locator("main").inner_text()


def test_sign_in_page(browser: Any, live: LivePlatform) -> None:
    context = browser.new_context(base_url=live.web, viewport={"width": 1280, "height": 900}, locale="id-ID")
    try:
        page = context.new_page()
        serve_axe(page)
        page.goto("/masuk")
        check_page(page, "masuk")
        assert page.locator("button.pengguna-contoh").count() >= len(USERS)
    finally:
        context.close()
