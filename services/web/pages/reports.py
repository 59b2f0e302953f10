"""Reports: a region's reports (`/laporan`: list, compose, fill, submit), a province's
consolidation (`/konsolidasi/{province}/{period}`), the national roll-up (`/nasional/{period}`)
and the downloads of every export, streamed from the reporting service with the user's token."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from services.web.client import ApiError
from services.web.pages.common import api, clean, form_data, form_errors, page
from services.web.session import User
from shared.periods import Period, local_date

PERIOD = re.compile(r"^\d{4}(-S[12])?$")
PROVINCE = re.compile(r"^\d{2}$")
FORMATS = {"pdf": "PDF", "xlsx": "XLSX", "csv": "CSV"}
PAGE_SIZE = 20

STATUS_LABELS = {"draf": "Draf", "disampaikan": "Disampaikan"}
TIMELINESS = {  # standing -> (label, badge class)
    "tepat_waktu": ("Tepat waktu", "baik"),
    "terlambat": ("Terlambat", "perhatian"),
    "belum_menyampaikan": ("Belum menyampaikan", "kritis"),
}
SEVERITY = {"critical": "kritis", "kritis": "kritis", "warning": "perhatian", "perhatian": "perhatian"}

# Notices after a redirect (`?pesan=`): fixed texts, never text from the URL.
NOTICES = {
    "dibuat": "Laporan telah disusun dari data terkini. Lengkapi uraiannya lalu kirim.",
    "ada": "Laporan untuk periode itu sudah ada; inilah laporannya.",
    "disimpan": "Uraian laporan telah disimpan.",
    "terkirim": "Laporan telah disampaikan.",
    "konsolidasi_terkirim": "Konsolidasi telah dikirim ke Kemendagri.",
}


# -- periods --------------------------------------------------------------------------------

def today() -> Any:
    return local_date(datetime.now(UTC))


def period_label(code: str) -> str:
    try:
        p = Period.parse(code)
    except ValueError:
        return code
    if p.half is None:
        return f"Tahun {p.year}"
    return f"Semester {'I' if p.half == 1 else 'II'} {p.year}"


def latest_ended_semester() -> Period:
    """The most recent semester that is over: the one a report is due for now."""
    current = Period.semester_of(today())
    return Period(current.year, 1) if current.half == 2 else Period(current.year - 1, 2)


def period_choices(years: int = 5) -> list[tuple[str, str]]:
    """Periods that have begun, newest first: semesters and years of the last few years."""
    now = today()
    out: list[tuple[str, str]] = []
    for year in range(now.year, now.year - years, -1):
        for p in (Period(year, 2), Period(year), Period(year, 1)):
            if p.start <= now:
                out.append((str(p), period_label(str(p))))
    return out


def _check_period(period: str) -> str:
    if not PERIOD.match(period or ""):
        raise NotFoundException()
    return period


def _check_province(province: str) -> str:
    if not PROVINCE.match(province or ""):
        raise NotFoundException()
    return province


def _format(fmt: str | None) -> str:
    if fmt not in FORMATS:
        raise NotFoundException()
    return fmt


# -- downloads ------------------------------------------------------------------------------

async def _download(state: State, user: User, path: str, params: dict[str, Any]) -> Response[bytes]:
    """The service's document as it sent it: its bytes, content type and file name."""
    answer = await api(state).request("reporting", "GET", path, user.token, params=params, raw=True,
                                      headers={"Accept": "*/*"})
    media_type = answer.headers.get("content-type", "application/octet-stream").partition(";")[0].strip()
    headers = {"Cache-Control": "no-store"}
    if disposition := answer.headers.get("content-disposition"):
        headers["Content-Disposition"] = disposition
    return Response(content=answer.content, media_type=media_type, headers=headers)


def _downloads(base: str, **params: Any) -> list[dict[str, str]]:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return [{"format": fmt, "label": label, "href": f"{base}?{urlencode({'format': fmt, **kept})}"}
            for fmt, label in FORMATS.items()]


# -- /laporan -------------------------------------------------------------------------------

def _can_compose(user: User) -> bool:
    return user.has("operator") and not user.is_national


async def _list_page(request: Request[Any, Any, Any], state: State, user: User, *, periode: str | None,
                     status: str | None, daerah: str | None, kursor: str | None, form: dict[str, Any] | None = None,
                     errors: dict[str, str] | None = None, code: int = 200) -> Template:
    submitted = {"draf": False, "disampaikan": True}.get(status or "")
    params: dict[str, Any] = {"period": periode if periode and PERIOD.match(periode) else None,
                              "region": daerah if daerah and re.match(r"^\d{2}(\.\d{2})?$", daerah) else None,
                              "submitted": None if submitted is None else str(submitted).lower(),
                              "limit": PAGE_SIZE, "cursor": kursor}
    listing = await api(state).get("reporting", "/reports", user.token, **params)
    filters = {"periode": params["period"] or "", "status": status or "", "daerah": params["region"] or ""}
    next_href = None
    if listing.get("next_cursor"):
        next_href = "/laporan?" + urlencode({**{k: v for k, v in filters.items() if v},
                                             "kursor": listing["next_cursor"]})
    return page("laporan/daftar.html", user, request=request, status=code, items=listing.get("items") or [],
                filters=filters, next_href=next_href, first_href="/laporan" if kursor else None,
                periods=period_choices(), can_compose=_can_compose(user),
                form=form or {"period": str(latest_ended_semester())}, errors=errors or {},
                timeliness=TIMELINESS, status_labels=STATUS_LABELS, period_label=period_label)


@get("/laporan")
async def report_list(request: Request[Any, Any, Any], state: State, user: User, periode: str | None = None,
                      status: str | None = None, daerah: str | None = None, kursor: str | None = None) -> Template:
    return await _list_page(request, state, user, periode=periode, status=status, daerah=daerah, kursor=kursor)


@post("/laporan", status_code=303, media_type=MediaType.HTML)
async def report_compose(request: Request[Any, Any, Any], state: State, user: User) -> Any:
    data = await form_data(request)
    period = str(data.get("period") or "").strip()
    body = {"period": period, "narrative": str(data.get("narrative") or "").strip()}
    try:
        created = await api(state).post("reporting", "/reports", user.token, body,
                                        headers={"Idempotency-Key": str(uuid.uuid4())})
    except ApiError as exc:
        if exc.status == 409 and exc.problem.get("report_id"):
            return Redirect(f"/laporan/{exc.problem['report_id']}?pesan=ada", status_code=303)
        if exc.status in (400, 422):
            errors = form_errors(exc)
            if "period" not in errors:
                errors["period"] = exc.detail
            return await _list_page(request, state, user, periode=None, status=None, daerah=None, kursor=None,
                                    form=data, errors=errors, code=422)
        raise
    return Redirect(f"/laporan/{created['id']}?pesan=dibuat", status_code=303)


def _own_region(user: User, report: dict[str, Any]) -> bool:
    return user.has("operator") and user.tenant == report["region"]["code"]


async def _detail_page(request: Request[Any, Any, Any], state: State, user: User, report_id: UUID, *,
                       revisi: int | None = None, notice: str | None = None, text_form: dict[str, Any] | None = None,
                       send_form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                       stale: bool = False, code: int = 200) -> Template:
    # The region's own operator works on the next revision: the text as it stands and the
    # figures it would freeze now (`live`); each submitted revision stays one click away.
    # Everyone else reads the latest revision as it was submitted.
    live = user.has("operator") and revisi is None
    report = await api(state).get("reporting", f"/reports/{report_id}", user.token, revision=revisi,
                                  live="true" if live else None)
    own = _own_region(user, report)
    if live and not own and report["submissions"]:
        report = await api(state).get("reporting", f"/reports/{report_id}", user.token)
    provinsi = report["region"]["kind"] == "provinsi"
    base = f"/laporan/{report_id}/unduh"
    return page(
        "laporan/rinci.html", user, request=request, status=code, r=report, c=report["content"], own=own,
        send_label="Kirim ke Kemendagri" if provinsi else "Kirim ke provinsi",
        text_form=text_form or {k: report.get(k) or "" for k in ("narrative", "obstacles", "follow_up")},
        send_form=send_form or {}, errors=errors or {}, stale=stale, notice=notice,
        downloads=_downloads(base, revision=revisi), download_base=base, revisi=revisi,
        idempotency_key=str(uuid.uuid4()), timeliness=TIMELINESS, status_labels=STATUS_LABELS,
        severity=SEVERITY, period_label=period_label,
    )


@get("/laporan/{report_id:uuid}")
async def report_detail(request: Request[Any, Any, Any], state: State, user: User, report_id: UUID,
                        revisi: str | None = None, pesan: str | None = None) -> Template:
    revision = int(revisi) if revisi and revisi.isdigit() and 0 < int(revisi) < 10_000 else None
    return await _detail_page(request, state, user, report_id, revisi=revision, notice=NOTICES.get(pesan or ""))


@post("/laporan/{report_id:uuid}/uraian", status_code=303, media_type=MediaType.HTML)
async def report_edit(request: Request[Any, Any, Any], state: State, user: User, report_id: UUID) -> Any:
    data = await form_data(request)
    text = {k: str(data.get(k) or "").strip() for k in ("narrative", "obstacles", "follow_up")}
    body = {"narrative": text["narrative"], "obstacles": text["obstacles"] or None,
            "follow_up": text["follow_up"] or None}
    try:
        await api(state).request("reporting", "PATCH", f"/reports/{report_id}", user.token, json=body,
                                 headers={"If-Match": f'"{data.get("version") or 0}"'})
    except ApiError as exc:
        if exc.status in (409, 428):
            return await _detail_page(request, state, user, report_id, text_form=text, stale=True, code=409,
                                      errors={"_": "Laporan ini telah diubah orang lain sejak Anda membukanya. "
                                                   "Isian Anda masih ada di bawah; periksa lalu simpan lagi."})
        if exc.status in (400, 422):
            return await _detail_page(request, state, user, report_id, text_form=text, errors=form_errors(exc),
                                      code=422)
        raise
    return Redirect(f"/laporan/{report_id}?pesan=disimpan#uraian", status_code=303)


@post("/laporan/{report_id:uuid}/kirim", status_code=303, media_type=MediaType.HTML)
async def report_submit(request: Request[Any, Any, Any], state: State, user: User, report_id: UUID) -> Any:
    data = await form_data(request)
    reason = str(data.get("reason") or "").strip()
    try:
        await api(state).post(
            "reporting", f"/reports/{report_id}/submit", user.token, {"reason": reason} if reason else None,
            headers={"If-Match": f'"{data.get("version") or 0}"',
                     "Idempotency-Key": str(data.get("idempotency_key") or uuid.uuid4())[:100]})
    except ApiError as exc:
        if exc.status in (409, 428):
            return await _detail_page(request, state, user, report_id, send_form=data, stale=True, code=409,
                                      errors={"_": "Laporan ini telah diubah orang lain sejak Anda membukanya. "
                                                   "Periksa isinya lalu kirim lagi."})
        if exc.status == 422:
            errors = form_errors(exc)
            if exc.code == "narrative_required":
                errors["narrative"] = exc.detail
            if exc.code == "revision_reason_required":
                errors["reason"] = exc.detail
            return await _detail_page(request, state, user, report_id, send_form=data, errors=errors, code=422)
        raise
    return Redirect(f"/laporan/{report_id}?pesan=terkirim", status_code=303)


@get("/laporan/{report_id:uuid}/unduh")
async def report_download(state: State, user: User, report_id: UUID, format: str = "pdf",  # noqa: A002
                          revision: int | None = None, nomor: str | None = None) -> Response[bytes]:
    return await _download(state, user, f"/reports/{report_id}/export",
                           {"format": _format(format), "revision": revision, "nomor": (nomor or "").strip()})


# -- /konsolidasi ---------------------------------------------------------------------------

@get("/konsolidasi/{province:str}")
async def consolidation_latest(province: str) -> Redirect:
    return Redirect(f"/konsolidasi/{_check_province(province)}/{latest_ended_semester()}")


async def _consolidation_page(request: Request[Any, Any, Any], state: State, user: User, province: str,
                              period: str, *, form: dict[str, Any] | None = None,
                              errors: dict[str, str] | None = None, notice: str | None = None,
                              code: int = 200) -> Template:
    body = await api(state).get("reporting", f"/consolidations/{province}/{period}", user.token)
    can_submit = user.has("consolidator") and user.tenant == province
    base = f"/konsolidasi/{province}/{period}/unduh"
    return page(
        "konsolidasi/rinci.html", user, request=request, status=code, k=body, c=body["content"],
        period=period, province=province, can_submit=can_submit, form=form or {}, errors=errors or {},
        notice=notice, downloads=_downloads(base), download_base=base, idempotency_key=str(uuid.uuid4()),
        periods=period_choices(), timeliness=TIMELINESS, status_labels=STATUS_LABELS, period_label=period_label,
    )


@get("/konsolidasi/{province:str}/{period:str}", media_type=MediaType.HTML)
async def consolidation(request: Request[Any, Any, Any], state: State, user: User, province: str, period: str,
                        pesan: str | None = None, periode: str | None = None) -> Any:
    _check_province(province)
    if periode and PERIOD.match(periode) and periode != period:  # the period picker (a GET form)
        return Redirect(f"/konsolidasi/{province}/{periode}")
    return await _consolidation_page(request, state, user, province, _check_period(period),
                                     notice=NOTICES.get(pesan or ""))


@post("/konsolidasi/{province:str}/{period:str}/kirim", status_code=303, media_type=MediaType.HTML)
async def consolidation_submit(request: Request[Any, Any, Any], state: State, user: User, province: str,
                               period: str) -> Any:
    _check_province(province)
    _check_period(period)
    data = await form_data(request)
    body = clean({"narrative": str(data.get("narrative") or "").strip(),
                  "reason": str(data.get("reason") or "").strip()})
    headers = {"Idempotency-Key": str(data.get("idempotency_key") or uuid.uuid4())[:100]}
    if data.get("version"):
        headers["If-Match"] = f'"{data["version"]}"'
    try:
        await api(state).post("reporting", f"/consolidations/{province}/{period}/submit", user.token,
                              body or None, headers=headers)
    except ApiError as exc:
        if exc.status in (409, 428):
            return await _consolidation_page(
                request, state, user, province, period, form=data, code=409,
                errors={"_": "Konsolidasi ini telah dikirim ulang orang lain sejak Anda membukanya. "
                             "Isian Anda masih ada; periksa lalu kirim lagi."})
        if exc.status == 422:
            errors = form_errors(exc)
            if exc.code == "revision_reason_required":
                errors["reason"] = exc.detail
            return await _consolidation_page(request, state, user, province, period, form=data, errors=errors,
                                             code=422)
        raise
    return Redirect(f"/konsolidasi/{province}/{period}?pesan=konsolidasi_terkirim", status_code=303)


@get("/konsolidasi/{province:str}/{period:str}/unduh")
async def consolidation_download(state: State, user: User, province: str, period: str,
                                 format: str = "xlsx", nomor: str | None = None) -> Response[bytes]:  # noqa: A002
    return await _download(state, user, f"/consolidations/{_check_province(province)}/{_check_period(period)}/export",
                           {"format": _format(format), "nomor": (nomor or "").strip()})


# -- /nasional ------------------------------------------------------------------------------

@get("/nasional")
async def national_latest() -> Redirect:
    return Redirect(f"/nasional/{latest_ended_semester()}")


@get("/nasional/{period:str}", media_type=MediaType.HTML)
async def national(request: Request[Any, Any, Any], state: State, user: User, period: str,
                   periode: str | None = None) -> Any:
    if periode and PERIOD.match(periode) and periode != period:
        return Redirect(f"/nasional/{periode}")
    body = await api(state).get("reporting", f"/national/{_check_period(period)}", user.token)
    base = f"/nasional/{period}/unduh"
    return page("nasional/rinci.html", user, request=request, n=body, c=body["content"], period=period,
                downloads=_downloads(base), download_base=base, periods=period_choices(),
                timeliness=TIMELINESS, period_label=period_label)


@get("/nasional/{period:str}/unduh")
async def national_download(state: State, user: User, period: str, format: str = "xlsx",  # noqa: A002
                            nomor: str | None = None) -> Response[bytes]:
    return await _download(state, user, f"/national/{_check_period(period)}/export",
                           {"format": _format(format), "nomor": (nomor or "").strip()})


routes = [
    report_list, report_compose, report_detail, report_edit, report_submit, report_download,
    consolidation_latest, consolidation, consolidation_submit, consolidation_download,
    national_latest, national, national_download,
]
