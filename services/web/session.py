"""Who is signed in to the web application: the session (an encrypted, signed, HttpOnly,
SameSite cookie) holds the user's identity and the bearer token the services verify."""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec
from litestar import Request

from shared.regions import load_regions
from shared.settings import Settings
from shared.tenancy import NATIONAL

ROLE_LABELS = {
    "operator": "Operator",
    "consolidator": "Konsolidator provinsi",
    "monitor": "Pemantau",
    "auditor": "Auditor",
    "admin": "Admin daerah",
    "approver": "Pemberi persetujuan pusat",
}

# What `GET /masuk` offers in development: one sample user per kind of official.
SAMPLE_USERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("32.73", ("operator",), "Operator Kota Bandung"),
    ("32.73", ("admin",), "Admin Kota Bandung"),
    ("32.04", ("operator",), "Operator Kabupaten Bandung"),
    ("32", ("operator", "consolidator", "monitor"), "Biro Pemerintahan Jawa Barat"),
    ("32", ("admin",), "Admin Provinsi Jawa Barat"),
    ("35.78", ("operator",), "Operator Kota Surabaya"),
    ("national", ("monitor",), "Direktorat Kerja Sama, Kemendagri"),
    ("national", ("approver",), "Pemberi persetujuan pusat, Kemendagri"),
    ("national", ("auditor",), "Inspektorat Jenderal, Kemendagri"),
)


class User(msgspec.Struct, frozen=True):
    sub: str
    name: str
    tenant: str
    roles: tuple[str, ...]
    token: str
    expires: int  # epoch seconds: the session and the token both end then
    via: str = "dev"  # "dev" or "oidc"

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_national(self) -> bool:
        return self.tenant == NATIONAL

    @property
    def is_province(self) -> bool:
        return self.tenant != NATIONAL and "." not in self.tenant

    @property
    def tenant_name(self) -> str:
        return tenant_name(self.tenant)

    @property
    def role_names(self) -> str:
        return ", ".join(ROLE_LABELS.get(r, r) for r in self.roles)


def tenant_name(tenant: str) -> str:
    if tenant == NATIONAL:
        return "Kementerian Dalam Negeri (nasional)"
    region = load_regions().get(tenant)
    return region.name if region is not None else tenant


def session_secret(settings: Settings) -> bytes:
    """32 bytes for the session cookie's AES-GCM key: from settings, else generated once under
    the data directory (development)."""
    if settings.web_session_secret:
        raw = settings.web_session_secret.encode()
    elif settings.environment == "production":
        from shared.settings import SettingsError

        raise SettingsError("KSD_WEB_SESSION_SECRET is required in production (the web application's sessions)")
    else:
        path = settings.data_path / "web-session-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        raw = path.read_text().strip().encode()
    import hashlib

    return hashlib.sha256(raw).digest()


def current_user(request: Request[Any, Any, Any]) -> User | None:
    if "session" not in request.scope:  # answers made before the session middleware (404s)
        return None
    data = request.session.get("user") if request.session else None
    if not data:
        return None
    try:
        user = msgspec.convert(data, User)
    except msgspec.ValidationError:
        return None
    if user.expires <= time.time():
        return None
    return user


def sign_in(request: Request[Any, Any, Any], user: User) -> None:
    request.set_session({"user": msgspec.to_builtins(user)})


def sign_out(request: Request[Any, Any, Any]) -> None:
    request.clear_session()
