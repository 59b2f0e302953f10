"""An export as PDF: a report, or a letter (tata naskah dinas) with its annex."""

from __future__ import annotations

import io
import math
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

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

from services.reporting.exports.model import (
    _APP,
    _NUMERIC_KINDS,
    ColumnKind,
    Document,
    Letter,
    Table,
    Text,
    _printed,
    _row_texts,
    _width,
)
from shared.periods import tanggal

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

    def showPage(self) -> None:  # noqa: N802 - overrides ReportLab's Canvas.showPage
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
