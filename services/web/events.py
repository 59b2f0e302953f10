"""The history of a cooperation in words: one sentence in Bahasa Indonesia per recorded event
(`GET /agreements/{id}/history`), who recorded it, and what a correction (ralat) changed.

The event types are the registry's (`services/registry/domain/agreement.py`, class Agreement):
Started, OfferSubmitted, OfferResponseRecorded, ApprovalRequested, ApprovalRecorded,
FrameworkSigned, WorkPlanStarted, PksDrafted, PksSigned, Amended, Extended, Terminated,
Cancelled, DocumentAttached, Corrected. An unknown type (a newer registry) still gets a line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.web.format import document_kind, form_name, rupiah, stage, tanggal
from services.web.format import region as region_name
from services.web.session import ROLE_LABELS

ACTIONS = {
    "submit-offer": "Kirim surat penawaran",
    "record-offer-response": "Catat jawaban penawaran",
    "request-approval": "Mohon persetujuan",
    "record-approval": "Catat keputusan persetujuan",
    "sign-framework": "Catat penandatanganan kesepakatan",
    "start-work-plan": "Mulai pelaksanaan rencana kerja",
    "draft-pks": "Susun PKS",
    "sign-pks": "Catat penandatanganan PKS",
    "amend": "Catat addendum",
    "extend": "Catat perpanjangan",
    "terminate": "Catat pengakhiran",
    "cancel": "Batalkan",
    "attach-document": "Lampirkan dokumen",
    "correct": "Ralat",
}

# The step an event records, in words (for "Ralat atas ...").
STEPS = {
    "Started": "dimulainya kerja sama",
    "OfferSubmitted": "surat penawaran",
    "OfferResponseRecorded": "jawaban penawaran",
    "ApprovalRequested": "permohonan persetujuan",
    "ApprovalRecorded": "keputusan persetujuan",
    "FrameworkSigned": "penandatanganan kesepakatan",
    "WorkPlanStarted": "mulai pelaksanaan rencana kerja",
    "PksDrafted": "penyusunan PKS",
    "PksSigned": "penandatanganan PKS",
    "Amended": "addendum",
    "Extended": "perpanjangan",
    "Terminated": "pengakhiran",
    "Cancelled": "pembatalan",
    "DocumentAttached": "lampiran dokumen",
    "Corrected": "ralat",
}

# The facts a step records, as a person names them (the keys are the API's `changes`).
FACTS = {
    "drafted_on": "Tanggal penyusunan",
    "sent_on": "Tanggal surat penawaran",
    "responded_on": "Tanggal surat jawaban",
    "requested_on": "Tanggal permohonan",
    "decided_on": "Tanggal keputusan",
    "signed_on": "Tanggal penandatanganan",
    "started_on": "Tanggal mulai",
    "terminated_on": "Tanggal pengakhiran",
    "cancelled_on": "Tanggal pembatalan",
    "valid_from": "Berlaku mulai",
    "valid_until": "Berlaku sampai",
    "start_on": "Mulai berlaku",
    "end_on": "Akhir berlaku",
    "new_end": "Akhir berlaku yang baru",
    "reference": "Nomor surat",
    "number": "Nomor naskah",
    "value_idr": "Nilai (rupiah)",
    "signatories": "Penandatangan",
}

GROUNDS = {
    "para_pihak_sepakat": "kesepakatan para pihak",
    "tujuan_tercapai": "tujuan telah tercapai",
    "keadaan_kahar": "keadaan kahar atau perubahan mendasar",
    "wanprestasi": "wanprestasi",
    "digantikan_perjanjian_baru": "digantikan perjanjian baru",
    "perubahan_peraturan": "perubahan peraturan",
    "objek_hilang": "objek kerja sama hilang",
    "merugikan_kepentingan_nasional": "merugikan kepentingan nasional",
    "masa_berlaku_habis": "masa berlaku habis",
}

ATTACHMENT_KINDS = {
    "studi_kelayakan": "Studi kelayakan",
    "kak": "Kerangka acuan kerja (KAK)",
    "surat_penawaran": "Surat penawaran",
    "surat_jawaban_penawaran": "Surat jawaban penawaran",
    "kesepakatan_bersama": "Kesepakatan Bersama",
    "nota_kesepakatan": "Nota Kesepakatan",
    "mou": "MoU",
    "loi": "LoI",
    "rencana_kerja": "Rencana kerja",
    "perjanjian_kerja_sama": "Perjanjian Kerja Sama (PKS)",
    "addendum": "Addendum",
    "perpanjangan": "Perpanjangan",
    "persetujuan_dprd": "Persetujuan DPRD",
    "persetujuan_pemerintah_pusat": "Persetujuan pemerintah pusat",
    "surat_kuasa": "Surat kuasa",
    "pemutusan": "Pemutusan",
    "berita_acara": "Berita acara",
    "lainnya": "Lainnya",
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def document_name(document: str | None) -> str:
    """`framework` -> "naskah kesepakatan"; `pks-2` -> "PKS 2"; nothing -> "kerja sama"."""
    if not document:
        return "kerja sama"
    if document == "framework":
        return "naskah kesepakatan"
    if document.startswith("pks-"):
        return f"PKS {document[4:]}"
    return document


def party_name(party: str | None) -> str:
    """A party as commands name it: a region code (its name) or a partner's own name."""
    if not party:
        return "-"
    return region_name(party) if party[:2].isdigit() else party


def actor_words(actor: Mapping[str, Any] | None) -> str:
    """Who recorded it: "Operator · Kota Bandung (akun seed:1)"; an import says so."""
    if not actor:
        return "tidak diketahui"
    roles = ", ".join(ROLE_LABELS.get(r, r) for r in actor.get("roles") or []) or "Pengguna"
    words = f"{roles} · {region_name(actor.get('tenant'))} (akun {actor.get('sub') or '-'})"
    imported = actor.get("imported")
    if imported:
        words += f", diimpor dari berkas (baris {imported.get('row')})"
    return words


def fact_value(name: str, value: Any) -> str:
    if value is None or value == "":
        return "-"
    if name.endswith("_on") or name in ("valid_from", "valid_until", "new_end"):
        return tanggal(value)
    if name == "value_idr":
        return rupiah(value)
    if name == "signatories":
        return "; ".join(f"{s.get('name')} ({s.get('position')}, {party_name(s.get('party'))})"
                         for s in value if isinstance(s, Mapping))
    return str(value)


def _started(d: Mapping[str, Any]) -> str:
    parties = ", ".join(party_name(p.get("region") or p.get("name")) for p in d.get("parties") or [])
    text = f"Kerja sama \u201c{d.get('title')}\u201d ({form_name(d.get('form'))}) dimulai pada tahap persiapan"
    text += f" dengan para pihak {parties}" if parties else ""
    if d.get("drafted_on"):
        text += f"; disiapkan {tanggal(d['drafted_on'])}"
    return text + "."


def _offer(d: Mapping[str, Any]) -> str:
    if d.get("direction") == "received":
        return (f"Surat penawaran dari pihak ketiga nomor {d.get('reference')} tanggal {tanggal(d.get('sent_on'))}"
                " dicatat sebagai diterima.")
    return f"Surat penawaran nomor {d.get('reference')} tanggal {tanggal(d.get('sent_on'))} dikirim kepada mitra."


def _response(d: Mapping[str, Any]) -> str:
    verb = "menerima" if d.get("decision") == "accepted" else "menolak"
    return (f"{party_name(d.get('party'))} {verb} penawaran (surat jawaban nomor {d.get('reference')} "
            f"tanggal {tanggal(d.get('responded_on'))}).")


def _whose(kind: str | None, region: str | None) -> str:
    return "pemerintah pusat" if kind == "central" else f"DPRD {region_name(region)}"


def _approval_requested(d: Mapping[str, Any]) -> str:
    return (f"{region_name(d.get('region'))} memohon persetujuan {_whose(d.get('kind'), d.get('region'))} atas "
            f"{document_name(d.get('document'))} (surat nomor {d.get('reference')} "
            f"tanggal {tanggal(d.get('requested_on'))}).")


def _approval_recorded(d: Mapping[str, Any]) -> str:
    verb = "menyetujui" if d.get("decision") == "approved" else "menolak"
    who = _whose(d.get("kind"), d.get("region"))
    return (f"{who[0].upper()}{who[1:]} {verb} {document_name(d.get('document'))} (keputusan nomor "
            f"{d.get('reference')} tanggal {tanggal(d.get('decided_on'))}).")


def _framework_signed(d: Mapping[str, Any]) -> str:
    return (f"{document_kind(d.get('document_type'))} nomor {d.get('number')} ditandatangani "
            f"{tanggal(d.get('signed_on'))}, berlaku {tanggal(d.get('valid_from'))} "
            f"s.d. {tanggal(d.get('valid_until'))}.")


def _work_plan(d: Mapping[str, Any]) -> str:
    return f"Pelaksanaan rencana kerja Nota Kesepakatan dimulai {tanggal(d.get('started_on'))}."


def _pks_drafted(d: Mapping[str, Any]) -> str:
    text = f"{document_name(d.get('pks_id'))} \u201c{d.get('title')}\u201d disusun {tanggal(d.get('drafted_on'))}"
    if d.get("value_idr") is not None:
        text += f", senilai {rupiah(d['value_idr'])}"
    if d.get("dprd_reasons"):
        text += "; memerlukan persetujuan DPRD"
    return text + "."


def _pks_signed(d: Mapping[str, Any]) -> str:
    return (f"{document_name(d.get('pks_id'))} nomor {d.get('number')} ditandatangani {tanggal(d.get('signed_on'))}, "
            f"berlaku {tanggal(d.get('start_on'))} s.d. {tanggal(d.get('end_on'))}.")


def _amended(d: Mapping[str, Any]) -> str:
    text = (f"Addendum nomor {d.get('reference')} atas {document_name(d.get('document'))} ditandatangani "
            f"{tanggal(d.get('signed_on'))}: {d.get('changes')}")
    if d.get("value_idr") is not None:
        text += f"; nilai menjadi {rupiah(d['value_idr'])}"
    return text.rstrip(".") + "."


def _extended(d: Mapping[str, Any]) -> str:
    return (f"{_cap(document_name(d.get('document')))} diperpanjang dari {tanggal(d.get('previous_end'))} "
            f"sampai {tanggal(d.get('new_end'))} (nomor {d.get('reference')}, "
            f"ditandatangani {tanggal(d.get('signed_on'))}).")


def _terminated(d: Mapping[str, Any]) -> str:
    return (f"{_cap(document_name(d.get('document')))} diakhiri {tanggal(d.get('terminated_on'))} karena "
            f"{GROUNDS.get(d.get('ground') or '', d.get('ground'))} (nomor {d.get('reference')}); "
            f"tahap kerja sama: {stage(d.get('stage'))}.")


def _cancelled(d: Mapping[str, Any]) -> str:
    what = _cap(document_name(d.get("document"))) if d.get("document") else "Kerja sama"
    day = f" {tanggal(d['cancelled_on'])}" if d.get("cancelled_on") else ""
    return f"{what} dibatalkan{day}. Alasan: {d.get('reason')}."


def _attached(d: Mapping[str, Any]) -> str:
    where = f" pada {document_name(d.get('document'))}" if d.get("document") else ""
    return (f"Dokumen {ATTACHMENT_KINDS.get(d.get('kind') or '', d.get('kind'))} \u201c{d.get('name')}\u201d "
            f"dilampirkan{where}.")


def _corrected(d: Mapping[str, Any]) -> str:
    return (f"Ralat atas {STEPS.get(d.get('step') or '', d.get('step'))} (versi {d.get('step_version')}). "
            f"Alasan: {d.get('reason')}.")


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "Started": _started,
    "OfferSubmitted": _offer,
    "OfferResponseRecorded": _response,
    "ApprovalRequested": _approval_requested,
    "ApprovalRecorded": _approval_recorded,
    "FrameworkSigned": _framework_signed,
    "WorkPlanStarted": _work_plan,
    "PksDrafted": _pks_drafted,
    "PksSigned": _pks_signed,
    "Amended": _amended,
    "Extended": _extended,
    "Terminated": _terminated,
    "Cancelled": _cancelled,
    "DocumentAttached": _attached,
    "Corrected": _corrected,
}


def sentence(event: Mapping[str, Any]) -> str:
    """What the event recorded, in one sentence."""
    kind = event.get("type") or ""
    data = event.get("data") or {}
    if event.get("error"):
        return "Peristiwa ini tidak dapat dibaca lagi."
    writer = SENTENCES.get(kind)
    if writer is None:
        return f"Peristiwa {kind} tercatat."
    try:
        return writer(data)
    except (KeyError, TypeError, AttributeError, ValueError):
        return f"Peristiwa {STEPS.get(kind, kind)} tercatat."


def correction_changes(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(fact, before, after) of a correction, in words."""
    changes = data.get("changes") or {}
    previous = data.get("previous") or {}
    return [(FACTS.get(name, name), fact_value(name, previous.get(name)), fact_value(name, value))
            for name, value in changes.items()]


def timeline(history: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The history as the page shows it: each recorded step with its sentence, who, when, and
    the corrections of it beside it (in order). A step whose `correctable_facts` (as the
    registry's `/history` names them) are none gets no "Ralat" button."""
    entries: dict[int, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for event in history:
        data = event.get("data") or {}
        entry: dict[str, Any] = {
            "version": event.get("version"),
            "type": event.get("type"),
            "step": STEPS.get(event.get("type") or "", event.get("type")),
            "sentence": sentence(event),
            "who": actor_words(event.get("actor")),
            "when": event.get("recorded_at"),
            "correctable": bool(event.get("correctable_facts")),
            "corrections": [],
        }
        if event.get("type") == "Corrected":
            entry["changes"] = correction_changes(data)
            target = entries.get(int(data.get("step_version") or 0))
            if target is not None:
                target["corrections"].append(entry)
                entries[int(event.get("version") or 0)] = target
                continue
        entries[int(event.get("version") or 0)] = entry
        out.append(entry)
    return out
