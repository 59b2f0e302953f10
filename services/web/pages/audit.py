"""Audit: an agreement's recorded history (every event, who, when, what, with its hash chain),
the verification verdict in words, and the export bundle (`ksd audit verify FILE` checks it
offline), all through the registry's audit API with the signed-in user's token."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.response import Template

from services.web.events import actor_words, sentence
from services.web.format import waktu
from services.web.pages.common import api, page
from services.web.session import User

# Who may download the bundle (the registry's EXPORT_ROLES); others see the history only.
EXPORT_ROLES = ("auditor", "monitor")

EVENT_NAMES = {
    "Started": "Kerja sama dimulai (persiapan)",
    "OfferSubmitted": "Surat penawaran dicatat",
    "OfferResponseRecorded": "Jawaban atas penawaran dicatat",
    "ApprovalRequested": "Permohonan persetujuan diajukan",
    "ApprovalRecorded": "Persetujuan dicatat",
    "FrameworkSigned": "Kesepakatan Bersama ditandatangani",
    "WorkPlanStarted": "Rencana kerja dimulai",
    "PksDrafted": "PKS disusun",
    "PksSigned": "PKS ditandatangani",
    "Amended": "Adendum dicatat",
    "Extended": "Perpanjangan dicatat",
    "Terminated": "Pengakhiran dicatat",
    "Cancelled": "Pembatalan dicatat",
    "DocumentAttached": "Dokumen dilampirkan",
    "Corrected": "Ralat dicatat",
}


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """The verification answer in words: a headline, details, and whether it is intact."""
    events = int(result.get("events") or 0)
    details: list[str] = []
    log = result.get("log") or {}
    if result.get("valid"):
        headline = f"Riwayat utuh: {events} peristiwa, tidak ada yang diubah."
        details.append(_anchored_words(log, events))
    else:
        reason = (result.get("reason_text") or {}).get("id") or "Rantai hash tidak cocok."
        headline = f"Riwayat TIDAK utuh: {reason}"
        if result.get("first_invalid_version"):
            details.append(f"Masalah pertama pada versi {result['first_invalid_version']} dari {events} peristiwa.")
        else:
            details.append(f"Jumlah peristiwa yang tersimpan: {events}.")
    return {"valid": bool(result.get("valid")), "headline": headline, "details": details,
            "head_hash": result.get("head_hash"), "log": log}


def _anchored_words(log: dict[str, Any], events: int) -> str:
    """How much of the history a signed tree head of the transparency log already vouches for."""
    if log.get("tree_size"):
        anchored = log.get("anchored_version")
        size, signed = log["tree_size"], log.get("signed_at")
        when = f", ditandatangani {waktu(signed)}" if signed else ""
        if anchored is None:
            return (f"Belum tercakup kepala log bertanda tangan terbaru (ukuran {size}{when}); "
                    "kepala berikutnya akan mencakupnya dalam beberapa detik.")
        if int(anchored) < events:
            return (f"Versi 1–{anchored} terbukti tercatat di log transparansi (kepala log ukuran {size}{when}); "
                    f"{events - int(anchored)} peristiwa sesudahnya menunggu kepala berikutnya.")
        return f"Seluruh {events} peristiwa terbukti tercatat di log transparansi (kepala log ukuran {size}{when})."
    return "Belum ada kepala log bertanda tangan untuk dicocokkan."


async def _load(state: State, user: User, agreement_id: UUID) -> dict[str, Any]:
    client = api(state)
    path = f"/agreements/{agreement_id}"
    agreement, history, checked = await asyncio.gather(
        client.get("registry", path, user.token),
        client.get("registry", f"{path}/history", user.token),
        client.get("registry", f"{path}/verify", user.token),
    )
    events = [
        {**e, "name": EVENT_NAMES.get(e.get("type") or "", e.get("type") or "Peristiwa tidak terbaca"),
         "sentence": sentence(e), "who": actor_words(e.get("actor"))}
        for e in history
    ]
    return {"agreement": agreement, "events": events, "verdict": verdict(checked),
            "can_export": user.has(*EXPORT_ROLES)}


@get("/audit")
async def audit_index(request: Request[Any, Any, Any], state: State, user: User, q: str | None = None) -> Template:
    """Find an agreement to audit, by words of its title."""
    found = None
    if q:
        found = (await api(state).get("registry", "/agreements", user.token, q=q.strip()[:200], limit=20))["items"]
    return page("audit/cari.html", user, request=request, q=q or "", found=found)


@get("/audit/{agreement_id:uuid}")
async def audit_page(request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID) -> Template:
    return page("audit/riwayat.html", user, request=request, **await _load(state, user, agreement_id))


@get("/audit/{agreement_id:uuid}/verifikasi")
async def audit_verify(request: Request[Any, Any, Any], state: State, user: User, agreement_id: UUID) -> Template:
    """Verify again now (htmx swaps the verdict; without JavaScript the whole page)."""
    checked = await api(state).get("registry", f"/agreements/{agreement_id}/verify", user.token)
    if request.headers.get("hx-request"):
        return page("audit/_verdikt.html", user, request=request, verdict=verdict(checked),
                    agreement={"id": str(agreement_id)}, rechecked=True)
    loaded = await _load(state, user, agreement_id)
    return page("audit/riwayat.html", user, request=request, **{**loaded, "rechecked": True})


@get("/audit/{agreement_id:uuid}/unduh")
async def audit_download(state: State, user: User, agreement_id: UUID) -> Response[bytes]:
    """The export bundle, byte for byte, with the registry's content type and file name."""
    answer = await api(state).request("registry", "GET", f"/agreements/{agreement_id}/export", user.token, raw=True)
    headers = {"Content-Disposition": answer.headers.get("content-disposition")
               or f'attachment; filename="audit-{agreement_id}.json"', "Cache-Control": "no-store"}
    return Response(answer.content, media_type=answer.headers.get("content-type", "application/json"),
                    headers=headers)


routes = [audit_index, audit_page, audit_verify, audit_download]
