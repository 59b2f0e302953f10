"""`/profil`: the region's letter profile (kop surat, signatory, nomor surat pattern) that every
exported PDF is printed with, kept by the region's own `admin` through the reporting service's
`GET`/`PUT /profiles/{region}`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from services.web.client import ApiError
from services.web.pages.common import api, form_data, form_errors, page
from services.web.session import User

TEXT_FIELDS = ("government_name", "phone", "email", "website", "city", "signatory_name", "signatory_title", "nip",
               "rank", "letter_number_pattern")
LINE_FIELDS = ("address_lines", "addressee")

STALE = ("Profil ini telah diubah orang lain sejak Anda membukanya. Isian Anda masih ada di bawah; "
         "periksa terhadap keadaan terbaru lalu simpan lagi.")


def _forbidden(request: Request[Any, Any, Any], user: User) -> Template:
    return page("galat.html", user, request=request, status=403, title="Tidak berwenang",
                detail="Profil surat daerah hanya dapat diubah oleh admin daerah tersebut.")


def _as_form(profile: dict[str, Any]) -> dict[str, Any]:
    """The API's profile as the form shows it: lists as one line each."""
    form = {k: profile.get(k) or "" for k in TEXT_FIELDS}
    for k in LINE_FIELDS:
        form[k] = "\n".join(profile.get(k) or [])
    form["signatory_is_civil_servant"] = bool(profile.get("signatory_is_civil_servant"))
    form["version"] = profile.get("version") or ""
    return form


def _body(form: dict[str, Any]) -> dict[str, Any]:
    """What the user typed as the `ProfileWrite` body: the whole profile, blanks as absent."""
    body: dict[str, Any] = {}
    for k in TEXT_FIELDS:
        value = str(form.get(k) or "").strip()
        if value:
            body[k] = value
    for k in LINE_FIELDS:
        body[k] = [line.strip() for line in str(form.get(k) or "").splitlines() if line.strip()]
    body["signatory_is_civil_servant"] = bool(form.get("signatory_is_civil_servant"))
    version = str(form.get("version") or "").strip()
    if version.isdigit():
        body["version"] = int(version)
    return body


async def _page(request: Request[Any, Any, Any], state: State, user: User, *, form: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, notice: str | None = None, stale: bool = False,
                code: int = 200) -> Template:
    current = await api(state).get("reporting", f"/profiles/{user.tenant}", user.token)
    shown = form if form is not None else _as_form(current)
    if stale:  # saving again overwrites the newer profile only on purpose: with the version now read
        shown = {**shown, "version": current.get("version") or ""}
    return page("profil/ubah.html", user, request=request, status=code, profile=current, form=shown,
                errors=errors or {}, notice=notice, stale=stale)


@get("/profil", media_type=MediaType.HTML)
async def profile_page(request: Request[Any, Any, Any], state: State, user: User, pesan: str | None = None) -> Template:
    if not user.has("admin"):
        return _forbidden(request, user)
    return await _page(request, state, user, notice="Profil surat telah disimpan." if pesan == "disimpan" else None)


@post("/profil", status_code=303, media_type=MediaType.HTML)
async def profile_save(request: Request[Any, Any, Any], state: State, user: User) -> Any:
    if not user.has("admin"):
        return _forbidden(request, user)
    data = await form_data(request)
    form = {k: data.get(k, "") for k in (*TEXT_FIELDS, *LINE_FIELDS, "version")}
    form["signatory_is_civil_servant"] = bool(data.get("signatory_is_civil_servant"))
    try:
        await api(state).request("reporting", "PUT", f"/profiles/{user.tenant}", user.token, json=_body(form))
    except ApiError as exc:
        if exc.status in (409, 428):
            return await _page(request, state, user, form=form, errors={"_": STALE}, stale=True, code=409)
        if exc.status in (400, 422):
            return await _page(request, state, user, form=form, errors=form_errors(exc), code=422)
        if exc.status == 403:
            return _forbidden(request, user)
        raise
    return Redirect("/profil?pesan=disimpan", status_code=303)


routes = [profile_page, profile_save]
