"""How a refusal names the registry's steps, stages and facts, in Bahasa Indonesia: the words
an operator reads in a message. The codes themselves (action names, stage values, field
names) stay in the problem's structured fields (`code`, `conflicts_with`, `errors`), which
clients key on. Pure: no I/O.
"""

from __future__ import annotations

from datetime import date

from shared.periods import tanggal

# The framework document by its type (the Kesepakatan Bersama of a KSDD, an MoU abroad, ...).
FRAMEWORK_DOCUMENTS = {
    "kesepakatan_bersama": "Kesepakatan Bersama",
    "nota_kesepakatan": "Nota Kesepakatan",
    "mou": "MoU",
    "loi": "LoI",
}

# A step by its action (the API's name for it, as `conflicts_with.step` carries it).
STEPS = {
    "create": "penyiapan kerja sama",
    "submit-offer": "pengiriman penawaran",
    "record-offer-response": "jawaban atas penawaran",
    "request-approval": "permohonan persetujuan",
    "record-approval": "keputusan persetujuan",
    "sign-framework": "penandatanganan {framework}",
    "start-work-plan": "mulai pelaksanaan rencana kerja",
    "draft-pks": "penyusunan PKS",
    "sign-pks": "penandatanganan PKS",
    "amend": "pencatatan addendum",
    "extend": "pencatatan perpanjangan",
    "terminate": "pengakhiran",
    "cancel": "pembatalan",
}

# A recorded step by its event (for corrections, which name a step by its version).
EVENT_STEPS = {
    "Started": "penyiapan kerja sama",
    "OfferSubmitted": "pengiriman penawaran",
    "OfferResponseRecorded": "jawaban atas penawaran",
    "ApprovalRequested": "permohonan persetujuan",
    "ApprovalRecorded": "keputusan persetujuan",
    "FrameworkSigned": "penandatanganan {framework}",
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

# The family's stages (DOMAIN.md, "Lifecycle").
STAGES = {
    "persiapan": "persiapan",
    "penawaran": "penawaran",
    "penyusunan_kesepakatan": "penyusunan kesepakatan",
    "kesepakatan_ditandatangani": "kesepakatan ditandatangani",
    "pelaksanaan": "pelaksanaan",
    "berakhir": "berakhir",
    "dibatalkan": "dibatalkan",
}

# A PKS's (or a signed document's) stage, after "sudah".
DOCUMENT_STAGES = {
    "penyusunan": "dalam penyusunan",
    "menunggu_persetujuan_dprd": "menunggu persetujuan DPRD",
    "ditandatangani": "ditandatangani",
    "berakhir": "berakhir",
    "diputus": "diputus",
    "dibatalkan": "dibatalkan",
}

# The facts a correction may change (the keys are the API's `changes`).
FACTS = {
    "drafted_on": "tanggal penyusunan",
    "sent_on": "tanggal surat penawaran",
    "responded_on": "tanggal surat jawaban",
    "requested_on": "tanggal permohonan",
    "decided_on": "tanggal keputusan",
    "signed_on": "tanggal penandatanganan",
    "started_on": "tanggal mulai",
    "terminated_on": "tanggal pengakhiran",
    "cancelled_on": "tanggal pembatalan",
    "valid_from": "awal masa berlaku",
    "valid_until": "akhir masa berlaku",
    "start_on": "awal masa berlaku",
    "end_on": "akhir masa berlaku",
    "new_end": "akhir masa berlaku yang baru",
    "reference": "nomor surat",
    "number": "nomor naskah",
    "value_idr": "nilai (rupiah)",
    "signatories": "penanda tangan",
}


def framework_words(document_type: str | None, foreign: bool = False, sinergi: bool = False) -> str:
    """The framework document's name: its recorded type, else the one its form signs."""
    if document_type in FRAMEWORK_DOCUMENTS:
        return FRAMEWORK_DOCUMENTS[document_type]
    return "MoU" if foreign else "Nota Kesepakatan" if sinergi else "Kesepakatan Bersama"


def step_words(step: str, framework: str = "Kesepakatan Bersama") -> str:
    """An action (`submit-offer`) as a person names the step (`pengiriman penawaran`)."""
    return STEPS.get(step, step).format(framework=framework)


def event_step_words(kind: str, framework: str = "Kesepakatan Bersama") -> str:
    """A recorded step by its event's name (`OfferSubmitted`) in words."""
    return EVENT_STEPS.get(kind, kind).format(framework=framework)


def stage_words(stage: str) -> str:
    return STAGES.get(stage, stage.replace("_", " "))


def document_stage_words(stage: str) -> str:
    return DOCUMENT_STAGES.get(stage, stage.replace("_", " "))


def pks_words(pks_id: str) -> str:
    """A PKS as the web application names it: `pks-2` -> "PKS 2" (anything else as given)."""
    return f"PKS {pks_id[4:]}" if pks_id.startswith("pks-") and pks_id[4:].isdigit() else f"PKS {pks_id}"


def fact_words(name: str) -> str:
    return FACTS.get(name, name.replace("_", " "))


def day_words(day: date | str) -> str:
    """A day as an official writes it (`22 November 2026`), from a date or an ISO string."""
    return tanggal(date.fromisoformat(day) if isinstance(day, str) else day)
