"""Limits and headers every service applies at its edge (see `shared.http.create_service_app`):
JSON nesting depth, rate limits per caller and per client address, security headers, and the
gate in front of `/metrics`; also the 503 with Retry-After a database outage answers
(`shared.db.database_outage` tells one), never a 500.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import database_outage  # noqa: F401 - the edge's name for it (shared.http, shared.graphql)
from shared.errors import BadRequest, DatabaseUnavailable, Forbidden, TooManyRequests, Unauthenticated

# -- JSON nesting depth ------------------------------------------------------------------------

# A JSON string, escapes included; an unterminated one runs to the end (the decoder refuses it
# later), so a match never has to be retried from every quote: linear time on any input.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\Z)', re.S)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def json_depth(data: bytes | str) -> int:
    """How deep the arrays and objects of a JSON text nest, without decoding it: no recursion,
    a few passes in C over the bytes (about 30 ms for a megabyte of brackets)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_json_depth(data: bytes | str, limit: int) -> None:
    """400 `json_too_deep` when `data` nests deeper than `limit`. Free for a text with no more
    than `limit` opening brackets (most bodies): it cannot be deeper."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    if json_depth(raw) > limit:
        raise BadRequest(
            f"JSON bersarang terlalu dalam: paling banyak {limit} tingkat larik/objek.",
            code="json_too_deep",
            max_depth=limit,
        )


# -- database outages ------------------------------------------------------------------------

# Retry-After of a 503 for a database outage: long enough for a restart or a failover to be
# noticed, short enough that a client comes back as soon as it is likely to work.
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "Basis data sedang tidak dapat dihubungi; coba lagi sebentar lagi.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


# -- client address behind trusted proxies -------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _header(scope: Scope, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers") or () if k.lower() == name]
    return ",".join(values)


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy, in which case the
    right-most address of X-Forwarded-For that is not itself a trusted proxy."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def came_over_tls(scope: Scope, trusted: Sequence[Network]) -> bool:
    """https to us, or X-Forwarded-Proto https from a trusted proxy."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _is_trusted(peer, trusted):
        return False
    proto = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
    return proto == "https"


# -- rate limits -------------------------------------------------------------------------------


class TokenBucket:
    """Per-key token buckets holding one minute's worth of requests, refilled continuously.

    In-process and O(1) per request; the least recently seen keys are forgotten beyond
    `max_keys`, so a caller inventing addresses or tokens cannot grow memory without bound
    (a forgotten key merely starts again with a full bucket).
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # least recently used first

    def take(self, key: str) -> float:
        """Spend one request of `key`: 0 when allowed, else the seconds until one is due."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


_NOT_LIMITED = re.compile(r"^/(?:health|static)(?:/|$)")


class RateLimitMiddleware:
    """429 `rate_limited` with Retry-After once the key's bucket is empty. `key_of` names the
    bucket of a request (None: not limited here); `who` says whose limit it is, in the detail."""

    def __init__(self, app: ASGIApp, *, bucket: TokenBucket, key_of: Callable[[Scope], str | None], who: str) -> None:
        self.app = app
        self.bucket = bucket
        self.key_of = key_of
        self.who = who

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not _NOT_LIMITED.match(scope["path"]):
            key = self.key_of(scope)
            if key is not None and (wait := self.bucket.take(key)) > 0:
                seconds = max(1, math.ceil(wait))
                raise TooManyRequests(
                    f"Terlalu banyak permintaan dari {self.who} ini (paling banyak {self.bucket.per_minute} "
                    f"per menit); coba lagi dalam {seconds} detik.",
                    headers={"Retry-After": str(seconds)},
                    limit_per_minute=self.bucket.per_minute,
                )
        await self.app(scope, receive, send)


def address_key(trusted: Sequence[Network]) -> Callable[[Scope], str | None]:
    return lambda scope: "addr:" + client_address(scope, trusted)


def caller_key(scope: Scope) -> str | None:
    """The verified caller (set by the auth middleware): its tenant and subject."""
    user = scope.get("user")
    sub, tenant = getattr(user, "sub", None), getattr(user, "tenant", None)
    return f"sub:{tenant}|{sub}" if sub is not None else None


# -- security headers --------------------------------------------------------------------------

# For the HTML pages (GraphiQL, Swagger UI): every script is a file under /static, none inline
# (so no 'unsafe-inline' for scripts: checked in Chromium, tests/e2e/test_http_hardening.py);
# styles may be inline, as both UIs' libraries may add style elements and attributes as they
# run (a style cannot run code).
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# For everything else (JSON, problem details, CSV, PDF, static files): nothing may load.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"


# For the web application's pages (services/web): scripts and styles only from its own files.
WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(settings: Any, html_csp: str = UI_CSP) -> Callable[[Message, Scope], Any]:
    """A `before_send` hook: it sees every answer of the app, errors and 404s included."""
    trusted = settings.trusted_proxy_networks
    always_hsts = settings.hsts_always

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        message.setdefault("headers", [])
        headers = MutableScopeHeaders(message)
        html = headers.get("content-type", "").startswith("text/html")
        headers["Content-Security-Policy"] = html_csp if html else API_CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        if always_hsts or came_over_tls(scope, trusted):
            headers["Strict-Transport-Security"] = HSTS

    return add_headers


# -- /metrics ----------------------------------------------------------------------------------


def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    """`KSD_METRICS_TOKEN` set: only `Authorization: Bearer <it>`. Unset: open in development,
    closed (403) in production unless `KSD_METRICS_PUBLIC=true`."""
    settings = connection.app.state.settings
    if settings.metrics_token:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.metrics_token.encode()
        ):
            raise Unauthenticated(
                "/metrics memerlukan header Authorization: Bearer <KSD_METRICS_TOKEN>.", code="metrics_token_required"
            )
    elif settings.environment == "production" and not settings.metrics_public:
        raise Forbidden(
            "/metrics tertutup di produksi: setel KSD_METRICS_TOKEN, atau KSD_METRICS_PUBLIC=true bila "
            "jaringannya sudah dibatasi.",
            code="metrics_closed",
        )
