"""Errors the domain and the application raise; `shared.http` turns them into
RFC 9457 problem details in one place. Pure Python: the domain may import this module.
"""

from __future__ import annotations

from typing import Any


def cause_chain(exc: BaseException, *, follow_context: bool = True) -> list[BaseException]:
    """`exc`, then what caused it (`__cause__`, else, with `follow_context`, the exception
    being handled when it was raised), and so on, each once."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (current.__context__ if follow_context else None)
    return chain


class KsdError(Exception):
    status: int = 500
    title: str = "Kesalahan internal"
    code: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = errors
        # Response headers the answer must carry (e.g. `Retry-After`).
        self.headers = headers
        self.extra = extra

    @property
    def extensions(self) -> dict[str, Any]:
        """What a GraphQL error built from this one carries (graphql-core reads
        `original_error.extensions`): the same `code` and `status` as the problem."""
        return {"code": self.code or f"http-{self.status}", "status": self.status}


class BadRequest(KsdError):
    status, title, code = 400, "Permintaan tidak valid", "bad_request"


class Unauthenticated(KsdError):
    status, title, code = 401, "Autentikasi diperlukan", "unauthenticated"


class Forbidden(KsdError):
    status, title, code = 403, "Akses ditolak", "forbidden"


class NotFound(KsdError):
    status, title, code = 404, "Tidak ditemukan", "not_found"


class Conflict(KsdError):
    status, title, code = 409, "Konflik", "conflict"


class VersionConflict(Conflict):
    """The `If-Match` version is stale: someone else changed the resource first."""

    code = "version_conflict"


class PayloadTooLarge(KsdError):
    status, title, code = 413, "Berkas terlalu besar", "file_too_large"


class UnsupportedMediaType(KsdError):
    status, title, code = 415, "Jenis berkas tidak didukung", "unsupported_media_type"


class InvalidInput(KsdError):
    """Valid JSON that breaks a field rule; `errors` names each field."""

    status, title, code = 422, "Data tidak valid", "validation_failed"


class RuleViolation(KsdError):
    """A lifecycle or business rule forbids the request; `code` names the rule."""

    status, title = 422, "Aturan dilanggar"

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)


class PreconditionRequired(KsdError):
    status, title, code = 428, "Header If-Match diperlukan", "precondition_required"


class TooManyRequests(KsdError):
    """A rate limit is spent; `Retry-After` says when to come back."""

    status, title, code = 429, "Terlalu banyak permintaan", "rate_limited"


class Unavailable(KsdError):
    """Not now: a dependency is not ready (e.g. a read model still catching up); retry."""

    status, title, code = 503, "Layanan belum siap", "unavailable"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached (down, restarting, out of connections): retry soon."""

    code = "database_unavailable"
