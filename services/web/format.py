"""How the web application writes numbers, dates and codes for people: Bahasa Indonesia, as an
official writes them ("22 November 2026", "Rp 1.250.000.000")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared import labels
from shared.periods import WIB, local_date
from shared.periods import tanggal as _tanggal
from shared.regions import load_regions
from shared.rupiah import parse_rupiah, thousands
from shared.urusan import get_urusan


def tanggal(value: Any) -> str:
    """`2026-11-22`, a date or a datetime (in WIB) -> `22 November 2026`; nothing -> `-`."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    return _tanggal(value)


def waktu(value: Any) -> str:
    """A moment in WIB: `22 November 2026 14.05 WIB`."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        local = value.astimezone(WIB)
        return f"{_tanggal(local_date(value))} {local:%H.%M} WIB"
    return tanggal(value)


def angka(value: Any) -> str:
    """Thousands separated by dots: 1250000 -> `1.250.000`."""
    if value in (None, ""):
        return "-"
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    return thousands(number)


def rupiah(value: Any) -> str:
    if value in (None, ""):
        return "-"
    return f"Rp {angka(value)}"


def typed_rupiah(value: Any) -> int | str:
    """A rupiah amount as an official types it in a form (`1.250.000`, `Rp 1.250.000,00`) as a
    number; anything else as typed, for the API to refuse and name the field (`1.5` is not
    15)."""
    try:
        return parse_rupiah(str(value))
    except ValueError:
        return str(value).strip()


def persen(value: Any, digits: int = 0) -> str:
    if value in (None, ""):
        return "-"
    return f"{float(value):.{digits}f}".replace(".", ",") + "%"


def region(code: Any) -> str:
    if not code:
        return "-"
    if code == "national":
        return "Nasional"
    found = load_regions().get(str(code))
    return found.name if found is not None else str(code)


def capital(text: Any) -> str:
    """The first letter upper case, the rest as written (`lingkungan hidup` -> `Lingkungan hidup`;
    `UMKM` stays `UMKM`)."""
    text = str(text or "")
    return text[:1].upper() + text[1:]


def urusan_label(code: Any, name: Any) -> str:
    """An urusan as people read it: `2.11 Lingkungan hidup`."""
    return f"{code} {capital(name)}" if name else str(code or "-")


def urusan(code: Any) -> str:
    found = get_urusan(str(code)) if code else None
    return urusan_label(code, found.name) if found is not None else str(code or "-")


def stage(code: Any) -> str:
    return labels.label(labels.STAGES, code)


def form_name(code: Any) -> str:
    return labels.label(labels.FORMS, code)


def document_kind(code: Any) -> str:
    return labels.label(labels.DOCUMENTS, code)


def document_stage(code: Any) -> str:
    return labels.label(labels.DOCUMENT_STAGES, code)


def category(code: Any) -> str:
    return labels.label(labels.CATEGORIES, code)


FILTERS = {
    "tanggal": tanggal,
    "waktu": waktu,
    "angka": angka,
    "rupiah": rupiah,
    "persen": persen,
    "region": region,
    "urusan": urusan,
    "capital": capital,
    "stage": stage,
    "form_name": form_name,
    "document_kind": document_kind,
    "document_stage": document_stage,
    "category": category,
}
