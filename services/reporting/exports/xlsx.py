"""An export as an XLSX workbook (typed numbers and dates, Indonesian formats)."""

from __future__ import annotations

import io
import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from services.reporting.exports.model import (
    _APP,
    _NUMERIC_KINDS,
    ColumnKind,
    Document,
    Table,
    Text,
    _cell_text,
    _is_number,
    _letter_meta,
    _printed,
    _table_rows,
    _width,
)
from shared.periods import local_date, tanggal

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
