"""Official-looking exports of a report: one neutral document model, rendered as XLSX, CSV or PDF.

Pure rendering: no database, no HTTP, no clock (the print date is part of the document). Whatever a
person reads in the output is Bahasa Indonesia; numbers and dates follow Indonesian conventions
(`Rp 2.500.000.000`, `1.234,5`, `75,5%`, `22 November 2026`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any, Literal
from xml.sax.saxutils import escape

import xlsxwriter
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    HRFlowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from shared.periods import local_date, tanggal

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


def render(document: Document, fmt: str) -> Export:
    """The document as `xlsx`, `csv` or `pdf`; any other format raises ValueError."""
    if fmt not in FORMATS:
        raise ValueError(f"format ekspor tidak dikenal: {fmt!r} (pilihan: {', '.join(FORMATS)})")
    content = _RENDERERS[fmt](document)
    return Export(content=content, media_type=FORMATS[fmt], filename=f"{document.filename}.{fmt}")


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


# --- XLSX -----------------------------------------------------------------------------------------

_XLSX_DATE = "[$-421]d mmmm yyyy"  # 421: Indonesian, so Excel writes the month names in Bahasa Indonesia
_XLSX_ROW_HEIGHT = 15  # points, Excel's default for Calibri 11
_XLSX_MAX_ROW_HEIGHT = 409
_NARRATIVE_WIDTH = 80.0  # the value column of a sheet with no table, so a narrative has room
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


class _XlsxStyles:
    """The workbook's formats, made once each (Excel limits how many distinct formats a file holds)."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._cells: dict[tuple[str | None, bool], Format] = {}
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.subtitle = workbook.add_format({"italic": True, "font_size": 12})
        self.label = workbook.add_format({"bold": True})
        self.heading = workbook.add_format({"bold": True, "font_size": 12})
        self.header = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True, "align": "center",
             "valign": "vcenter"}
        )
        self.narrative = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.note = workbook.add_format({"italic": True})

    def cell(self, num_format: str | None, total: bool) -> Format:
        key = (num_format, total)
        if key not in self._cells:
            props: dict[str, Any] = {"border": 1, "valign": "top"}
            props |= {"num_format": num_format} if num_format else {"text_wrap": True}
            if total:
                props |= {"bold": True, "bg_color": "#F2F2F2"}
            self._cells[key] = self._workbook.add_format(props)
        return self._cells[key]


def _render_xlsx(document: Document) -> bytes:
    buffer = io.BytesIO()
    # Caller text is data: a narrative line starting with "=" must never become a formula.
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    workbook.set_properties(
        {
            "title": document.title,
            "subject": document.subtitle or document.title,
            "author": _APP,
            "company": _APP,
            "created": datetime.combine(document.printed_on, time()),
        }
    )
    styles = _XlsxStyles(workbook)
    # Tables naming the same sheet share it; everything else goes on the summary sheet, in order.
    sheets: dict[str | None, list[Table | Text]] = {None: []}
    for section in document.all_sections:
        sheets.setdefault(section.sheet if isinstance(section, Table) else None, []).append(section)
    taken: set[str] = set()
    for wanted, sections in sheets.items():
        worksheet = workbook.add_worksheet(_sheet_name(wanted or "Ringkasan", taken))
        _write_xlsx_sheet(worksheet, document, sections, styles, closing=document.closing if wanted is None else ())
    workbook.close()
    return buffer.getvalue()


def _sheet_name(wanted: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, no apostrophe at either end, unique
    regardless of case, and not "History" (reserved)."""
    base = _SHEET_FORBIDDEN.sub("-", wanted).strip(" '")[:31].strip(" '") or "Tabel"
    name, n = base, 2
    while name.lower() in taken or name.lower() == "history":
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)].rstrip() + suffix, n + 1
    taken.add(name.lower())
    return name


def _write_xlsx_sheet(worksheet: Worksheet, document: Document, sections: list[Table | Text],
                      styles: _XlsxStyles, closing: tuple[str, ...] = ()) -> None:
    widths = _sheet_widths(document, sections)
    for index, width in enumerate(widths):
        worksheet.set_column(index, index, width)

    # Every sheet names the report, so each printed page can be told apart from another report's.
    row = 0
    if document.letter is not None:  # whose document it is, above its title
        worksheet.write_string(row, 0, document.letter.government.upper(), styles.label)
        row += 1
    worksheet.write_string(row, 0, document.title, styles.title)
    row += 1
    if document.subtitle:
        worksheet.write_string(row, 0, document.subtitle, styles.subtitle)
        row += 1
    row += 1
    for label, value in (*_letter_meta(document), *document.meta, _printed(document)):
        worksheet.write_string(row, 0, label, styles.label)
        worksheet.write_string(row, 1, value)
        row += 1

    header_rows: list[int] = []
    for section in sections:
        row += 1
        worksheet.write_string(row, 0, section.title, styles.heading)
        row += 1
        if isinstance(section, Text):
            row = _write_xlsx_text(worksheet, row, section.body, widths, styles)
        else:
            header_rows.append(row)
            row = _write_xlsx_table(worksheet, row, section, styles)
    row += 1
    for line in closing:
        row += 1
        if line:
            worksheet.write_string(row, 1, line)

    if len(header_rows) == 1:  # a print title can repeat one header only
        worksheet.repeat_rows(header_rows[0])
    if len(sections) == 1 and header_rows:  # freezing a sheet with a narrative on top would pin the narrative
        worksheet.freeze_panes(header_rows[0] + 1, 0)
    _xlsx_page_setup(worksheet, document)


def _sheet_widths(document: Document, sections: list[Table | Text]) -> list[float]:
    """Column widths: the widest hint among the sheet's tables per column; the first column also
    fits the meta labels, and there are at least two columns (label and value)."""
    tables = [section for section in sections if isinstance(section, Table)]
    span = max((len(table.columns) for table in tables), default=0)
    widths = [max(_width(t.columns[i]) for t in tables if i < len(t.columns)) for i in range(span)] or [0.0]
    widths[0] = max(widths[0], *(len(label) + 2 for label, _ in (*_letter_meta(document), *document.meta,
                                                                  _printed(document))))
    if len(widths) == 1:
        widths.append(_NARRATIVE_WIDTH)
    return widths


def _write_xlsx_text(worksheet: Worksheet, row: int, body: str, widths: list[float], styles: _XlsxStyles) -> int:
    """One merged, wrapped row per paragraph. Excel does not fit a merged row's height to its text,
    so the height is estimated from the paragraph's length, erring towards too tall."""
    for paragraph in body.splitlines():
        lines = max(1, math.ceil(len(paragraph) / sum(widths)))
        worksheet.merge_range(row, 0, row, len(widths) - 1, paragraph, styles.narrative)
        worksheet.set_row(row, min(_XLSX_MAX_ROW_HEIGHT, _XLSX_ROW_HEIGHT * lines))
        row += 1
    return row


def _write_xlsx_table(worksheet: Worksheet, row: int, table: Table, styles: _XlsxStyles) -> int:
    for col, column in enumerate(table.columns):
        worksheet.write_string(row, col, column.header, styles.header)
    row += 1
    for values, total in _table_rows(table):
        for col, (value, column) in enumerate(zip(values, table.columns, strict=True)):
            _write_xlsx_cell(worksheet, row, col, value, column.kind, styles, total)
        row += 1
    if table.note:
        worksheet.write_string(row, 0, table.note, styles.note)
        row += 1
    return row


def _write_xlsx_cell(worksheet: Worksheet, row: int, col: int, value: Any, kind: ColumnKind, styles: _XlsxStyles,
                     total: bool) -> None:
    """Typed cells, so a spreadsheet can sum and sort them; text stays text ("32.73" is a code)."""
    if value is None:
        worksheet.write_blank(row, col, None, styles.cell(None, total))
    elif isinstance(value, date):
        if isinstance(value, datetime):  # Excel has no time zones: keep the calendar day, in WIB when aware
            value = local_date(value) if value.tzinfo else value.date()
        worksheet.write_datetime(row, col, value, styles.cell(_XLSX_DATE, total))
    elif kind in _NUMERIC_KINDS and _is_number(value):
        number = float(value) if isinstance(value, Decimal) else value
        worksheet.write_number(row, col, number, styles.cell(_xlsx_number_format(kind, value), total))
    else:
        worksheet.write_string(row, col, _cell_text(value, kind), styles.cell(None, total))


def _xlsx_number_format(kind: ColumnKind, value: int | float | Decimal) -> str:
    if kind == "rupiah":
        return '"Rp" #,##0'
    if kind == "percent":
        return "0.0%"
    # "#,##0.##" would leave a dangling decimal separator after a whole number.
    return "#,##0" if value % 1 == 0 else "#,##0.##"


def _xlsx_page_setup(worksheet: Worksheet, document: Document) -> None:
    title = document.title[:200].replace("&", "&&")  # "&" starts a header code; Excel caps headers at 255
    worksheet.set_landscape()
    worksheet.set_paper(9)  # A4
    worksheet.fit_to_pages(1, 0)  # one page wide, as many tall as needed
    worksheet.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
    worksheet.hide_gridlines(2)
    worksheet.set_header(f"&C&8{title}")
    worksheet.set_footer(f"&L&8{_APP} · Dicetak {tanggal(document.printed_on)}&R&8Halaman &P dari &N")


# --- CSV ------------------------------------------------------------------------------------------


# A cell a spreadsheet would read as a formula (CSV injection, OWASP): text typed by an
# officer such as "=HYPERLINK(...)" or "- Armada kurang". Our own figures ("-Rp 1.500",
# "-12,5%") and the empty mark "-" are numbers or plain text and stay as they are.
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
_OUR_NUMBER = re.compile(r"^-$|^-(Rp )?[\d.,]+%?$")


def _csv_cell(text: str) -> str:
    return "'" + text if _FORMULA_START.match(text) and not _OUR_NUMBER.match(text) else text


class _SafeWriter:
    """csv.writer whose every cell is defused against formula injection."""

    def __init__(self, buffer: io.StringIO) -> None:
        # ";" is what Excel expects where "," is the decimal separator, as in an Indonesian locale.
        self._writer = csv.writer(buffer, delimiter=";")

    def writerow(self, row: Any) -> None:
        self._writer.writerow([_csv_cell(str(cell)) for cell in row])

    def writerows(self, rows: Any) -> None:
        for row in rows:
            self.writerow(row)


def _render_csv(document: Document) -> bytes:
    buffer = io.StringIO()
    writer = _SafeWriter(buffer)
    if document.letter is not None:
        writer.writerow([document.letter.government.upper()])
    writer.writerow([document.title])
    if document.subtitle:
        writer.writerow([document.subtitle])
    writer.writerows([label, value] for label, value in (*_letter_meta(document), *document.meta,
                                                         _printed(document)))
    for section in document.all_sections:
        writer.writerow([])
        writer.writerow([section.title])
        if isinstance(section, Text):
            writer.writerows([line] if line else [] for line in section.body.splitlines())
            continue
        writer.writerow([column.header for column in section.columns])
        writer.writerows(texts for texts, _ in _row_texts(section))
        if section.note:
            writer.writerow([section.note])
    if document.closing:
        writer.writerow([])
        writer.writerows([line] if line else [] for line in document.closing)
    # The byte order mark tells Excel the file is UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


# --- PDF ------------------------------------------------------------------------------------------

_PDF_MARGIN = 15 * mm
_PDF_GREY = colors.HexColor("#808080")
_PDF_HEADER_FILL = colors.HexColor("#D9E1F2")
_PDF_TOTAL_FILL = colors.HexColor("#F2F2F2")
_PDF_CELL_FONT_SIZE = 8
_PDF_CELL_PADDING = 6  # ReportLab's default left and right padding of a table cell


def _style(name: str, **overrides: Any) -> ParagraphStyle:
    return ParagraphStyle(name, **({"fontName": "Helvetica", "fontSize": 9, "leading": 11} | overrides))


_PDF_STYLES = {
    "title": _style("title", fontName="Helvetica-Bold", fontSize=14, leading=18, alignment=TA_CENTER),
    "subtitle": _style("subtitle", fontSize=11, leading=14, alignment=TA_CENTER, spaceBefore=2),
    "label": _style("label", fontName="Helvetica-Bold"),
    "value": _style("value"),
    "heading": _style("heading", fontName="Helvetica-Bold", fontSize=11, leading=14, spaceBefore=10,
                      spaceAfter=4, keepWithNext=1),
    "body": _style("body"),
    "note": _style("note", fontName="Helvetica-Oblique", spaceBefore=3),
    "cell": _style("cell", fontSize=_PDF_CELL_FONT_SIZE, leading=10),
    "cell-right": _style("cell-right", fontSize=_PDF_CELL_FONT_SIZE, leading=10, alignment=TA_RIGHT),
    "cell-bold": _style("cell-bold", fontName="Helvetica-Bold", fontSize=_PDF_CELL_FONT_SIZE, leading=10),
    "cell-bold-right": _style("cell-bold-right", fontName="Helvetica-Bold", fontSize=_PDF_CELL_FONT_SIZE,
                              leading=10, alignment=TA_RIGHT),
    "header": _style("header", fontName="Helvetica-Bold", fontSize=_PDF_CELL_FONT_SIZE, leading=10,
                     alignment=TA_CENTER),
}


def _markup(text: str) -> str:
    """Paragraph reads a small XML dialect: caller text is escaped, its line breaks kept."""
    return escape(text).replace("\n", "<br/>")


class _FooterCanvas(Canvas):
    """Holds every page until the end, so each footer can say how many pages there are."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, page in enumerate(self._pages, start=1):
            self.__dict__.update(page)
            self._draw_footer(number, len(self._pages))
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, count: int) -> None:
        width, _ = self._pagesize
        self.saveState()
        self.setStrokeColor(_PDF_GREY)
        self.setLineWidth(0.5)
        self.line(_PDF_MARGIN, 11 * mm, width - _PDF_MARGIN, 11 * mm)
        self.setFont("Helvetica", 7.5)
        self.setFillColor(_PDF_GREY)
        self.drawCentredString(width / 2, 7 * mm, f"{self._footer} · Halaman {number} dari {count}")
        self.restoreState()


def _render_pdf(document: Document) -> bytes:
    if document.letter is not None:
        return _render_letter_pdf(document, document.letter)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=_PDF_MARGIN,
        rightMargin=_PDF_MARGIN,
        topMargin=_PDF_MARGIN,
        bottomMargin=_PDF_MARGIN + 5 * mm,  # room for the footer
        title=document.title,
        subject=document.subtitle or document.title,
        author=_APP,
        creator=_APP,
        lang="id-ID",
    )
    story: list[Flowable] = [Paragraph(_markup(document.title), _PDF_STYLES["title"])]
    if document.subtitle:
        story.append(Paragraph(_markup(document.subtitle), _PDF_STYLES["subtitle"]))
    story += [Spacer(1, 6 * mm), _pdf_meta(document, template.width)]
    for section in document.sections:
        story.append(Paragraph(_markup(section.title), _PDF_STYLES["heading"]))
        if isinstance(section, Text):
            story += [
                Paragraph(_markup(line), _PDF_STYLES["body"]) if line.strip() else Spacer(1, 3 * mm)
                for line in section.body.splitlines()
            ]
        else:
            story.append(_pdf_table(section, template.width))
            if section.note:
                story.append(Paragraph(_markup(section.note), _PDF_STYLES["note"]))
    if document.closing:
        # A signature block on the right, kept on one page.
        block = PdfTable([[Paragraph(_markup(line), _PDF_STYLES["body"]) if line else Spacer(1, 5 * mm)]
                          for line in document.closing], colWidths=[90 * mm], hAlign="RIGHT")
        story += [Spacer(1, 10 * mm), KeepTogether(block)]
    footer = f"{_APP} · {document.title} · Dicetak {tanggal(document.printed_on)}"
    template.build(story, canvasmaker=partial(_FooterCanvas, footer=footer))
    return buffer.getvalue()


# --- PDF as a letter (tata naskah dinas) -------------------------------------------------------------

_LETTER_MARGIN = 20 * mm
_LETTER_STYLES = {
    "kop": _style("kop", fontName="Helvetica-Bold", fontSize=14, leading=17, alignment=TA_CENTER),
    "kop-line": _style("kop-line", fontSize=8.5, leading=10.5, alignment=TA_CENTER),
    "body": _style("letter-body", fontSize=10, leading=13.5, alignment=TA_JUSTIFY),
    "plain": _style("letter-plain", fontSize=10, leading=13),
    "title": _style("letter-title", fontName="Helvetica-Bold", fontSize=11, leading=14, alignment=TA_CENTER,
                    spaceBefore=6),
    "subtitle": _style("letter-subtitle", fontSize=10, leading=13, alignment=TA_CENTER),
    "heading": _style("letter-heading", fontName="Helvetica-Bold", fontSize=10, leading=13, spaceBefore=8,
                      spaceAfter=3, keepWithNext=1),
    "sign": _style("letter-sign", fontSize=10, leading=13, alignment=TA_CENTER),
    "sign-name": _style("letter-sign-name", fontName="Helvetica-Bold", fontSize=10, leading=13,
                        alignment=TA_CENTER),
    "annex": _style("annex", fontSize=9, leading=11.5),
    "annex-title": _style("annex-title", fontName="Helvetica-Bold", fontSize=9, leading=11.5),
}
_COMPACT_FONT_SIZE = 6.5


def _nip(nip: str) -> str:
    """An 18-digit NIP as it is printed: birth date, appointment month, sex, number."""
    return f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}" if len(nip) == 18 and nip.isdigit() else nip


def _kop(letter: Letter, width: float) -> list[Flowable]:
    """The kop surat: the government's name, its address block, and the double rule line."""
    story: list[Flowable] = [Paragraph(_markup(letter.government.upper()), _LETTER_STYLES["kop"])]
    story += [Paragraph(_markup(line), _LETTER_STYLES["kop-line"]) for line in letter.letterhead if line]
    story += [Spacer(1, 2 * mm), HRFlowable(width="100%", thickness=2, color=colors.black, spaceAfter=1),
              HRFlowable(width="100%", thickness=0.6, color=colors.black, spaceAfter=5 * mm)]
    return story


def _lines_table(rows: list[tuple[str, str]], label_width: float, width: float) -> PdfTable:
    plain = _LETTER_STYLES["plain"]
    table = PdfTable([[Paragraph(_markup(label), plain), Paragraph(":", plain), Paragraph(_markup(value), plain)]
                      for label, value in rows],
                     colWidths=[label_width, 4 * mm, width - label_width - 4 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 2), ("TOPPADDING", (0, 0), (-1, -1), 0),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return table


def _letter_opening(letter: Letter, lampiran: str, width: float) -> list[Flowable]:
    plain = _LETTER_STYLES["plain"]
    if letter.kind == "nota_dinas":
        rows = [("Yth.", "; ".join(line.removeprefix("Yth. ") for line in letter.addressee)),
                ("Dari", letter.sender or letter.signatory.title), ("Tanggal", letter.place_date),
                ("Nomor", letter.number), ("Sifat", letter.nature), ("Lampiran", lampiran), ("Hal", letter.subject)]
        return [Paragraph("<u><b>NOTA DINAS</b></u>", _LETTER_STYLES["title"]), Spacer(1, 4 * mm),
                _lines_table(rows, 22 * mm, width),
                HRFlowable(width="100%", thickness=0.6, color=colors.black, spaceBefore=3 * mm, spaceAfter=4 * mm)]
    head = PdfTable([[_lines_table([("Nomor", letter.number), ("Sifat", letter.nature), ("Lampiran", lampiran),
                                    ("Hal", letter.subject)], 20 * mm, width * 0.6),
                      Paragraph(_markup(letter.place_date), _style("date", fontSize=10, leading=13,
                                                                   alignment=TA_RIGHT))]],
                    colWidths=[width * 0.6, width * 0.4], hAlign="LEFT")
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    addressee = [Paragraph(_markup(line), plain) for line in letter.addressee]
    return [head, Spacer(1, 6 * mm), *addressee, Spacer(1, 6 * mm)]


def _signature(letter: Letter, width: float) -> Flowable:
    """On the right: the position, room to sign, the name (or a blank to write it in), and,
    for a civil servant only, the pangkat and NIP."""
    who = letter.signatory
    lines: list[Flowable] = [Paragraph(_markup(who.title + ","), _LETTER_STYLES["sign"]), Spacer(1, 20 * mm),
                             Paragraph(_markup(who.name if who.name else
                                               "(........................................)"),
                                       _LETTER_STYLES["sign-name"])]
    if who.civil_servant:
        if who.rank:
            lines.append(Paragraph(_markup(who.rank), _LETTER_STYLES["sign"]))
        lines.append(Paragraph(_markup(f"NIP {_nip(who.nip)}" if who.nip else "NIP ........................"),
                               _LETTER_STYLES["sign"]))
    block = PdfTable([[line] for line in lines], colWidths=[80 * mm], hAlign="RIGHT")
    block.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    return KeepTogether([Spacer(1, 8 * mm), block])


def _sections_story(sections: tuple[Table | Text, ...], width: float, heading: ParagraphStyle,
                    body: ParagraphStyle, page_height: float) -> list[Flowable]:
    story: list[Flowable] = []
    for section in sections:
        if isinstance(section, Text):
            story.append(Paragraph(_markup(section.title), heading))
            story += [Paragraph(_markup(line), body) if line.strip() else Spacer(1, 2 * mm)
                      for line in section.body.splitlines()]
            continue
        table = _pdf_compact_table(section, width) if section.compact > 1 else _pdf_table(section, width)
        # A long table starts under its heading where it is, unless the page is nearly full
        # (ReportLab's keepWithNext would move a table taller than the space left to a new page).
        title = Paragraph(_markup(section.title), ParagraphStyle(f"{heading.name}-table", heading, keepWithNext=0))
        story += [CondPageBreak(page_height / 5), title, table]
        if section.note:
            story.append(Paragraph(_markup(section.note), _PDF_STYLES["note"]))
    return story


def _render_letter_pdf(document: Document, letter: Letter) -> bytes:
    """A4 portrait for the letter; its LAMPIRAN, after the signature, on landscape pages for
    the wide tables."""
    buffer = io.BytesIO()
    portrait, wide = A4, landscape(A4)
    template = BaseDocTemplate(
        buffer, pagesize=portrait, leftMargin=_LETTER_MARGIN, rightMargin=_LETTER_MARGIN - 5 * mm,
        topMargin=_PDF_MARGIN, bottomMargin=_PDF_MARGIN + 5 * mm, title=document.title,
        subject=letter.subject, author=_APP, creator=_APP, lang="id-ID",
    )
    letter_width = portrait[0] - _LETTER_MARGIN - (_LETTER_MARGIN - 5 * mm)
    annex_width = wide[0] - 2 * _PDF_MARGIN
    template.addPageTemplates([
        PageTemplate("surat", [Frame(_LETTER_MARGIN, _PDF_MARGIN + 5 * mm, letter_width,
                                     portrait[1] - 2 * _PDF_MARGIN - 5 * mm, id="surat")], pagesize=portrait),
        PageTemplate("lampiran", [Frame(_PDF_MARGIN, _PDF_MARGIN + 5 * mm, annex_width,
                                        wide[1] - 2 * _PDF_MARGIN - 5 * mm, id="lampiran")], pagesize=wide),
    ])
    lampiran = "1 (satu) berkas" if document.annex else "-"
    story: list[Flowable] = [*_kop(letter, letter_width), *_letter_opening(letter, lampiran, letter_width),
                             Paragraph(_markup(letter.opening), _LETTER_STYLES["body"]),
                             Paragraph(_markup(document.title), _LETTER_STYLES["title"])]
    if document.subtitle:
        story.append(Paragraph(_markup(document.subtitle), _LETTER_STYLES["subtitle"]))
    story += [Spacer(1, 3 * mm), _pdf_meta(document, letter_width)]
    story += _sections_story(document.sections, letter_width, _LETTER_STYLES["heading"], _PDF_STYLES["body"],
                             portrait[1])
    story += [Spacer(1, 4 * mm), Paragraph(_markup(letter.closing), _LETTER_STYLES["body"]),
              _signature(letter, letter_width)]
    if document.annex:
        what = "NOTA DINAS" if letter.kind == "nota_dinas" else "SURAT " + letter.government.upper()
        story += [NextPageTemplate("lampiran"), PageBreak(),
                  _lines_table([("LAMPIRAN", what), ("NOMOR", letter.number),
                                ("TANGGAL", letter.place_date.rpartition(", ")[2]), ("HAL", letter.subject)],
                               24 * mm, annex_width * 0.55),
                  Spacer(1, 2 * mm)]
        story[-2].hAlign = "RIGHT"
        story += _sections_story(document.annex, annex_width, _PDF_STYLES["heading"], _PDF_STYLES["body"], wide[1])
    footer = f"{_APP} · {letter.number} · {document.title} · Dicetak {tanggal(document.printed_on)}"
    template.build(story, canvasmaker=partial(_FooterCanvas, footer=footer))
    return buffer.getvalue()


def _pdf_compact_table(table: Table, width: float) -> PdfTable:
    """A long list of short rows, flowed down `table.compact` side-by-side groups of its
    columns, in a small font."""
    groups = table.compact
    texts = [cells for cells, _ in _row_texts(table)]
    per_group = math.ceil(len(texts) / groups) if texts else 0
    small = _style("compact", fontSize=_COMPACT_FONT_SIZE, leading=_COMPACT_FONT_SIZE + 1.5)
    small_bold = _style("compact-bold", fontName="Helvetica-Bold", fontSize=_COMPACT_FONT_SIZE,
                        leading=_COMPACT_FONT_SIZE + 1.5)
    header = [Paragraph(_markup(c.header), small_bold) for c in table.columns] * groups
    rows = [header]
    for i in range(per_group):
        row: list[Any] = []
        for g in range(groups):
            index = g * per_group + i
            cells = texts[index] if index < len(texts) else [""] * len(table.columns)
            row += [Paragraph(_markup(text), small) for text in cells]
        rows.append(row)
    hints = [_width(c) for c in table.columns]
    unit = width / groups / sum(hints)
    result = PdfTable(rows, colWidths=[h * unit for h in hints] * groups, repeatRows=1, hAlign="LEFT")
    result.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, _PDF_GREY), ("BACKGROUND", (0, 0), (-1, 0), _PDF_HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1), ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]))
    return result


def _pdf_meta(document: Document, width: float) -> PdfTable:
    rows = [
        [Paragraph(_markup(label), _PDF_STYLES["label"]), Paragraph(_markup(value), _PDF_STYLES["value"])]
        for label, value in (*document.meta, _printed(document))
    ]
    table = PdfTable(rows, colWidths=[45 * mm, width - 45 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _pdf_table(table: Table, width: float) -> PdfTable:
    keep = [i for i, column in enumerate(table.columns) if column.printed]
    table = Table(table.title, tuple(table.columns[i] for i in keep),
                  tuple(tuple(row[i] for i in keep) for row in table.rows),
                  tuple(table.total[i] for i in keep) if table.total is not None else None, table.sheet, table.note)
    texts = _row_texts(table)
    rows = [[Paragraph(_markup(column.header), _PDF_STYLES["header"]) for column in table.columns]]
    rows += [
        [Paragraph(_markup(text), _PDF_STYLES[_pdf_cell_style(column.kind, total)])
         for text, column in zip(cells, table.columns, strict=True)]
        for cells, total in texts
    ]
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, _PDF_GREY),
        ("BACKGROUND", (0, 0), (-1, 0), _PDF_HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("VALIGN", (0, 0), (-1, 0), "MIDDLE"),
    ]
    if table.total is not None:
        commands.append(("BACKGROUND", (0, -1), (-1, -1), _PDF_TOTAL_FILL))
    columns = [[column.header, *(cells[i] for cells, _ in texts)] for i, column in enumerate(table.columns)]
    col_widths = _pdf_col_widths([_width(column) for column in table.columns], columns, width,
                                 [column.kind in _NUMERIC_KINDS for column in table.columns])
    result = PdfTable(rows, colWidths=col_widths, repeatRows=1, hAlign="LEFT")
    result.setStyle(TableStyle(commands))
    return result


def _pdf_col_widths(hints: list[float], columns: list[list[str]], width: float, numeric: list[bool]) -> list[float]:
    """Widths proportional to the hints and filling the page width, except that no column is narrower
    than its longest word (a narrow "No." column would otherwise break "Jumlah" into pieces), and a
    number is never broken ("Rp 12.500.000.000" stays on one line); the columns with room to spare
    give up the difference, in proportion to their hints."""
    # One point of slack: a word exactly as wide as the room left for it is still broken.
    floors = [
        max(_pdf_widest(texts[1:], whole=True), _pdf_widest(texts[:1], whole=False)) + 2 * _PDF_CELL_PADDING + 1
        if is_number
        else min(width / len(hints), _pdf_widest(texts, whole=False) + 2 * _PDF_CELL_PADDING + 1)
        for texts, is_number in zip(columns, numeric, strict=True)
    ]
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(len(hints)) if i not in fixed]
        room, share = width - sum(fixed.values()), sum(hints[i] for i in free)
        narrow = {i: floors[i] for i in free if room * hints[i] / share < floors[i]}
        if not narrow:
            return [fixed[i] if i in fixed else room * hints[i] / share for i in range(len(hints))]
        fixed |= narrow


def _pdf_widest(texts: list[str], *, whole: bool) -> float:
    """The widest word (or, `whole`, the widest text), measured in bold: the widest a cell is set
    (header and total row)."""
    pieces = texts if whole else [word for text in texts for word in text.split()]
    return max((stringWidth(piece, "Helvetica-Bold", _PDF_CELL_FONT_SIZE) for piece in pieces), default=0.0)


def _pdf_cell_style(kind: ColumnKind, total: bool) -> str:
    weight = "cell-bold" if total else "cell"
    return f"{weight}-right" if kind in _NUMERIC_KINDS else weight


_RENDERERS = {"xlsx": _render_xlsx, "csv": _render_csv, "pdf": _render_pdf}
