"""Sign-in and sign-out. Production: OpenID Connect with the ministry's identity provider.
Development (no KSD_OIDC_ISSUER): `GET /masuk` lists sample users, `POST /masuk` signs in as one."""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from services.web.oidc import Oidc, OidcError
from services.web.pages.common import as_list, page
from services.web.session import ROLE_LABELS, SAMPLE_USERS, User, current_user, sign_in, sign_out, tenant_name
from shared.auth import ROLES, TokenService
from shared.settings import Settings


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _dev_signin_allowed(settings: Settings) -> bool:
    return not settings.oidc_issuer and settings.environment == "development" and settings.jwt_algorithm == "HS256"


def _oidc(state: State) -> Oidc:
    if getattr(state, "oidc", None) is None:
        state.oidc = Oidc(state.settings)
    return state.oidc


@get("/masuk", sync_to_thread=False)
def sign_in_page(request: Request[Any, Any, Any], state: State, lanjut: str | None = None) -> Template:
    settings: Settings = state.settings
    samples = [
        {"tenant": t, "roles": roles, "name": name, "tenant_name": tenant_name(t),
         "role_names": ", ".join(ROLE_LABELS[r] for r in roles)}
        for t, roles, name in SAMPLE_USERS
    ]
    return page(
        "masuk.html", current_user(request), request=request, samples=samples, next=_safe_next(lanjut),
        dev=_dev_signin_allowed(settings), oidc=bool(settings.oidc_issuer), roles=[(r, ROLE_LABELS[r]) for r in ROLES],
        error=None,
    )


@post("/masuk", status_code=303)
async def sign_in_submit(
    request: Request[Any, Any, Any], state: State,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Any:
    settings: Settings = state.settings
    if not _dev_signin_allowed(settings):
        return Redirect("/masuk/oidc")
    tenant = str(data.get("tenant") or "").strip()
    roles = [str(r) for r in as_list(data.get("role"))]
    name = str(data.get("name") or "").strip()[:120]
    try:
        token = TokenService(settings).issue(tenant=tenant, roles=roles, name=name or None)
    except ValueError:
        samples = [{"tenant": t, "roles": r, "name": n, "tenant_name": tenant_name(t),
                    "role_names": ", ".join(ROLE_LABELS[x] for x in r)} for t, r, n in SAMPLE_USERS]
        return page(
            "masuk.html", None, request=request, status=422, samples=samples, next=_safe_next(data.get("lanjut")),
            dev=True, oidc=False, roles=[(r, ROLE_LABELS[r]) for r in ROLES],
            error="Daerah (kode wilayah seperti 32.73 atau 'national') atau peran tidak valid. "
                  "Peran 'approver' hanya untuk tingkat nasional.",
            form={"tenant": tenant, "role": roles, "name": name},
        )
    roles_t = tuple(r for r in ROLES if r in roles)
    user = User(
        sub=f"dev-{roles_t[0]}@{tenant}", name=name or f"Petugas {ROLE_LABELS[roles_t[0]]} {tenant_name(tenant)}",
        tenant=tenant, roles=roles_t, token=token,
        expires=int(time.time()) + min(settings.web_session_hours, settings.dev_token_ttl_hours) * 3600,
    )
    sign_in(request, user)
    return Redirect(_safe_next(data.get("lanjut")), status_code=303)


@get("/masuk/oidc")
async def oidc_begin(request: Request[Any, Any, Any], state: State, lanjut: str | None = None) -> Any:
    settings: Settings = state.settings
    if not settings.oidc_issuer:
        return Redirect("/masuk")
    oidc = _oidc(state)
    url, pending = await oidc.begin(oidc.redirect_uri(str(request.base_url)))
    request.set_session({"oidc": {**pending, "next": _safe_next(lanjut)}})
    return Redirect(url)


@get("/masuk/kembali")
async def oidc_callback(request: Request[Any, Any, Any], state: State, code: str | None = None) -> Any:
    settings: Settings = state.settings
    pending = (request.session or {}).get("oidc")
    returned_state = request.query_params.get("state")
    if not settings.oidc_issuer or not pending or not code or returned_state != pending.get("state"):
        return page("masuk.html", None, request=request, status=400, samples=[], next="/", dev=False, oidc=True,
                    roles=[], error="Sesi masuk tidak cocok atau sudah kedaluwarsa; silakan masuk kembali.")
    oidc = _oidc(state)
    try:
        info = await oidc.finish(oidc.redirect_uri(str(request.base_url)), code, pending)
    except OidcError as exc:
        return page("masuk.html", None, request=request, status=400, samples=[], next="/", dev=False, oidc=True,
                    roles=[], error=str(exc))
    expires = min(info["expires"], int(time.time()) + settings.web_session_hours * 3600)
    roles = tuple(r for r in ROLES if r in info["roles"])
    if not roles:
        return page("masuk.html", None, request=request, status=403, samples=[], next="/", dev=False, oidc=True,
                    roles=[], error="Akun Anda tidak memiliki peran Sinergi KSD; hubungi admin.")
    sign_in(request, User(sub=info["sub"], name=info["name"], tenant=info["tenant"], roles=roles,
                          token=info["token"], expires=expires, via="oidc"))
    return Redirect(_safe_next(pending.get("next")))


@post("/keluar", status_code=303)
async def sign_out_submit(request: Request[Any, Any, Any]) -> Redirect:
    sign_out(request)
    return Redirect("/masuk", status_code=303)


routes = [sign_in_page, sign_in_submit, oidc_begin, oidc_callback, sign_out_submit]
