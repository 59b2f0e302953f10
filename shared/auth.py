"""Bearer tokens: who the caller is, for which tenant, in which roles.

Claims: `sub`, `name`, `tenant` (a region code or "national"), `roles`, `exp`.
Development signs with HS256 and a secret (generated once under the data directory);
production verifies tokens of an external identity provider with a public key or JWKS.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jwt
import msgspec

from shared.clock import Clock, SystemClock
from shared.errors import Forbidden, Unauthenticated, Unavailable
from shared.regions import load_regions
from shared.settings import Settings
from shared.tenancy import NATIONAL, is_region_code

ROLES = ("operator", "consolidator", "monitor", "auditor", "admin", "approver")
# Records the central government's decision (Mendagri, KSDPL/KSDLL) at the national level.
CENTRAL_APPROVER = "approver"


class Identity(msgspec.Struct, frozen=True):
    sub: str
    name: str
    tenant: str
    roles: tuple[str, ...]

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_national(self) -> bool:
        return self.tenant == NATIONAL

    def actor(self) -> dict[str, Any]:
        """What every event records about who did it. Not the display name: events are
        never changed, so personal data beyond the stable subject id stays out of them."""
        return {"sub": self.sub, "tenant": self.tenant, "roles": list(self.roles)}


class _Claims(msgspec.Struct):
    sub: str
    tenant: str
    roles: list[str]
    exp: int
    name: str = ""


def dev_secret(settings: Settings) -> str:
    """The HS256 secret: from settings, else one generated once under the data dir."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_path / "jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def check_tenant(tenant: str) -> None:
    """A tenant is the national level or one autonomous region (DOMAIN.md)."""
    if tenant == NATIONAL:
        return
    if not is_region_code(tenant):
        raise ValueError(f"tenant must be a region code such as 32.73 or 'national', not {tenant!r}")
    if not load_regions().is_party_eligible(tenant):
        raise ValueError(f"tenant {tenant!r} is not an autonomous region")


# Verified tokens kept, so a client sending the same token with every request pays for the
# signature check once: bounded (least recently used out first), each entry dropped at its
# token's `exp` and re-verified at least every VERIFIED_TOKENS_SECONDS (a rotated key of the
# identity provider takes effect within that time).
VERIFIED_TOKENS_MAX = 4096
VERIFIED_TOKENS_SECONDS = 300


class TokenService:
    """Signs development tokens and verifies every incoming one."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        # token -> (identity, its exp, re-verify at); only tokens that verified are kept.
        self._verified: OrderedDict[str, tuple[Identity, float, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self.algorithm = settings.jwt_algorithm
        self._jwks: jwt.PyJWKClient | None = None
        if self.algorithm == "HS256":
            self._verify_key: Any = dev_secret(settings)
            self._sign_key: Any = self._verify_key
        elif settings.jwt_public_key:
            key = settings.jwt_public_key
            # Either the PEM text itself or the path of a file holding it.
            self._verify_key = key if key.lstrip().startswith("-----BEGIN") else Path(key).read_text()
            self._sign_key = None
        else:
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url or "", cache_keys=True)
            self._verify_key = None
            self._sign_key = None

    def issue(
        self,
        *,
        tenant: str,
        roles: Iterable[str],
        sub: str | None = None,
        name: str | None = None,
        ttl_seconds: int | None = None,
    ) -> str:
        if self._sign_key is None:
            raise RuntimeError("tokens are issued by the identity provider in this configuration")
        check_tenant(tenant)
        roles = list(roles)
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            raise ValueError(f"roles must be some of {', '.join(ROLES)}; got {roles}")
        if CENTRAL_APPROVER in roles and tenant != NATIONAL:
            raise ValueError(f"role {CENTRAL_APPROVER} is for the national tenant only")
        ttl = ttl_seconds if ttl_seconds is not None else self.settings.dev_token_ttl_hours * 3600
        claims: dict[str, Any] = {
            "sub": sub or f"dev-{roles[0]}@{tenant}",
            "name": name or f"Petugas {roles[0]} {tenant}",
            "tenant": tenant,
            "roles": roles,
            "exp": int(time.time()) + ttl,
        }
        if self.settings.jwt_issuer:
            claims["iss"] = self.settings.jwt_issuer
        if self.settings.jwt_audience:
            claims["aud"] = self.settings.jwt_audience
        return jwt.encode(claims, self._sign_key, algorithm=self.algorithm)

    def verify(self, token: str) -> Identity:
        """The identity a token proves. 401 when it proves nothing (one Indonesian message per
        kind of failure, never the library's words); 403 when it names no role we know."""
        now = self._clock.now().timestamp()
        with self._verified_lock:
            hit = self._verified.get(token)
            if hit is not None:
                identity, exp, fresh_until = hit
                if now < exp and now < fresh_until:
                    self._verified.move_to_end(token)
                    return identity
                del self._verified[token]
                if now >= exp:  # as PyJWT judges `exp`: valid while now < exp
                    raise Unauthenticated(_TOKEN_ERRORS["expired"], code="token_expired")
        identity, exp = self._verify(token, now)
        with self._verified_lock:
            self._verified[token] = (identity, exp, now + VERIFIED_TOKENS_SECONDS)
            while len(self._verified) > VERIFIED_TOKENS_MAX:
                self._verified.popitem(last=False)
        return identity

    def _verify(self, token: str, now: float) -> tuple[Identity, int]:
        try:
            key = self._verify_key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            payload = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                # `exp` is judged below by our clock, the one the cache of verified tokens
                # reads, as PyJWT would judge it (valid while now < exp).
                options={"require": ["exp", "sub"], "verify_exp": False},
            )
            claims = msgspec.convert(payload, _Claims)
            if now >= claims.exp:
                raise jwt.ExpiredSignatureError("Signature has expired")
            check_tenant(claims.tenant)
        except jwt.PyJWKClientConnectionError:
            raise Unavailable(
                "Penyedia identitas tidak dapat dihubungi untuk memeriksa token; coba lagi sebentar lagi.",
                code="identity_provider_unavailable",
                headers={"Retry-After": "5"},
            ) from None
        except (jwt.PyJWTError, msgspec.ValidationError, ValueError) as exc:
            raise Unauthenticated(_TOKEN_ERRORS[_token_error_kind(exc)], code=_token_error_code(exc)) from None
        roles = tuple(r for r in claims.roles if r in ROLES)
        if not roles:
            raise Forbidden(
                f"Token tidak membawa peran yang dikenal ({', '.join(ROLES)}).", code="no_known_role"
            )
        return Identity(sub=claims.sub, name=claims.name or claims.sub, tenant=claims.tenant, roles=roles), claims.exp


# What a caller reads when a token proves nothing, by kind of failure. The library's own
# message (PyJWT's, msgspec's) never reaches a client: it names internals.
_TOKEN_ERRORS = {
    "expired": "Token sudah kedaluwarsa.",
    "not_yet_valid": "Token belum berlaku.",
    "bad_signature": "Tanda tangan token tidak sah.",
    "malformed": "Token tidak dapat dibaca: bukan JWT yang utuh.",
    "wrong_issuer": "Token diterbitkan oleh penerbit (iss) yang tidak dikenal.",
    "wrong_audience": "Token ini bukan untuk layanan ini (aud).",
    "bad_claims": "Isi token tidak lengkap atau tidak valid (sub, tenant, roles, exp).",
}


def _token_error_kind(exc: Exception) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError)):
        return "not_yet_valid"
    if isinstance(exc, (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.PyJWKClientError,
                        jwt.InvalidKeyError)):
        return "bad_signature"
    if isinstance(exc, jwt.InvalidIssuerError) or (
        isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim == "iss"
    ):
        return "wrong_issuer"
    if isinstance(exc, jwt.InvalidAudienceError) or (
        isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim == "aud"
    ):
        return "wrong_audience"
    if isinstance(exc, jwt.DecodeError):
        return "malformed"
    return "bad_claims"


def _token_error_code(exc: Exception) -> str:
    # `token_expired` and `token_invalid` are the codes API.md documents; the detail says which.
    return "token_expired" if isinstance(exc, jwt.ExpiredSignatureError) else "token_invalid"


def require_roles(*roles: str) -> Callable[[Identity], None]:
    """A check usable by guards and application code alike."""

    def check(identity: Identity) -> None:
        if not identity.has_role(*roles):
            raise Forbidden(
                f"Peran {' atau '.join(roles)} diperlukan untuk tindakan ini.",
                code="role_required",
            )

    return check
