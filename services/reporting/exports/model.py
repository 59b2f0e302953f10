"""The neutral document model of an export (tables, texts, a letter's parts) and how its
numbers, dates and cells read in Bahasa Indonesia: what every renderer shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from shared.periods import tanggal

ColumnKind = Literal["text", "number", "rupiah", "date", "percent"]

_APP = "Sinergi KSD"  # author of every export

FORMATS: dict[str, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Column:
    header: str  # Indonesian header, e.g. "Nilai (Rp)"
    kind: ColumnKind = "text"
    width: float | None = None  # width hint in characters (None: a sensible default per kind)
    printed: bool = True  # False: in the spreadsheet and CSV only, left out of the PDF's page width


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]  # cell values: str, int, float, Decimal, date, bool or None
    total: tuple[Any, ...] | None = None  # the "Jumlah" row, same length as columns (None cells blank)
    sheet: str | None = None  # XLSX: the worksheet for this table; None: the first sheet
    note: str | None = None  # a line under the table, e.g. "Belum ada data."
    # PDF only: the rows flowed into this many side-by-side groups, in a small font, so a long
    # list of short rows (regions that never reported) takes a page, not twenty.
    compact: int = 1


@dataclass(frozen=True)
class Text:
    title: str
    body: str  # plain text; newlines are kept


@dataclass(frozen=True)
class Signatory:
    """Who signs: the title (position) always; the name when known; the NIP and pangkat only
    for a civil servant (an elected head has none)."""

    title: str
    name: str | None = None
    civil_servant: bool = False
    nip: str | None = None
    rank: str | None = None


@dataclass(frozen=True)
class Letter:
    """What makes a report a letter an official signs and sends (tata naskah dinas): the kop
    surat, nomor, sifat, lampiran and hal, the place and date, the addressee, an opening,
    and the signature block. `kind` "nota_dinas": a memorandum inside one ministry (Yth./Dari
    lines instead of an addressee block)."""

    government: str  # first line of the kop: "Pemerintah Kota Bandung" (printed in capitals)
    letterhead: tuple[str, ...]  # the lines under it: address, phone, e-mail, website
    number: str
    place_date: str  # "Bandung, 22 November 2026"
    addressee: tuple[str, ...]  # "Yth. Gubernur Jawa Barat", "c.q. ...", "di", "Bandung"
    subject: str  # hal
    opening: str
    signatory: Signatory
    closing: str = "Demikian disampaikan, atas perhatian dan kerja samanya diucapkan terima kasih."
    nature: str = "Biasa"  # sifat
    kind: Literal["surat", "nota_dinas"] = "surat"
    sender: str | None = None  # nota dinas: "Dari"


@dataclass(frozen=True)
class Document:
    title: str
    meta: tuple[tuple[str, str], ...]  # (label, value) pairs, e.g. ("Periode", "Semester I 2026")
    sections: tuple[Table | Text, ...]
    printed_on: date
    filename: str  # base name without extension
    subtitle: str | None = None
    # Printed at the end for a signature: place and date, position, blank lines to sign on,
    # name and NIP ("" is a blank line).
    closing: tuple[str, ...] = ()
    # A letter: the PDF is printed as one (kop, nomor, addressee, substance, signature), with
    # `annex` after the signature as its LAMPIRAN. XLSX and CSV stay data: they carry the annex
    # as more tables, and the letter's number in the header block.
    letter: Letter | None = None
    annex: tuple[Table | Text, ...] = ()

    @property
    def all_sections(self) -> tuple[Table | Text, ...]:
        return (*self.sections, *self.annex)


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str  # with extension


# --- Numbers for people ---------------------------------------------------------------------------


def rupiah(value: int | float | Decimal | None) -> str:
    """`Rp 2.500.000.000`, rounded half up to whole rupiah; a negative amount reads `-Rp 1.500`."""
    if value is None:
        return "-"
    text = _decimal_text(value, places=0)
    return f"-Rp {text[1:]}" if text.startswith("-") else f"Rp {text}"


def angka(value: int | float | Decimal | None) -> str:
    """`1.234` or `1.234,5`: at most two decimals, trailing zeros dropped."""
    return "-" if value is None else _decimal_text(value, places=2)


def persen(value: float | None) -> str:
    """A share between 0 and 1 as a percentage with at most one decimal: 0.755 -> `75,5%`."""
    return "-" if value is None else f"{_decimal_text(Decimal(str(value)) * 100, places=1)}%"


def _decimal_text(value: int | float | Decimal, places: int) -> str:
    # str() first, so a float rounds as it reads (2.675 -> 2,68) rather than as it is stored.
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{abs(rounded):,.{places}f}".partition(".")
    fraction = fraction.rstrip("0")
    sign = "-" if rounded < 0 else ""  # a value that rounds to zero loses its sign: Decimal("-0") < 0 is False
    return sign + whole.replace(",", ".") + ("," + fraction if fraction else "")


# --- Cells as people read them (CSV and PDF) --------------------------------------------------------

_NUMBER_TEXT = {"number": angka, "rupiah": rupiah, "percent": persen}
_NUMERIC_KINDS = frozenset(_NUMBER_TEXT)  # typed numbers in XLSX, right-aligned in PDF


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell_text(value: Any, kind: ColumnKind, *, total: bool = False) -> str:
    """One cell as text; a blank cell of the total row stays empty instead of reading `-`."""
    if value is None:
        return "" if total else "-"
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, date):
        return tanggal(value)
    formatter = _NUMBER_TEXT.get(kind)
    return formatter(value) if formatter and _is_number(value) else str(value)


def _table_rows(table: Table) -> list[tuple[tuple[Any, ...], bool]]:
    """The body rows then the total row, each flagged whether it is the total."""
    return [(row, False) for row in table.rows] + ([(table.total, True)] if table.total is not None else [])


def _row_texts(table: Table) -> list[tuple[list[str], bool]]:
    kinds = [column.kind for column in table.columns]
    return [
        ([_cell_text(value, kind, total=total) for value, kind in zip(row, kinds, strict=True)], total)
        for row, total in _table_rows(table)
    ]


def _printed(document: Document) -> tuple[str, str]:
    return "Dicetak", tanggal(document.printed_on)


def _letter_meta(document: Document) -> tuple[tuple[str, str], ...]:
    """The letter's number in a data export's header block, so the file matches the letter."""
    letter = document.letter
    return (("Nomor surat", letter.number),) if letter is not None else ()


_DEFAULT_WIDTHS: dict[str, float] = {"text": 30, "number": 12, "rupiah": 20, "date": 18, "percent": 10}


def _width(column: Column) -> float:
    return column.width or _DEFAULT_WIDTHS[column.kind]
