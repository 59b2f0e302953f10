"""What every service's HTTP app shares: problem details, bearer auth, request logging,
health, readiness, metrics and OpenAPI. `create_service_app` is the one way to build one.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from types import MappingProxyType
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Litestar, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

# The middleware Litestar itself wraps every route in (litestar 2.25 exports no public name for
# it); `problem_boundary` puts one more below the request log and the Prometheus middleware.
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.params import HeaderParameter
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ASGIApp, Receive, Scope, Send

from shared import __version__
from shared.assets import is_graphiql_request, openapi_config, static_files_router
from shared.auth import Identity, TokenService
from shared.db import database_outage
from shared.errors import BadRequest, KsdError, PreconditionRequired, Unauthenticated, cause_chain
from shared.hardening import (
    DATABASE_RETRY_AFTER_SECONDS,
    RateLimitMiddleware,
    TokenBucket,
    address_key,
    caller_key,
    check_json_depth,
    database_unavailable,
    metrics_guard,
    security_headers,
)
from shared.logs import configure_logging
from shared.openapi import ProblemResponses
from shared.rupiah import thousands
from shared.wire import INVALID_DATE, explain

log = structlog.get_logger("ksd.http")

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Permintaan tidak valid",
    401: "Autentikasi diperlukan",
    403: "Akses ditolak",
    404: "Tidak ditemukan",
    405: "Metode tidak diizinkan",
    409: "Konflik",
    413: "Permintaan terlalu besar",
    415: "Jenis konten tidak didukung",
    422: "Data tidak valid",
    428: "Header If-Match diperlukan",
    429: "Terlalu banyak permintaan",
    500: "Kesalahan internal",
    503: "Layanan belum siap",
}


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """An RFC 9457 problem details response."""
    slug = code or f"http-{status}"
    body: dict[str, Any] = {
        "type": f"urn:ksd:problem:{slug}",
        "title": title or _TITLES.get(status, "Kesalahan"),
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def msgspec_field_error(exc: msgspec.ValidationError) -> dict[str, str]:
    """`Expected `str`, got `int` - at `$.parties[0].region`` -> field `parties[0].region`, with
    the message in Bahasa Indonesia."""
    match = _MSGSPEC_PATH.match(str(exc))
    if match is None:  # the pattern matches every message
        raise ValueError(f"unexpected msgspec message: {exc}")
    path = (match.group("path") or "").lstrip(".")
    message = match.group("message")
    unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", message)
    missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", message)
    if unknown:
        path, message = ".".join(p for p in (path, unknown["f"]) if p), "kolom tidak dikenal"
    elif missing:
        path, message = ".".join(p for p in (path, missing["f"]) if p), "wajib diisi"
    else:
        message = explain(message)  # in Bahasa Indonesia, as a person reads it
    return {"field": path or "$", "message": message}


def _handle_ksd_error(request: Request[Any, Any, Any], exc: KsdError) -> Response[dict[str, Any]]:
    headers = {"WWW-Authenticate": 'Bearer realm="ksd"'} if exc.status == 401 else {}
    headers.update(exc.headers or {})
    return problem(
        exc.status, exc.detail, code=exc.code, title=exc.title, errors=exc.errors,
        headers=headers or None, **exc.extra,
    )


def _handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    chain = cause_chain(exc)
    validation = next((e for e in chain if isinstance(e, msgspec.ValidationError)), None)
    if validation is not None and "at `$[...]" in str(validation):
        # The body's JSON, read before its type is known, holds a number no reader keeps (1e400).
        return problem(400, "Isi permintaan bukan JSON yang valid: angka di luar jangkauan.", code="malformed_json")
    if validation is not None:
        error = msgspec_field_error(validation)
        # Litestar decodes the body as the `data` field of the handler's signature; any
        # other field is a query, path or header parameter: a malformed request (400).
        if error["field"] == "data" or error["field"].startswith(("data.", "data[")):
            error["field"] = re.sub(r"^data\.?", "", error["field"]) or "$"
            return problem(422, "Isian tidak sesuai ketentuan.", code="validation_failed", errors=[error])
        return problem(400, _parameter_detail([error]), code="invalid_parameter", errors=[error])
    if any(isinstance(e, msgspec.DecodeError) for e in chain):
        return problem(400, "Isi permintaan bukan JSON yang valid.", code="malformed_json")
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        return problem(401, "Token tidak ada atau tidak valid.", code="unauthenticated",
                       headers={"WWW-Authenticate": 'Bearer realm="ksd"'})
    if isinstance(exc, PermissionDeniedException):
        return problem(403, "Akses ditolak.", code="forbidden")
    if status == 413 or (status == 400 and exc.detail == "Request Entity Too Large"):
        # Litestar's body limit; its multipart parser says the same (as a 400) when a form
        # has too many parts.
        limit = _body_limit(request)
        detail = "Isi permintaan terlalu besar." + (f" Paling besar {thousands(limit)} bita." if limit else "")
        extra: dict[str, Any] = {"limit_bytes": limit} if limit else {}
        return problem(413, detail, code="request_too_large", **extra)
    # Litestar's details are English ("Not Found", "Method Not Allowed"): ours instead.
    detail = _LITESTAR_DETAILS.get(exc.detail, _DETAILS.get(status, _TITLES.get(status, "Kesalahan") + "."))
    errors = None
    if status == 400 and isinstance(exc.extra, list):
        # Litestar's parameter validation: name the offending query/path/header keys.
        errors = [
            {"field": str(item.get("key", "$")), "message": str(item.get("message", ""))}
            for item in exc.extra
            if isinstance(item, dict)
        ] or None
        detail = _parameter_detail(errors) if errors else detail
    return problem(status, detail, errors=errors, headers=getattr(exc, "headers", None))


def _parameter_detail(errors: list[dict[str, str]]) -> str:
    """A malformed query, path or header parameter as a person reads it: a bad date names
    the parameter and the format to use."""
    if len(errors) == 1 and errors[0]["message"] == INVALID_DATE:
        return f"Tanggal ({errors[0]['field']}) tidak sah: gunakan format TTTT-BB-HH."
    return "Parameter permintaan tidak valid."


_DETAILS = {
    400: "Permintaan tidak valid.",
    404: "Alamat ini tidak ada.",
    405: "Metode ini tidak diizinkan untuk alamat ini.",
    406: "Format jawaban yang diminta (Accept) tidak tersedia.",
    415: "Jenis konten permintaan tidak didukung.",
    429: "Terlalu banyak permintaan; coba lagi nanti.",
}
_LITESTAR_DETAILS = {
    "Invalid multipart/form-data": "Isi multipart/form-data tidak valid.",
}


def _body_limit(request: Request[Any, Any, Any]) -> int | None:
    """Called by an error handler, which must answer whatever fails here."""
    try:
        return request.route_handler.resolve_request_max_body_size() or None
    except Exception:  # noqa: BLE001 - no route (the limit is a route's): say no number rather than fail
        return None


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if (outage := database_outage(exc)) is not None:
        # Not a bug of ours and not the client's: no traceback, and never the server's words.
        log.warning("database_unavailable", error_type=type(outage).__name__, error=str(outage)[:300])
        return _handle_ksd_error(request, database_unavailable())
    if any(isinstance(e, RecursionError) for e in cause_chain(exc)):
        # Input nested beyond what a recursive decoder or walker copes with: the client's.
        log.info("input_too_deep", error_type="RecursionError")
        return problem(400, "Isi permintaan bersarang terlalu dalam untuk diproses.", code="too_deep")
    log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    return problem(500, "Terjadi kesalahan pada server; kejadian ini sudah dicatat.")


EXCEPTION_HANDLERS = {
    KsdError: _handle_ksd_error,
    HTTPException: _handle_http_exception,
    Exception: _handle_unexpected,
}


class KsdRequest(Request[Any, Any, Any]):
    """Litestar's request, refusing a JSON body nested deeper than `max_json_depth` before it
    is decoded (a recursive decoder would otherwise meet `[[[[...]]]]` with a RecursionError)."""

    async def json(self) -> Any:
        check_json_depth(await self.body(), self.app.state.settings.max_json_depth)
        return await super().json()


def problem_boundary(app: ASGIApp) -> ASGIApp:
    """Turns what the middleware below raises (401 and 403 of the auth middleware, 429 of the
    rate limits) into its problem response right here, so that the request log and the
    Prometheus middleware above see the real status instead of an exception (a 500)."""
    return ExceptionHandlerMiddleware(app=app, debug=None)


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts the caller's `Identity` on `request.user`; binds tenant and sub for logs."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        tokens: TokenService = connection.app.state.tokens
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if is_graphiql_request(connection):
                return AuthenticationResult(user=None, auth=None)
            raise Unauthenticated("Header Authorization: Bearer <token> diperlukan.")
        identity = tokens.verify(token.strip())
        structlog.contextvars.bind_contextvars(tenant=identity.tenant, sub=identity.sub)
        return AuthenticationResult(user=identity, auth=None)


_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_UNLOGGED_PATHS = ("/static", "/metrics", "/health", "/ready")


class RequestLogMiddleware:
    """One log line per request: method, path (never the query string), status, time.

    Request bodies and headers are never logged: they may carry personal data or tokens.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        # Runs for every request: the one header it needs (the last, if repeated), found
        # without copying the others.
        incoming = b""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value
        request_id_bytes = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex.encode()
        request_id = request_id_bytes.decode("latin-1")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            service=scope["app"].state.service, request_id=request_id
        )
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id_bytes)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Raised before any answer started (e.g. a refused CSRF token, answered 403 by the
            # exception handler outside this middleware): log the status it will get, not 500.
            status_holder[0] = getattr(exc, "status_code", 500)
            raise
        finally:
            path = scope["path"]
            if not path.startswith(_UNLOGGED_PATHS):
                log.info(
                    "request",
                    method=scope["method"],
                    path=path,
                    status=status_holder[0],
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )


def _health_handler(service: str) -> Any:
    @get("/health", opt={"exclude_from_auth": True}, include_in_schema=False, sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "service": service, "version": __version__}

    return health


ReadinessCheck = Callable[[State], Awaitable[dict[str, Any]]]


def _ready_handler(readiness: ReadinessCheck) -> Any:
    @get("/ready", opt={"exclude_from_auth": True}, include_in_schema=False)
    async def ready(state: State) -> Response[dict[str, Any]]:
        try:
            report = await readiness(state)
        except Exception as exc:  # noqa: BLE001 - any failure to reach a dependency means "not ready"
            # The probe is public: the reason names the kind of failure, the log the rest.
            log.warning("not_ready", error_type=type(exc).__name__, error=str(exc)[:300])
            outage = database_outage(exc) is not None
            return Response(
                {"status": "unavailable", "reason": "database_unavailable" if outage else type(exc).__name__},
                status_code=503,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            )
        ok = report.pop("ok", True)
        return Response({"status": "ok" if ok else "unavailable", **report}, status_code=200 if ok else 503)

    return ready


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = MappingProxyType({"exclude_from_auth": True})
    include_in_schema = False
    guards = (metrics_guard,)  # KSD_METRICS_TOKEN / KSD_METRICS_PUBLIC


def create_service_app(
    *,
    service: str,
    settings: Any,
    route_handlers: Sequence[Any],
    readiness: ReadinessCheck,
    lifespan: Sequence[Any] = (),
    description: str = "",
) -> Litestar:
    """The composition of cross-cutting concerns; services add their own handlers."""
    prometheus = PrometheusConfig(
        app_name=service,
        prefix="ksd",
        group_path=True,
        exclude=["^/metrics", "^/static"],
    )
    return Litestar(
        route_handlers=[
            _health_handler(service),
            _ready_handler(readiness),
            MetricsController,
            static_files_router(),
            *route_handlers,
        ],
        middleware=[
            RequestLogMiddleware,
            prometheus.middleware,
            problem_boundary,
            *_rate_limit(settings.rate_limit_per_address, address_key(settings.trusted_proxy_networks), "alamat"),
            DefineMiddleware(
                BearerAuthMiddleware,
                exclude=["^/health", "^/ready", "^/metrics", "^/schema", "^/static"],
            ),
            *_rate_limit(settings.rate_limit_per_token, caller_key, "pengguna"),
        ],
        before_send=[security_headers(settings)],
        request_class=KsdRequest,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi_config(
            title=f"Sinergi KSD — {service}", version=__version__, description=description
        ),
        lifespan=list(lifespan),
        state=State({"service": service, "settings": settings, "tokens": TokenService(settings)}),
        request_max_body_size=settings.max_json_body_bytes,
        plugins=[ProblemResponses()],  # every operation documents its problem responses
        logging_config=None,
        debug=False,
    )


def _rate_limit(per_minute: int, key_of: Callable[[Any], str | None], who: str) -> list[DefineMiddleware]:
    """A rate-limit middleware with its own buckets (one per app), or none when turned off."""
    if per_minute <= 0:
        return []
    return [DefineMiddleware(RateLimitMiddleware, bucket=TokenBucket(per_minute), key_of=key_of, who=who)]


def service_database_url(service: str, settings: Any, database_url: str | None) -> str:
    """What every service's `create_app` does first: find its database and set up logging."""
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the platform with `ksd run` (make run)")
    configure_logging(settings, service=service)
    return url


def identity_of(request: Request[Any, Any, Any]) -> Identity:
    user = request.user
    if not isinstance(user, Identity):
        raise Unauthenticated("Header Authorization: Bearer <token> diperlukan.")
    return user


# -- request helpers every service's REST API uses ---------------------------------------------

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        max_length=40,
        description='The version the change is based on, as its ETag: `"3"`. Required; stale: 409.',
    ),
]


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        description="A retry with the same key and body returns the first answer and creates nothing new.",
    ),
]


def expected_version(if_match: str | None) -> int:
    """`If-Match: "3"` (or `W/"3"`, or `3`) -> 3; missing -> 428; malformed -> 400."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            'Perubahan memerlukan header If-Match berisi versi terakhir yang Anda lihat, misalnya If-Match: "3".'
        )
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', if_match)
    if match is None:
        raise BadRequest('Header If-Match harus berisi versi, misalnya "3".', code="invalid_if_match")
    return int(match.group(1))


def optional_version(if_match: str | None) -> int | None:
    """For a POST that creates, or corrects with `If-Match`: the version when the header is sent."""
    return expected_version(if_match) if if_match and if_match.strip() else None


def page_size(settings: Any, limit: int | None) -> int:
    """The page size a list asks for (`limit`), within the configured maximum (else 400)."""
    size = limit or settings.page_size_default
    if size > settings.page_size_max:
        raise BadRequest(f"limit paling banyak {settings.page_size_max}.", code="limit_too_large")
    return size
