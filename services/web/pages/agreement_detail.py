"""One cooperation's page (`/kerja-sama/{id}`): parties, documents in force, PKS, the history
in words with its corrections, the next allowed steps as buttons, attachments, monitoring, the
page as it was on a chosen day and the integrity of its history; and each step's form
(`/kerja-sama/{id}/aksi/{action}`), which sends the version it was opened at (`If-Match`)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from services.web.client import ApiError
from services.web.events import (
    ACTIONS,
    ATTACHMENT_KINDS,
    FACTS,
    GROUNDS,
    STEPS,
    actor_words,
    document_name,
    party_name,
    sentence,
    timeline,
)
from services.web.format import typed_rupiah
from services.web.pages.common import api, as_list, form_errors, page
from services.web.session import User
from shared.periods import WIB

ON_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_FACTS = {"drafted_on", "sent_on", "responded_on", "requested_on", "decided_on", "signed_on", "started_on",
              "terminated_on", "cancelled_on", "valid_from", "valid_until", "start_on", "end_on", "new_end"}
CAPACITIES = [("kepala_daerah", "Kepala daerah"), ("pejabat_kuasa", "Pejabat dengan surat kuasa"),
              ("perwakilan_mitra", "Perwakilan mitra")]
YES_NO = [("true", "Ya"), ("false", "Tidak")]
AS_FAMILY = "Sama dengan kerja sama"  # the blank choice: the value recorded for the cooperation
MAX_SIGNATORY_ROWS = 20


def today() -> str:
    return datetime.now(WIB).date().isoformat()


def _on(value: str | None) -> str | None:
    """A valid `YYYY-MM-DD` or nothing (a malformed day shows the page as now)."""
    if not value or not ON_PATTERN.match(value):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


def _path(agreement_id: UUID) -> str:
    return f"/agreements/{agreement_id}"


async def _load(state: State, user: User, agreement_id: UUID, on: str | None = None) -> dict[str, Any]:
    """The agreement (as it was on `on`), its history, its verification and the allowed steps."""
    client = api(state)
    base = _path(agreement_id)
    agreement: Any
    history: Any
    verify: Any
    allowed: Any
    agreement, history, verify, allowed = await asyncio.gather(
        client.get("registry", base, user.token, on=on),
        client.get("registry", f"{base}/history", user.token),
        client.get("registry", f"{base}/verify", user.token),
        client.get("registry", f"{base}/actions", user.token),
        return_exceptions=True,
    )
    for result in (agreement, history, allowed):
        if isinstance(result, BaseException):
            raise result
    if isinstance(verify, BaseException):
        verify = None
    return {"agreement": agreement, "history": history, "verify": verify,
            "allowed": {a["action"]: a for a in allowed["actions"]}, "head_version": allowed["version"]}


# -- the page ------------------------------------------------------------------------------------

@get("/kerja-sama/{agreement_id:uuid}")
async def detail(request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID,
                 on: str | None = None, berhasil: str | None = None) -> Template:
    day = _on(on)
    not_yet = None
    try:
        loaded = await _load(state, user, agreement_id, day)
    except ApiError as exc:
        if day is None or exc.status != 404 or exc.code != "not_yet_in_force":
            raise
        # Before the cooperation was prepared: stay on its page (as it is now), say so in words.
        not_yet, day = day, None
        loaded = await _load(state, user, agreement_id)
    entries = timeline(loaded["history"])
    if day is not None:  # the history up to that day's state: the steps it includes
        shown = loaded["agreement"]["version"]
        entries = [e for e in entries if (e["version"] or 0) <= shown]
    return page("kerja_sama/detail.html", user, request=request, a=loaded["agreement"], entries=entries,
                verify=loaded["verify"], allowed=loaded["allowed"] if day is None else {}, actions=ACTIONS,
                on=day, on_invalid=bool(on) and day is None, done=ACTIONS.get(berhasil or ""),
                kinds=ATTACHMENT_KINDS, document_name=document_name, party_name=party_name, today=today(),
                head_version=loaded["head_version"], not_yet=not_yet)


@get("/kerja-sama/{agreement_id:uuid}/pemantauan")
async def monitoring(request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID,
                     on: str | None = None) -> Template:
    """Alerts, progress reports and evaluations (the monitoring service), loaded by htmx."""
    day = _on(on)
    client = api(state)
    status: Any
    evaluations: Any
    status, evaluations = await asyncio.gather(
        client.get("monitoring", f"{_path(agreement_id)}/status", user.token, on=day),
        client.get("monitoring", f"{_path(agreement_id)}/evaluations", user.token, on=day),
        return_exceptions=True,
    )
    problem = None
    code = 200
    if isinstance(status, ApiError):
        if status.status == 401:
            raise status
        problem = status.detail
        if status.status == 404 and status.code != "not_yet_in_force" and not await _visible(state, user, agreement_id):
            code = 404  # not this tenant's (or no such) cooperation: not merely not yet monitored
        status = None
    elif isinstance(status, BaseException):
        raise status
    if isinstance(evaluations, BaseException):
        evaluations = {"items": []}
    return page("kerja_sama/_pemantauan.html", user, request=request, status=code, health=status, problem=problem,
                evaluations=(evaluations or {}).get("items", []), on=day)


async def _visible(state: State, user: User, agreement_id: UUID) -> bool:
    """Whether the registry shows the cooperation to the user (the monitoring service may not
    have seen a new one yet)."""
    try:
        await api(state).get("registry", _path(agreement_id), user.token)
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


@get("/kerja-sama/{agreement_id:uuid}/dokumen/{sha256:str}")
async def download(state: State, user: User, agreement_id: UUID, sha256: str) -> Response[bytes]:
    """An attachment, through the web app with the user's own token: the service's bytes,
    content type and file name."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise NotFoundException()
    answer = await api(state).request("registry", "GET", f"{_path(agreement_id)}/documents/{sha256}", user.token,
                                      headers={"Accept": "*/*"}, raw=True)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if disposition := answer.headers.get("content-disposition"):
        headers["Content-Disposition"] = disposition
    return Response(answer.content, media_type=answer.headers.get("content-type", "application/octet-stream"),
                    headers=headers)


# -- the forms -----------------------------------------------------------------------------------

def _field(name: str, label: str, kind: str = "text", *, required: bool = False, options: list | None = None,
           hint: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "required": required, "options": options or [],
            "hint": hint, **extra}


def _documents(a: dict[str, Any], allowed: dict[str, Any] | None) -> list[tuple[str, str]]:
    docs = (allowed or {}).get("documents") or ["framework", *[p["id"] for p in a.get("pks") or []]]
    out = []
    for doc in docs:
        pks = next((p for p in a.get("pks") or [] if p["id"] == doc), None)
        out.append((doc, f"{document_name(doc)}: {pks['title']}" if pks else document_name(doc).capitalize()))
    return out


def _signatory_rows(a: dict[str, Any], parties: list[str]) -> list[dict[str, Any]]:
    rows = []
    for party in parties:
        region: dict[str, Any] = next((p for p in a["parties"] if (p.get("region") or p.get("name")) == party), {})
        capacity = "kepala_daerah" if region.get("kind") == "region" else "perwakilan_mitra"
        rows.append({"party": party, "label": party_name(party), "capacity": capacity})
    return rows


def _party_keys(a: dict[str, Any]) -> list[str]:
    return [p.get("region") or p.get("name") for p in a["parties"]]


def fields_for(action: str, a: dict[str, Any], allowed: dict[str, Any] | None, user: User,
               step: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The form of one action: the API's request Struct (services/registry/api/schemas.py)."""
    ref = _field("reference", "Nomor surat", required=True)
    note = _field("note", "Catatan", "textarea")
    others = [p["name"] for p in a["parties"] if p["kind"] == "other"]
    if action == "submit-offer":
        fields = [ref, _field("sent_on", "Tanggal surat penawaran", "date", required=True)]
        if others:
            fields.append(_field("direction", "Arah penawaran", "select", required=True,
                                 options=[("sent", "Dikirim kepada mitra"),
                                          ("received", "Diterima dari pihak ketiga")]))
        return [*fields, note]
    if action == "record-offer-response":
        fields = [_field("decision", "Jawaban", "select", required=True,
                         options=[("accepted", "Menerima"), ("rejected", "Menolak")]),
                  _field("reference", "Nomor surat jawaban", required=True),
                  _field("responded_on", "Tanggal surat jawaban", "date", required=True)]
        if others and user.tenant == a["initiator"]:
            fields.append(_field("party", "Mitra yang menjawab", "select",
                                 required=user.tenant not in _party_keys(a)[1:],
                                 options=[(o, o) for o in others]))
        return [*fields, note]
    kinds = [(k, "DPRD" if k == "dprd" else "Pemerintah pusat") for k in (allowed or {}).get("kinds") or ["dprd"]]
    if action == "request-approval":
        return [_field("kind", "Persetujuan dari", "select", required=True, options=kinds),
                _field("document", "Naskah", "select", required=True, options=_documents(a, allowed)),
                _field("reference", "Nomor surat permohonan", required=True),
                _field("requested_on", "Tanggal permohonan", "date", required=True)]
    if action == "record-approval":
        return [_field("kind", "Persetujuan dari", "select", required=True, options=kinds),
                _field("document", "Naskah", "select", required=True, options=_documents(a, allowed)),
                _field("decision", "Keputusan", "select", required=True,
                       options=[("approved", "Menyetujui"), ("rejected", "Menolak")]),
                _field("reference", "Nomor keputusan", required=True),
                _field("decided_on", "Tanggal keputusan", "date", required=True), note]
    if action == "sign-framework":
        types = {"KSDPL": [("mou", "MoU"), ("loi", "LoI")], "KSDLL": [("mou", "MoU"), ("loi", "LoI")]}.get(a["form"])
        fields = [_field("number", "Nomor naskah", required=True),
                  _field("signed_on", "Tanggal penandatanganan", "date", required=True),
                  _field("valid_from", "Berlaku mulai", "date", required=True),
                  _field("valid_until", "Berlaku sampai", "date", required=True)]
        if types:
            fields.append(_field("document_type", "Jenis naskah", "select", required=True, options=types))
        fields.append(_field("signatories", "Penandatangan", "signatories", rows=_signatory_rows(a, _party_keys(a)),
                             hint="Setiap pihak menandatangani; daerah oleh kepala daerahnya."))
        if a["form"] == "SINERGI":
            fields.append(_field("rencana_kerja", "Rencana kerja", "textarea", required=True,
                                 hint="Satu kegiatan per baris."))
        return fields
    if action == "start-work-plan":
        return [_field("started_on", "Tanggal mulai pelaksanaan", "date", required=True), note]
    if action == "draft-pks":
        return [_field("title", "Judul PKS", required=True, attrs={"minlength": "3"}),
                _field("object", "Objek PKS", "textarea", required=True),
                _field("parties", "Para pihak PKS", "checkboxes", options=[(k, party_name(k)) for k in _party_keys(a)],
                       hint="Kosongkan untuk semua pihak kerja sama."),
                _field("value_idr", "Nilai (rupiah)", "number", attrs={"min": "0", "step": "1"}),
                _field("burdens_community", "Membebani masyarakat dan daerah?", "select", options=YES_NO,
                       blank=AS_FAMILY),
                _field("budgeted_in_apbd", "Sudah dianggarkan dalam APBD?", "select", options=YES_NO, blank=AS_FAMILY,
                       hint="Bila PKS membebani masyarakat dan daerah atau belum dianggarkan, PKS memerlukan "
                            "persetujuan DPRD sebelum ditandatangani."),
                _field("drafted_on", "Tanggal penyusunan", "date", required=True)]
    if action == "sign-pks":
        docs = (allowed or {}).get("documents") or []
        pks = [p for p in a.get("pks") or [] if p["id"] in docs]
        parties = pks[0]["parties"] if len(pks) == 1 else _party_keys(a)
        return [_field("pks", "PKS", "select", required=True, options=_documents(a, allowed)),
                _field("number", "Nomor PKS", required=True),
                _field("signed_on", "Tanggal penandatanganan", "date", required=True),
                _field("start_on", "Mulai berlaku", "date", required=True),
                _field("end_on", "Akhir berlaku", "date", required=True),
                _field("signatories", "Penandatangan", "signatories", rows=_signatory_rows(a, parties),
                       hint="Kepala daerah, atau pejabat dengan nomor surat kuasanya."),
                _field("exception_reference", "Dasar pengecualian jangka waktu",
                       hint="Isi hanya bila peraturan sektor membolehkan jangka lebih lama.")]
    if action == "amend":
        return [_field("document", "Naskah", "select", required=True, options=_documents(a, allowed)),
                _field("reference", "Nomor addendum", required=True),
                _field("signed_on", "Tanggal penandatanganan", "date", required=True),
                _field("changes", "Perubahan yang dimuat", "textarea", required=True),
                _field("value_idr", "Nilai baru (rupiah)", "number", attrs={"min": "0", "step": "1"})]
    if action == "extend":
        return [_field("document", "Naskah", "select", required=True, options=_documents(a, allowed)),
                _field("reference", "Nomor perpanjangan", required=True),
                _field("signed_on", "Tanggal penandatanganan", "date", required=True),
                _field("new_end", "Akhir berlaku yang baru", "date", required=True),
                _field("exception_reference", "Dasar pengecualian jangka waktu")]
    if action == "terminate":
        return [_field("document", "Naskah", "select", required=True, options=_documents(a, allowed)),
                _field("ground", "Dasar pengakhiran", "select", required=True, options=list(GROUNDS.items())),
                _field("reference", "Nomor naskah pengakhiran", required=True),
                _field("terminated_on", "Tanggal pengakhiran", "date", required=True), note]
    if action == "cancel":
        fields = [_field("reason", "Alasan pembatalan", "textarea", required=True)]
        if (allowed or {}).get("documents"):
            fields.append(_field("document", "PKS yang dibatalkan", "select", required=True,
                                 options=_documents(a, allowed)))
        return [*fields, _field("reference", "Nomor surat (bila ada)"),
                _field("cancelled_on", "Tanggal pembatalan", "date", required=True)]
    if action == "attach-document":
        kinds_allowed = [(k, v) for k, v in ATTACHMENT_KINDS.items()
                         if not (allowed or {}).get("attachment_kind") or k == (allowed or {})["attachment_kind"]]
        docs = [("", "Kerja sama (umum)"), *_documents(a, None)]
        return [_field("file", "Berkas (PDF atau gambar)", "file", required=True,
                       attrs={"accept": "application/pdf,image/png,image/jpeg,image/webp,image/tiff"}),
                _field("kind", "Jenis dokumen", "select", required=True, options=kinds_allowed),
                _field("name", "Nama dokumen", hint="Kosongkan untuk memakai nama berkas."),
                _field("document", "Dokumen terkait", "select", options=docs)]
    if action == "correct":
        facts = sorted((step or {}).get("facts") or ())
        fields = []
        for fact in facts:
            if fact == "signatories":
                continue  # corrected through the API; the form corrects dates, numbers and values
            kind = "date" if fact in DATE_FACTS else "number" if fact == "value_idr" else "text"
            fields.append(_field(f"changes.{fact}", FACTS.get(fact, fact), kind))
        return [*fields, _field("reason", "Alasan ralat", "textarea", required=True)]
    return []


def _defaults(action: str, fields: list[dict[str, Any]], step: dict[str, Any] | None) -> dict[str, Any]:
    """Legal dates default to today (WIB); a correction starts from the facts as recorded now."""
    form: dict[str, Any] = {}
    for f in fields:
        if f["kind"] == "date" and not f["name"].startswith("changes."):
            form[f["name"]] = today()
        if f["kind"] == "select" and f["required"] and f["options"]:
            form[f["name"]] = f["options"][0][0]
        if f["kind"] == "signatories":
            for i, row in enumerate(f["rows"]):
                form[f"signatories[{i}].capacity"] = row["capacity"]
    if step is not None:
        for name, value in (step.get("facts") or {}).items():
            form[f"changes.{name}"] = "" if value is None else value
    return form


def _step_facts(history: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The recorded step at `version` (or the step a correction there corrects) with its facts
    as they stand after every correction so far."""
    by_version = {e["version"]: e for e in history}
    event = by_version.get(version)
    if event is None:
        return None
    if event.get("type") == "Corrected":
        event = by_version.get((event.get("data") or {}).get("step_version"))
        if event is None:
            return None
    # The facts a correction may change: the registry names them on each step of the history.
    facts = {k: (event.get("data") or {}).get(k) for k in event.get("correctable_facts") or ()}
    for e in history:
        d = e.get("data") or {}
        if e.get("type") == "Corrected" and d.get("step_version") == event["version"]:
            facts.update({k: v for k, v in (d.get("changes") or {}).items() if k in facts})
    return {"version": event["version"], "type": event["type"], "name": STEPS.get(event["type"], event["type"]),
            "facts": facts}


def body_for(action: str, fields: list[dict[str, Any]], form: dict[str, Any],
             step: dict[str, Any] | None) -> tuple[dict[str, Any], list[int]]:
    """The JSON the API takes, from what the user typed; and which signatory rows were sent
    (the API's `signatories[k]` is the form's row `rows[k]`)."""
    body: dict[str, Any] = {}
    rows_sent: list[int] = []
    for f in fields:
        name, kind = f["name"], f["kind"]
        if kind == "signatories":
            signatories = []
            for i, row in enumerate(f["rows"][:MAX_SIGNATORY_ROWS]):
                entry = {key: str(form.get(f"signatories[{i}].{key}") or "").strip()
                         for key in ("name", "position", "capacity", "surat_kuasa")}
                if not entry["name"] and not entry["position"]:
                    continue
                signatory = {"party": row["party"], **{k: v for k, v in entry.items() if v}}
                signatories.append(signatory)
                rows_sent.append(i)
            body["signatories"] = signatories
            continue
        if name.startswith("changes.") or kind == "file":
            continue
        value = form.get(name)
        if kind == "checkboxes":
            if as_list(value):
                body[name] = as_list(value)
            continue
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if kind == "number":
            body[name] = typed_rupiah(value)
        elif name in ("burdens_community", "budgeted_in_apbd"):
            body[name] = value == "true"
        elif name == "rencana_kerja":
            body[name] = [line.strip() for line in str(value).splitlines() if line.strip()]
        else:
            body[name] = value
    if action == "correct" and step is not None:
        changes = {}
        for fact, before in step["facts"].items():
            key = f"changes.{fact}"
            if key not in form:
                continue
            typed = str(form.get(key) or "").strip()
            if typed == ("" if before is None else str(before)) or not typed:
                continue
            changes[fact] = typed_rupiah(typed) if fact == "value_idr" else typed
        body = {"version": step["version"], "changes": changes, "reason": body.get("reason", "")}
    return body, rows_sent


# Rule codes without a field name: the field the rule judged (shown next to it).
DATE_OF = {"submit-offer": "sent_on", "record-offer-response": "responded_on", "request-approval": "requested_on",
           "record-approval": "decided_on", "sign-framework": "signed_on", "start-work-plan": "started_on",
           "draft-pks": "drafted_on", "sign-pks": "signed_on", "amend": "signed_on", "extend": "signed_on",
           "terminate": "terminated_on", "cancel": "cancelled_on"}
CODE_FIELDS = {"reference_required": "reference", "invalid_period": "valid_until", "extension_not_later": "new_end",
               "rencana_kerja_required": "rencana_kerja", "changes_required": "changes", "reason_required": "reason",
               "signatory_not_authorized": "signatories", "signatory_missing": "signatories",
               "surat_kuasa_required": "signatories", "party_required": "party", "unknown_party": "parties",
               "pks_parties_insufficient": "parties", "unknown_document_kind": "kind", "name_required": "name"}


def _errors(action: str, exc: ApiError, rows_sent: list[int]) -> dict[str, str]:
    errors = form_errors(exc)
    out: dict[str, str] = {}
    for field, message in errors.items():
        match = re.match(r"^signatories\[(\d+)\](.*)$", field)
        if match and int(match.group(1)) < len(rows_sent):
            field = f"signatories[{rows_sent[int(match.group(1))]}]{match.group(2)}"
        if action == "correct" and field.startswith("changes.") is False and field not in ("reason", "_", "version"):
            field = f"changes.{field}" if not field.startswith("changes") else field
        out[field] = message
    code = exc.code
    target = None
    if code in ("date_in_future", "date_too_early", "date_out_of_order", "date_before_request",
                "signed_before_approval"):
        target = DATE_OF.get(action)
    elif code in ("duration_exceeds_limit", "pks_outside_framework_validity"):
        target = "new_end" if action == "extend" else "end_on"
    elif code in CODE_FIELDS:
        target = CODE_FIELDS[code]
    if action == "correct" and target and target not in ("reason",):
        target = None  # a correction's rule speaks of the corrected step: shown above the form
    if target and target not in out:
        out[target] = exc.detail
    return out


async def _form_context(state: State, user: User, agreement_id: UUID, action: str,
                        versi: int | None) -> dict[str, Any]:
    loaded = await _load(state, user, agreement_id)
    step = _step_facts(loaded["history"], versi) if action == "correct" and versi else None
    allowed = loaded["allowed"].get(action)
    fields = fields_for(action, loaded["agreement"], allowed, user, step) if allowed else []
    return {**loaded, "action": action, "allowed_action": allowed, "fields": fields, "step": step}


SIGNATORY_LABELS = {"name": "Nama penandatangan", "position": "Jabatan", "capacity": "Kapasitas",
                    "surat_kuasa": "Nomor surat kuasa", "party": "Pihak"}


def field_labels(fields: list[dict[str, Any]]) -> dict[str, str]:
    """What the error summary calls each field the API may name: the form's own labels."""
    labels = {**FACTS, "version": "Versi", "changes": "Perubahan", "file": "Berkas"}
    for f in fields:
        labels[f["name"]] = f["label"]
        if f["kind"] == "signatories":
            for i, row in enumerate(f["rows"]):
                labels[f"signatories[{i}]"] = f"Penandatangan {row['label']}"
                labels.update({f"signatories[{i}].{key}": f"{text} ({row['label']})"
                               for key, text in SIGNATORY_LABELS.items()})
    return labels


def _render(request: Request[Any, Any, Any], user: User, ctx: dict[str, Any], form: dict[str, Any],
            errors: dict[str, str], *, version: int, status: int = 200,
            conflict: dict[str, Any] | None = None) -> Template:
    return page("kerja_sama/aksi.html", user, request=request, status=status, a=ctx["agreement"], action=ctx["action"],
                title=ACTIONS.get(ctx["action"], ctx["action"]), fields=ctx["fields"], allowed=ctx["allowed_action"],
                form=form, errors=errors, version=version, step=ctx["step"], conflict=conflict,
                field_labels=field_labels(ctx["fields"]),
                history=ctx["history"], multipart=ctx["action"] == "attach-document", capacities=CAPACITIES)


@get("/kerja-sama/{agreement_id:uuid}/aksi/{action:str}")
async def action_form(request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID, action: str,
                      versi: int | None = None) -> Template:
    if action not in ACTIONS:
        raise NotFoundException()
    ctx = await _form_context(state, user, agreement_id, action, versi)
    if action == "correct" and ctx["allowed_action"] and ctx["step"] is None:
        raise NotFoundException()
    status = 200 if ctx["allowed_action"] else 403
    return _render(request, user, ctx, _defaults(action, ctx["fields"], ctx["step"]), {},
                   version=ctx["agreement"]["version"], status=status)


@post("/kerja-sama/{agreement_id:uuid}/aksi/{action:str}")
async def action_submit(
    request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID, action: str,
) -> Template | Redirect:
    """Send the step with the version the form was opened at; a 409 shows the new state and keeps
    what the user typed; a 422 shows the problem next to its field."""
    if action not in ACTIONS:
        raise NotFoundException()
    form: dict[str, Any] = {}
    raw = await request.form()
    upload: UploadFile | None = None
    for key in raw:
        if key == "_csrf_token":
            continue
        values = raw.getall(key)
        if key == "file":
            upload = next((v for v in values if isinstance(v, UploadFile)), None)
            continue
        form[key] = values if len(values) > 1 else values[0]
    try:
        version = int(str(form.pop("_versi", "")))
    except ValueError:
        version = 0
    versi = int(form["_langkah"]) if str(form.get("_langkah", "")).isdigit() else None
    form.pop("_langkah", None)
    ctx = await _form_context(state, user, agreement_id, action, versi)
    if not ctx["allowed_action"] and ctx["agreement"]["version"] == version:
        return _render(request, user, ctx, form, {"_": "Langkah ini tidak tersedia bagi Anda pada tahap ini."},
                       version=version, status=403)
    # Fields as the form was opened (a 409 may change what is allowed; keep the user's form).
    fields = ctx["fields"] or fields_for(action, ctx["agreement"], None, user, ctx["step"])
    ctx["fields"] = fields
    body, rows_sent = body_for(action, fields, form, ctx["step"])
    headers = {"If-Match": f'"{version}"'}
    path = f"{_path(agreement_id)}/actions/{action}"
    try:
        if action == "attach-document":
            if upload is None or not upload.filename:
                return _render(request, user, ctx, form, {"file": "Pilih berkas yang akan dilampirkan."},
                               version=version, status=422)
            content = await upload.read()
            files = {"file": (upload.filename, content, upload.content_type or "application/octet-stream")}
            await api(state).request("registry", "POST", path, user.token, files=files,
                                     data={k: v for k, v in body.items() if v not in (None, "")}, headers=headers)
        else:
            await api(state).post("registry", path, user.token, body, headers=headers)
    except ApiError as exc:
        if exc.status == 401 or exc.status == 404:
            raise
        if exc.status in (409, 428):
            # The state now (it may have changed again since the form was loaded above).
            fresh = await _form_context(state, user, agreement_id, action, versi)
            fresh["fields"] = fresh["fields"] or fields
            new = fresh["agreement"]["version"]
            since = [{"version": e.get("version"), "sentence": sentence(e), "who": actor_words(e.get("actor")),
                      "when": e.get("recorded_at")} for e in fresh["history"] if (e.get("version") or 0) > version]
            return _render(request, user, fresh, form, {}, version=new, status=409,
                           conflict={"from": version, "to": new, "since": since,
                                     "still_allowed": bool(fresh["allowed_action"])})
        return _render(request, user, ctx, form, _errors(action, exc, rows_sent), version=version,
                       status=exc.status if exc.status in (400, 403, 413, 415, 422) else 422)
    return Redirect(f"/kerja-sama/{agreement_id}?berhasil={action}#linimasa", status_code=303)


routes = [detail, monitoring, download, action_form, action_submit]
