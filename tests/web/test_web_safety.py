"""Requirement 5, safe: a Content-Security-Policy without unsafe-inline on every page, the
session cookie HttpOnly and SameSite, output escaped by the template engine, no bearer token in
any URL a page links to nor in the web process's log lines, and sessions that end."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

from services.web.session import User, session_secret
from shared.settings import Settings
from tests.conftest import free_port, wait_for
from tests.web.conftest import REPO, USERS, LivePlatform, WebClient

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
LINK = re.compile(r'(?:href|src|action|hx-get|hx-post|hx-put|hx-delete)="([^"]*)"')
NAV = re.compile(r'<nav class="menu".*?</nav>', re.S)


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def nav_paths(page: str) -> list[str]:
    found = NAV.search(page)
    return re.findall(r'href="(/[^"]*)"', found.group(0)) if found else []


def start_agreement(live: LivePlatform, title: str) -> dict[str, Any]:
    response = httpx.post(f"{live.registry}/agreements", timeout=30, headers={
        "Authorization": f"Bearer {live.token('bandung')}", "Idempotency-Key": str(uuid.uuid4()),
    }, json={"form": "KSDD", "category": "sukarela", "title": title, "object": "<b>objek</b> & \"kutip\"",
             "urusan": ["2.11"], "parties": [{"region": "32.04"}], "value_idr": 1_000_000})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def logged_web(live: LivePlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A web process of its own, logging at info level to a file, against the same services."""
    log = tmp_path_factory.mktemp("web-log") / "web.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSD_") and k != "DATABASE_URL"}
    env.update(KSD_WEB_PORT=str(port), KSD_DATA_DIR=str(live.data_dir), KSD_LOG_LEVEL="info", KSD_LOG_FORMAT="json",
               KSD_RATE_LIMIT_PER_ADDRESS="0", KSD_WEB_REGISTRY_URL=live.registry,
               KSD_WEB_MONITORING_URL=live.monitoring, KSD_WEB_REPORTING_URL=live.reporting)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.ksd.cli", "serve", "web"], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(f"{base}/health"), "web process with logs", timeout=30)
            yield base, log
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def visit_everything(base: str, who: str, extra: list[str]) -> list[httpx.Response]:
    """Sign in and open every page of the user's menu, plus `extra`."""
    client = WebClient(base).sign_in(who)
    try:
        home = client.get("/")
        paths = list(dict.fromkeys(["/", *nav_paths(home.text), *extra]))
        return [home, *(client.get(p) for p in paths[1:])]
    finally:
        client.close()


def test_every_page_has_a_csp_without_unsafe_inline(live: LivePlatform) -> None:
    agreement = start_agreement(live, f"CSP uji {uuid.uuid4().hex[:8]}")
    answers = [httpx.get(f"{live.web}/masuk"), httpx.get(f"{live.web}/tidak-ada")]
    for who in ("bandung", "jabar", "monitor", "auditor"):
        answers += visit_everything(live.web, who, [f"/audit/{agreement['id']}", f"/kerja-sama/{agreement['id']}"])
    assert len(answers) > 10
    for response in answers:
        csp = response.headers.get("content-security-policy", "")
        assert csp, response.url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (response.url, csp)
        assert "frame-ancestors 'none'" in csp
        if "html" not in response.headers.get("content-type", ""):  # redirects, downloads: nothing runs
            assert "default-src 'none'" in csp or "script-src 'self'" in csp, (response.url, csp)
        else:
            assert "script-src 'self'" in csp and "style-src 'self'" in csp, (response.url, csp)
            # No inline script or style in what the page sends (the CSP would block it anyway).
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), response.url
            assert " style=" not in response.text and "<style" not in response.text, response.url
            assert not re.search(r"\son[a-z]+=", response.text), response.url


def test_session_cookie_is_httponly_and_samesite(live: LivePlatform) -> None:
    client = WebClient(live.web)
    try:
        client.get("/masuk")
        tenant, roles = USERS["bandung"]
        response = client.post("/masuk", {"tenant": tenant, "role": list(roles)})
        assert response.status_code == 303
        cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("ksd_sesi")]
        assert cookies
        for cookie in cookies:
            attributes = cookie.lower()
            assert "httponly" in attributes
            assert "samesite=lax" in attributes or "samesite=strict" in attributes
            assert "max-age=" in attributes or "expires=" in attributes
        # The cookie carries no readable token: it is encrypted.
        assert not JWT.search(" ".join(cookies))
    finally:
        client.close()


def test_output_is_escaped(live: LivePlatform, web) -> None:
    title = f"<script>alert(1)</script> uji {uuid.uuid4().hex[:6]}"
    agreement = start_agreement(live, title)
    client = web("bandung")
    pages = [client.get(f"/audit/{agreement['id']}"), client.get(f"/kerja-sama/{agreement['id']}"),
             client.get("/kerja-sama", params={"q": title[-9:]})]
    assert pages[0].status_code == 200  # /audit/{id} always; the others where they show the title
    shown = [p for p in pages if p.status_code == 200 and title in text_of(p.text)]
    assert pages[0] in shown
    for response in shown:
        assert "<script>alert(1)</script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert title in text_of(response.text)  # the person reads the title as typed


def test_no_token_in_links_or_in_the_logs(live: LivePlatform, logged_web: tuple[str, Path]) -> None:
    base, log = logged_web
    agreement = start_agreement(live, f"Token uji {uuid.uuid4().hex[:8]}")
    answers: list[httpx.Response] = []
    for who in ("bandung", "jabar", "monitor", "auditor"):
        answers += visit_everything(base, who, [f"/audit/{agreement['id']}", f"/kerja-sama/{agreement['id']}",
                                               f"/audit/{agreement['id']}/unduh"])
    links = [link for response in answers if "html" in response.headers.get("content-type", "")
             for link in LINK.findall(response.text)]
    assert any(link.startswith("/audit/") for link in links)
    for link in links:
        assert not JWT.search(link), link
        assert "token" not in link.lower() and "bearer" not in link.lower(), link
    for response in answers:
        assert not JWT.search(str(response.url))
        assert not JWT.search(response.headers.get("location", ""))
    time.sleep(0.5)  # the last lines flushed
    logged = log.read_text(errors="replace")
    assert "web_request" in logged or '"path"' in logged, logged[-2000:]  # it does log requests
    assert not JWT.search(logged), "a bearer token in the web process's log"
    assert "Bearer " not in logged


def crafted_cookie(live: LivePlatform, *, user_expires: int, cookie_max_age: int) -> str:
    """A session cookie as the web app writes it (same secret, same encryption)."""
    settings = Settings.from_env({}, data_dir=str(live.data_dir))
    backend = ClientSideSessionBackend(CookieBackendConfig(secret=session_secret(settings), key="ksd_sesi",
                                                           max_age=cookie_max_age))
    tenant, roles = USERS["bandung"]
    user = User(sub="uji", name="Operator uji", tenant=tenant, roles=roles, token=live.token("bandung"),
                expires=user_expires)
    chunks = backend.dump_data({"user": msgspec.to_builtins(user)})
    assert len(chunks) == 1
    return chunks[0].decode()


def test_a_live_crafted_session_is_accepted(live: LivePlatform) -> None:
    """The control for the two expiry tests below: the crafted cookie works while in time."""
    cookie = crafted_cookie(live, user_expires=int(time.time()) + 600, cookie_max_age=600)
    response = httpx.get(f"{live.web}/", cookies={"ksd_sesi": cookie})
    assert response.status_code == 200
    assert "Operator uji" in text_of(response.text)


def test_an_expired_session_sends_the_user_to_sign_in(live: LivePlatform) -> None:
    cookie = crafted_cookie(live, user_expires=int(time.time()) - 5, cookie_max_age=600)
    response = httpx.get(f"{live.web}/impor", cookies={"ksd_sesi": cookie})
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/masuk?lanjut=")


def test_a_session_cookie_past_its_age_is_not_honoured(live: LivePlatform) -> None:
    cookie = crafted_cookie(live, user_expires=int(time.time()) + 600, cookie_max_age=1)
    time.sleep(2.1)
    response = httpx.get(f"{live.web}/", cookies={"ksd_sesi": cookie})
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/masuk")


def test_signed_in_pages_are_never_kept_by_the_browser(web) -> None:  # noqa: ANN001
    """QA: after "Keluar", the back button showed the previous user's list from the cache."""
    client = web("bandung")
    for path in ("/", "/kerja-sama", "/masuk"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    assert "no-store" not in client.get("/static/app.css").headers.get("cache-control", "")


def test_the_menu_offers_only_pages_the_role_may_open(web) -> None:  # noqa: ANN001
    """QA: the national approver's menu offered "Nasional", which answered 403."""
    approver = web("approver")
    home = approver.get("/")
    assert 'href="/nasional"' not in home.text
    monitor = web("monitor")
    assert 'href="/nasional"' in monitor.get("/").text
