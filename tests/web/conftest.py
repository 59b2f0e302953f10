"""The web application under test: one real platform (`ksd run`: the three services, their
workers and the web app, granian processes) on a fresh database for the whole session, and
clients that use it as a person does: an HTTP client with cookies (sign-in form, CSRF token),
and Chromium driven by Playwright (Debian's `chromium`, never a downloaded browser)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, fresh_database, wait_for
from tests.e2e.test_platform_processes import Platform, platform_env

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "shared" / "docs" / "screenshots"
# Tests read what they just wrote, so the web app asks the services every time; the page-speed
# bench (tests/perf/test_web_bench.py) measures with the default cache instead.
WEB_CACHE_SECONDS = os.environ.get("KSD_TEST_WEB_CACHE_SECONDS", "0")
CHROMIUM = os.environ.get("KSD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# The sample users of `GET /masuk` (services/web/session.py SAMPLE_USERS), by a short name.
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bandung": ("32.73", ("operator",)),
    "bandung_admin": ("32.73", ("admin",)),
    "kab_bandung": ("32.04", ("operator",)),
    "jabar": ("32", ("operator", "consolidator", "monitor")),
    "surabaya": ("35.78", ("operator",)),
    "monitor": ("national", ("monitor",)),
    "approver": ("national", ("approver",)),
    "auditor": ("national", ("auditor",)),
}


class LivePlatform:
    def __init__(self, web: str, services: dict[str, str], data_dir: Path, database_url: str | None) -> None:
        self.web = web
        self.registry = services["registry"]
        self.monitoring = services["monitoring"]
        self.reporting = services["reporting"]
        self.data_dir = data_dir
        self.database_url = database_url

    def token(self, who: str) -> str:
        """A bearer token for a sample user, for setting up data through the services' APIs."""
        from shared.auth import TokenService
        from shared.settings import Settings

        tenant, roles = USERS[who]
        return TokenService(Settings.from_env({}, data_dir=str(self.data_dir))).issue(tenant=tenant, roles=roles)


def _web_only(services: dict[str, str], data_dir: Path) -> Iterator[str]:
    """Only a web process (granian, `ksd serve web`) against services already running."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSD_") and k != "DATABASE_URL"}
    env.update(KSD_WEB_PORT=str(port), KSD_DATA_DIR=str(data_dir), KSD_LOG_LEVEL="warning",
               KSD_WEB_CACHE_SECONDS=WEB_CACHE_SECONDS,
               KSD_RATE_LIMIT_PER_ADDRESS="0",
               **{f"KSD_WEB_{name.upper()}_URL": base for name, base in services.items()})
    proc = subprocess.Popen([sys.executable, "-m", "services.ksd.cli", "serve", "web"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/health"), "web process", timeout=30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# Package scope: the platform stops when the last test of tests/web has run, so its
# connections never add to those of the other packages' platforms (tests/README.md).
@pytest.fixture(scope="package")
def live(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    """The whole platform (`ksd run`) on a fresh database (`live_platform`)."""
    yield from live_platform(pg_server_url, tmp_path_factory)


def live_platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    """The whole platform (`ksd run`) on a fresh database. While developing, set
    KSD_TEST_SERVICES (registry,monitoring,reporting base URLs, comma-separated) and
    KSD_TEST_DATA_DIR (their data dir, for the token secret) to run only a web process
    against services already running."""
    if shared_services := os.environ.get("KSD_TEST_SERVICES"):
        services = dict(zip(("registry", "monitoring", "reporting"), shared_services.split(","), strict=True))
        data_dir = Path(os.environ["KSD_TEST_DATA_DIR"])
        for web in _web_only(services, data_dir):
            yield LivePlatform(web, services, data_dir, os.environ.get("KSD_TEST_DATABASE_URL"))
        return
    with fresh_database(pg_server_url, prefix="ksd_web") as url:
        data = tmp_path_factory.mktemp("web-platform")
        platform = Platform(platform_env(DATABASE_URL=url, KSD_DATA_DIR=str(data), KSD_WORKER_METRICS_PORT="0",
                                         KSD_RATE_LIMIT_PER_ADDRESS="0", KSD_RATE_LIMIT_PER_TOKEN="0",
                                         KSD_WEB_CACHE_SECONDS=WEB_CACHE_SECONDS))
        try:
            yield LivePlatform(
                f"http://127.0.0.1:{platform.ports['web']}",
                {name: f"http://127.0.0.1:{platform.ports[name]}" for name in ("registry", "monitoring", "reporting")},
                data, url,
            )
        finally:
            platform.stop()


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


class WebClient:
    """A browser-like HTTP client of the web app: cookies kept, CSRF token read from the page's
    forms and sent back with every POST."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def _remember_csrf(self, response: httpx.Response) -> None:
        if match := CSRF_INPUT.search(response.text if "html" in response.headers.get("content-type", "") else ""):
            self.csrf = match.group(1)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.get(path, **kwargs)
        self._remember_csrf(response)
        return response

    def post(self, path: str, data: Any = None, files: Any = None, **kwargs: Any) -> httpx.Response:
        if not self.csrf:
            self.get("/masuk")
        fields = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dict(data or {}).items()}
        fields["_csrf_token"] = self.csrf  # repeated fields: a list value (httpx sends key=v1&key=v2)
        response = self.http.post(path, data=fields, files=files, **kwargs)
        self._remember_csrf(response)
        return response

    def sign_in(self, who: str) -> WebClient:
        tenant, roles = USERS[who]
        self.get("/masuk")
        response = self.post("/masuk", {"tenant": tenant, "role": list(roles)})
        assert response.status_code == 303, response.text
        return self


@pytest.fixture
def web(live: LivePlatform) -> Iterator[Any]:
    """`web("bandung")`: a signed-in WebClient for a sample user (closed after the test)."""
    clients: list[WebClient] = []

    def make(who: str | None = None) -> WebClient:
        client = WebClient(live.web)
        clients.append(client)
        return client.sign_in(who) if who else client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"Chromium not found at {CHROMIUM}: install Debian's package (`apt-get install chromium`; .ci/run does) "
        "or set KSD_CHROMIUM"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_as(browser: Any, live: LivePlatform) -> Iterator[Any]:
    """`page_as("bandung", width=1280)`: a Playwright page signed in through the /masuk form."""
    contexts: list[Any] = []

    def make(who: str, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(base_url=live.web, viewport={"width": width, "height": height}, locale="id-ID")
        contexts.append(context)
        page = context.new_page()
        page.goto("/masuk")
        tenant, roles = USERS[who]
        page.locator(f'button.pengguna-contoh[data-tenant="{tenant}"][data-roles="{"+".join(roles)}"]').click()
        page.wait_for_url(re.compile(r".*/$"))
        return page

    yield make
    for context in contexts:
        context.close()
