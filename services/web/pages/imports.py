"""Impor: download the template, upload a filled-in copy, read the row-by-row report of a dry
run, then import it for real (`GET /imports/template.xlsx`, `POST /imports` of the registry).

Between the dry run and the import the uploaded file waits in a short-lived server-side file
(never in the cookie): named by a random id that the page carries in a hidden field, readable
only by the session that uploaded it (its owner is a hash of the session's bearer token), and
removed after the import or after `HOLD_SECONDS`."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.response import Template

from services.web.client import ApiError
from services.web.pages.common import api, page
from services.web.session import User
from shared.settings import Settings

HOLD_SECONDS = 30 * 60
FILE_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
ACCEPTED = (".xlsx", ".csv")
STATUS_LABELS = {"diimpor": "Diimpor", "sudah_ada": "Sudah ada (dilewati)", "ditolak": "Ditolak"}
KIND_LABELS = {"kesepakatan": "Kesepakatan Bersama", "pks": "PKS"}


def _hold_dir(state: State) -> Path:
    settings: Settings = state.settings
    return settings.data_path / "web-impor"


def _owner(request: Request[Any, Any, Any], user: User, *, create: bool = False) -> str | None:
    """Who may use a held file: this user in this very session (a random key kept in the
    session, so another sign-in of the same user, or another browser, cannot)."""
    key = (request.session or {}).get("impor")
    if not key:
        if not create:
            return None
        key = secrets.token_urlsafe(16)
        request.set_session({**(request.session or {}), "impor": key})
    return hashlib.sha256(f"{user.sub}|{user.tenant}|{key}".encode()).hexdigest()


def _sweep(directory: Path) -> None:
    """Remove files held longer than HOLD_SECONDS (abandoned dry runs)."""
    limit = time.time() - HOLD_SECONDS
    for path in directory.glob("*"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def _hold(state: State, owner: str, name: str, content: bytes) -> str:
    directory = _hold_dir(state)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _sweep(directory)
    file_id = secrets.token_urlsafe(24)
    (directory / f"{file_id}.bin").write_bytes(content)
    (directory / f"{file_id}.json").write_text(json.dumps({"owner": owner, "name": name}))
    return file_id


def _take(state: State, owner: str | None, file_id: str) -> tuple[str, bytes] | None:
    """The held file if it exists, is fresh, and belongs to this session."""
    if owner is None or not FILE_ID.match(file_id or ""):
        return None
    directory = _hold_dir(state)
    meta_path, data_path = directory / f"{file_id}.json", directory / f"{file_id}.bin"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("owner") != owner or data_path.stat().st_mtime < time.time() - HOLD_SECONDS:
            return None
        return str(meta.get("name") or "impor.xlsx"), data_path.read_bytes()
    except (OSError, ValueError):
        return None


def _drop(state: State, file_id: str) -> None:
    if FILE_ID.match(file_id or ""):
        for suffix in (".bin", ".json"):
            (_hold_dir(state) / f"{file_id}{suffix}").unlink(missing_ok=True)


async def _send(state: State, user: User, name: str, content: bytes, *, dry_run: bool) -> dict[str, Any]:
    media = "text/csv" if name.lower().endswith(".csv") else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return await api(state).request(
        "registry", "POST", "/imports", user.token,
        files={"file": (name, content, media)}, data={"dry_run": "true" if dry_run else "false"},
    )


def _page(request: Request[Any, Any, Any], user: User, *, status: int = 200, **context: Any) -> Template:
    context.setdefault("errors", {})
    context.setdefault("report", None)
    return page("impor/impor.html", user, request=request, status=status, status_labels=STATUS_LABELS,
                kind_labels=KIND_LABELS, **context)


@get("/impor")
async def import_page(request: Request[Any, Any, Any], user: User) -> Template:
    return _page(request, user)


@get("/impor/templat.xlsx")
async def import_template(state: State, user: User) -> Response[bytes]:
    answer = await api(state).request("registry", "GET", "/imports/template.xlsx", user.token, raw=True)
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers={
        "Content-Disposition": answer.headers.get("content-disposition")
        or 'attachment; filename="templat-impor-kerja-sama.xlsx"',
        "Cache-Control": "private, no-store",
    })


@post("/impor/uji", status_code=200)
async def import_dry_run(request: Request[Any, Any, Any], state: State, user: User) -> Template:
    """Check the uploaded file (dry run: nothing stored in the registry) and show the report."""
    form = await request.form()
    upload = form.get("berkas")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, user, status=422, errors={"_": "Pilih berkas yang akan diimpor.",
                                                        "berkas": "Pilih berkas XLSX atau CSV dari templat."})
    name = Path(upload.filename).name[:200]
    if not name.lower().endswith(ACCEPTED):
        return _page(request, user, status=422, errors={"_": "Berkas harus XLSX atau CSV.",
                                                        "berkas": "Hanya berkas .xlsx atau .csv dari templat."})
    content = await upload.read()
    try:
        report = await _send(state, user, name, content, dry_run=True)
    except ApiError as exc:
        if exc.status in (401, 503):
            raise
        return _page(request, user, status=exc.status if exc.status in (403, 413, 422) else 422,
                     errors={"_": exc.detail, "berkas": exc.detail})
    file_id = None
    if report["summary"]["imported"]:
        owner = _owner(request, user, create=True)
        assert owner is not None  # noqa: S101 - create=True makes one
        file_id = await anyio.to_thread.run_sync(_hold, state, owner, name, content)
    return _page(request, user, report=report, file_id=file_id, file_name=name)


@post("/impor/simpan", status_code=200)
async def import_commit(request: Request[Any, Any, Any], state: State, user: User) -> Template:
    """Import the file checked in the dry run (held server-side under the id the form carries)."""
    form = await request.form()
    file_id = str(form.get("berkas_id") or "")
    held = await anyio.to_thread.run_sync(_take, state, _owner(request, user), file_id)
    if held is None:
        return _page(request, user, status=410, errors={
            "_": "Berkas uji coba sudah tidak tersedia (kedaluwarsa atau dari sesi lain). Unggah berkasnya lagi.",
        })
    name, content = held
    try:
        report = await _send(state, user, name, content, dry_run=False)
    except ApiError as exc:
        if exc.status in (401, 503):
            raise
        return _page(request, user, status=exc.status if exc.status in (403, 413, 422) else 422,
                     errors={"_": exc.detail})
    await anyio.to_thread.run_sync(_drop, state, file_id)
    return _page(request, user, report=report, file_id=None, file_name=name, done=True)


routes = [import_page, import_template, import_dry_run, import_commit]
