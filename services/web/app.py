"""The web application's composition root: `create_app(settings)` builds the Litestar app.

Pages live in `services/web/pages/` (one module per area, each with its `routes`), templates
in `services/web/templates/`, assets (htmx, CSS, scripts) in `services/web/static/`: nothing is
loaded from elsewhere, so the application works on an intranet without internet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jinja2
import structlog
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from services.web.client import SERVICES, Api, ApiError
from services.web.format import FILTERS
from services.web.pages import ROUTES
from services.web.session import User, current_user, session_secret
from shared.hardening import WEB_CSP, RateLimitMiddleware, TokenBucket, address_key, security_headers
from shared.http import RequestLogMiddleware
from shared.logs import configure_logging
from shared.settings import Settings

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
log = structlog.get_logger()


class NotSignedIn(Exception):
    """The page needs a signed-in user (or the session has ended)."""


def require_user(request: Request[Any, Any, Any]) -> User:
    user = current_user(request)
    if user is None:
        raise NotSignedIn()
    return user


def _next_path(request: Request[Any, Any, Any]) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path if path.startswith("/") and not path.startswith("//") else "/"


def _not_signed_in(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    if request.headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load.
        return Response(content="", status_code=401, headers={"HX-Redirect": "/masuk"})
    from urllib.parse import quote

    return Redirect(f"/masuk?lanjut={quote(_next_path(request), safe='')}")


def error_page(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Template:
    return Template(
        template_name="galat.html",
        context={"user": current_user(request), "status": status, "title": title, "detail": detail},
        status_code=status,
    )


_TITLES = {
    400: "Permintaan tidak dapat diproses",
    403: "Tidak berwenang",
    404: "Tidak ditemukan",
    409: "Data telah berubah",
    413: "Berkas terlalu besar",
    422: "Isian tidak valid",
    429: "Terlalu banyak permintaan",
    503: "Layanan sedang tidak tersedia",
}


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    if exc.status == 401:
        request.clear_session()
        return _not_signed_in(request, exc)
    status = exc.status if exc.status in _TITLES else 502
    title = _TITLES.get(status, "Layanan menjawab dengan kesalahan")
    return error_page(request, status, title, exc.detail)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 403 and "csrf" in str(exc.detail).lower():
        return error_page(request, 403, "Formulir kedaluwarsa",
                          "Formulir ini sudah tidak berlaku (token CSRF tidak cocok)."
                          " Muat ulang halaman lalu kirim lagi.")
    if isinstance(exc, NotFoundException) or status == 404:
        return error_page(request, 404, _TITLES[404], "Halaman yang Anda cari tidak ada.")
    return error_page(request, status, _TITLES.get(status, "Permintaan tidak dapat diproses"), str(exc.detail))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("web_unexpected_error", path=request.url.path)  # noqa: LOG004 - Litestar calls this handler while the exception is handled
    return error_page(request, 500, "Terjadi kesalahan",
                      "Terjadi kesalahan pada aplikasi. Coba lagi; bila berulang, hubungi admin.")


@get("/health", media_type=MediaType.JSON, include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok", "service": "web"}


@get("/ready", media_type=MediaType.JSON, include_in_schema=False)
async def ready(state: State) -> Response[dict[str, Any]]:
    """Ready when every service the pages call answers its /health."""
    down = []
    async with httpx.AsyncClient(timeout=2) as http:
        for service, base in state.api.bases.items():
            try:
                if (await http.get(f"{base}/health")).status_code != 200:
                    down.append(service)
            except httpx.HTTPError:
                down.append(service)
    status = 503 if down else 200
    return Response({"status": "ready" if not down else "not_ready", "unreachable": down}, status_code=status)


async def no_store(message: Any, scope: Any) -> None:
    """Pages show one signed-in user's data: never kept by the browser (the back button after
    "Keluar" on a shared office computer must not show them) nor by a proxy."""
    if message["type"] == "http.response.start" and not scope.get("path", "").startswith("/static/"):
        MutableScopeHeaders(message)["Cache-Control"] = "no-store"


def template_engine() -> JinjaTemplateEngine:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every value is escaped unless marked safe
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return JinjaTemplateEngine.from_environment(env)


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings, service="web")
    bases = {service: settings.api_base(service) for service in SERVICES}
    secret = session_secret(settings)
    sessions = CookieBackendConfig(
        secret=secret,
        key="ksd_sesi",
        max_age=settings.web_session_hours * 3600,
        httponly=True,
        secure=settings.web_secure_cookie,
        samesite="lax",  # the identity provider's redirect back is a top-level GET
    )
    csrf = CSRFConfig(
        secret=secret.hex(),
        cookie_name="ksd_csrf",
        cookie_secure=settings.web_secure_cookie,
        cookie_samesite="strict",
        header_name="x-csrftoken",
        exclude=["^/health", "^/ready", "^/static"],
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        api = Api(bases, transport=transport, cache_seconds=settings.web_cache_seconds)
        app.state.api = api
        try:
            yield
        finally:
            await api.close()

    return Litestar(
        route_handlers=[
            health,
            ready,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="web_static",
                                       cache_control=None, include_in_schema=False),
            *ROUTES,
        ],
        dependencies={"user": Provide(require_user, sync_to_thread=False)},
        middleware=[
            RequestLogMiddleware,
            *([DefineMiddleware(RateLimitMiddleware, bucket=TokenBucket(settings.rate_limit_per_address),
                                key_of=address_key(settings.trusted_proxy_networks), who="alamat")]
              if settings.rate_limit_per_address > 0 else []),
            sessions.middleware,
        ],
        csrf_config=csrf,
        template_config=TemplateConfig(instance=template_engine()),
        before_send=[security_headers(settings, html_csp=WEB_CSP), no_store],
        exception_handlers={
            NotSignedIn: _not_signed_in,
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=[lifespan],
        state=State({"service": "web", "settings": settings, "api_bases": bases}),
        request_max_body_size=max(settings.import_max_bytes, settings.max_document_bytes) + 1_000_000,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
