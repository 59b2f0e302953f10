"""Exports of a report as XLSX, CSV and PDF, read back the way a person's tools would read them."""

import csv
import re
from datetime import date
from decimal import Decimal
from io import BytesIO, StringIO

import openpyxl
import pytest
from pypdf import PdfReader

from services.reporting.exports import (
    FORMATS,
    Column,
    Document,
    Export,
    Table,
    Text,
    angka,
    persen,
    render,
    rupiah,
)

NARRATIVE = "Kerja sama pengolahan sampah berjalan baik & tepat waktu.\nRealisasi < target, lihat <Lampiran II>."
LONG_SHEET = "Lampiran: Daftar Lengkap Kerja Sama Daerah 2026"  # too long and has ":" for Excel

AGREEMENTS = Table(
    title="Daftar Kerja Sama",
    columns=(
        Column("No.", "number", 5),
        Column("Kode Daerah", "text", 12),
        Column("Judul Kerja Sama", "text", 40),
        Column("Mitra"),
        Column("Nilai (Rp)", "rupiah"),
        Column("Tanggal Penandatanganan", "date"),
        Column("Realisasi", "percent"),
        Column("Dianggarkan di APBD"),
    ),
    rows=(
        (1, "32.73", "Pengolahan Sampah Regional Legok Nangka", "Kabupaten Bandung", 2_500_000_000,
         date(2026, 11, 22), 0.755, True),
        (2, "32.73", "Penyediaan Air Minum Lintas Daerah", None, Decimal("1234567.5"), date(2026, 3, 2), 1, False),
    ),
    total=("Jumlah", None, None, None, Decimal("2501234567.5"), None, None, None),
)
PER_URUSAN = Table(
    title="Rekap per Urusan",
    columns=(Column("Urusan"), Column("Jumlah Kerja Sama", "number"), Column("Nilai (Rp)", "rupiah")),
    rows=(("Lingkungan Hidup", 1, 2_500_000_000), ("Pekerjaan Umum", 1, 1_234_567.5)),
    sheet="Rekap Urusan",
)
EMPTY = Table(
    title="Kerja Sama Berakhir",
    columns=(Column("Judul Kerja Sama"), Column("Tanggal Berakhir", "date")),
    rows=(),
    note="Belum ada data.",
)
LONG = Table(
    title="Daftar Lengkap Kerja Sama",
    columns=(Column("Nomor", "text", 10), Column("Uraian Kerja Sama", "text", 50), Column("Nilai (Rp)", "rupiah")),
    rows=tuple((f"KS-{n:03d}", f"Kerja sama bidang pelayanan publik nomor {n}", n * 1_000_000) for n in range(1, 121)),
    sheet=LONG_SHEET,
)

DOCUMENT = Document(
    title="LAPORAN PELAKSANAAN KERJA SAMA DAERAH",
    subtitle="Pemerintah Kota Bandung",
    meta=(("Daerah", "Kota Bandung (32.73)"), ("Periode", "Semester I 2026")),
    sections=(Text("Uraian Pelaksanaan", NARRATIVE), AGREEMENTS, PER_URUSAN, EMPTY, LONG),
    printed_on=date(2026, 11, 29),
    filename="laporan-32.73-2026-S1",
)


@pytest.fixture(scope="module")
def workbook() -> openpyxl.Workbook:
    return openpyxl.load_workbook(BytesIO(render(DOCUMENT, "xlsx").content))


@pytest.fixture(scope="module")
def csv_lines() -> list[list[str]]:
    text = render(DOCUMENT, "csv").content.decode("utf-8-sig")
    return list(csv.reader(StringIO(text, newline=""), delimiter=";"))


@pytest.fixture(scope="module")
def pdf() -> PdfReader:
    return PdfReader(BytesIO(render(DOCUMENT, "pdf").content))


def rows_of(sheet) -> list[tuple]:
    return list(sheet.iter_rows(values_only=True))


def row_starting(sheet, first: str) -> tuple:
    return next(row for row in sheet.iter_rows() if row[0].value == first)


# --- numbers for people ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2_500_000_000, "Rp 2.500.000.000"),
        (0, "Rp 0"),
        (None, "-"),
        (-1500, "-Rp 1.500"),
        (Decimal("1234.5"), "Rp 1.235"),
        (1234.49, "Rp 1.234"),
        (0.5, "Rp 1"),
        (-0.4, "Rp 0"),
        (999, "Rp 999"),
        (Decimal("12345678901234567890"), "Rp 12.345.678.901.234.567.890"),
    ],
)
def test_rupiah_rounds_to_whole_rupiah_with_dots_between_thousands(value, expected) -> None:
    assert rupiah(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234, "1.234"),
        (1234.5, "1.234,5"),
        (1234.567, "1.234,57"),
        (2.675, "2,68"),
        (1.10, "1,1"),
        (Decimal("1000000.00"), "1.000.000"),
        (0, "0"),
        (-1234.5, "-1.234,5"),
        (-0.001, "0"),
        (None, "-"),
    ],
)
def test_angka_keeps_at_most_two_decimals_after_a_comma(value, expected) -> None:
    assert angka(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.755, "75,5%"), (1, "100%"), (0, "0%"), (0.12345, "12,3%"), (0.0005, "0,1%"), (12.5, "1.250%"), (None, "-")],
)
def test_persen_reads_a_share_as_a_percentage_with_one_decimal(value, expected) -> None:
    assert persen(value) == expected


# --- render ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "pdf"])
def test_an_export_is_named_after_the_document_and_typed_by_its_format(fmt) -> None:
    export = render(DOCUMENT, fmt)
    assert isinstance(export, Export)
    assert export.filename == f"laporan-32.73-2026-S1.{fmt}"
    assert export.media_type == FORMATS[fmt]
    assert export.content


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="docx"):
        render(DOCUMENT, "docx")


def test_a_row_that_does_not_match_the_columns_is_refused() -> None:
    table = Table("Salah", (Column("A"), Column("B")), rows=(("satu",),))
    document = Document("X", (), (table,), date(2026, 1, 1), "x")
    with pytest.raises(ValueError):
        render(document, "csv")


# --- XLSX -----------------------------------------------------------------------------------------


def test_xlsx_puts_own_sheet_tables_on_sheets_named_within_excels_rules(workbook) -> None:
    assert workbook.sheetnames == ["Ringkasan", "Rekap Urusan", "Lampiran- Daftar Lengkap Kerja"]


def test_xlsx_sheet_names_stay_unique_after_sanitising() -> None:
    names = ("Data/2026", "Data:2026", "ringkasan")
    tables = tuple(Table("T", (Column("A"),), (("x",),), sheet=name) for name in names)
    document = Document("X", (), tables, date(2026, 1, 1), "x")
    book = openpyxl.load_workbook(BytesIO(render(document, "xlsx").content))
    assert book.sheetnames == ["Ringkasan", "Data-2026", "Data-2026 (2)", "ringkasan (2)"]


def test_xlsx_every_sheet_starts_with_the_title_meta_and_print_date(workbook) -> None:
    for sheet in workbook:
        assert rows_of(sheet)[:6] == [
            ("LAPORAN PELAKSANAAN KERJA SAMA DAERAH",) + (None,) * (sheet.max_column - 1),
            ("Pemerintah Kota Bandung",) + (None,) * (sheet.max_column - 1),
            (None,) * sheet.max_column,
            ("Daerah", "Kota Bandung (32.73)") + (None,) * (sheet.max_column - 2),
            ("Periode", "Semester I 2026") + (None,) * (sheet.max_column - 2),
            ("Dicetak", "29 November 2026") + (None,) * (sheet.max_column - 2),
        ]
        assert sheet["A1"].font.b
        assert sheet["A4"].font.b


def test_xlsx_summary_holds_the_narrative_and_the_tables_without_a_sheet_in_order(workbook) -> None:
    firsts = [row[0] for row in rows_of(workbook["Ringkasan"]) if row[0] is not None]
    narrative = firsts.index("Uraian Pelaksanaan")
    assert firsts[narrative + 1 : narrative + 3] == NARRATIVE.splitlines()
    assert firsts.index("Daftar Kerja Sama") > narrative
    assert firsts.index("Kerja Sama Berakhir") > firsts.index("Daftar Kerja Sama")
    assert firsts[firsts.index("Kerja Sama Berakhir") + 2] == "Belum ada data."
    assert "Rekap per Urusan" not in firsts


def test_xlsx_table_header_is_bold_and_holds_the_column_headers(workbook) -> None:
    header = row_starting(workbook["Ringkasan"], "No.")
    assert [cell.value for cell in header] == [column.header for column in AGREEMENTS.columns]
    assert all(cell.font.b and cell.border.top.style for cell in header)


def test_xlsx_cells_are_typed_so_a_spreadsheet_can_compute_with_them(workbook) -> None:
    sheet = workbook["Ringkasan"]
    first = row_starting(sheet, 1)
    assert first[1].value == "32.73" and first[1].data_type == "s"
    assert first[4].value == 2_500_000_000
    assert "Rp" in first[4].number_format
    assert first[5].value.date() == date(2026, 11, 22)
    assert first[5].number_format == "[$-421]d mmmm yyyy"
    assert first[6].value == pytest.approx(0.755) and first[6].number_format == "0.0%"
    assert first[7].value == "Ya"
    second = row_starting(sheet, 2)
    assert second[3].value is None
    assert second[4].value == pytest.approx(1_234_567.5)
    assert second[7].value == "Tidak"


def test_xlsx_total_row_is_bold_and_keeps_the_callers_values(workbook) -> None:
    total = row_starting(workbook["Ringkasan"], "Jumlah")
    assert [cell.value for cell in total] == ["Jumlah", None, None, None, pytest.approx(2_501_234_567.5), None,
                                              None, None]
    assert total[0].font.b and total[4].font.b


def test_xlsx_own_sheet_table_freezes_under_its_header_and_prints_it_on_every_page(workbook) -> None:
    sheet = workbook["Lampiran- Daftar Lengkap Kerja"]
    header = row_starting(sheet, "Nomor")[0].row
    assert sheet.freeze_panes == f"A{header + 1}"
    assert sheet.print_title_rows == f"${header}:${header}"
    assert [cell.value for cell in row_starting(sheet, "Nomor")] == ["Nomor", "Uraian Kerja Sama", "Nilai (Rp)"]
    assert sheet.cell(header + 120, 1).value == "KS-120"
    assert sheet.column_dimensions["B"].width == pytest.approx(50, abs=1)


def test_xlsx_prints_a4_landscape_one_page_wide_with_numbered_pages(workbook) -> None:
    for sheet in workbook:
        assert sheet.page_setup.orientation == "landscape"
        assert int(sheet.page_setup.paperSize) == 9
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToWidth in (None, 1)  # 1 is the default, so it may be left out of the file
        assert sheet.page_setup.fitToHeight == 0
        assert "Halaman &P dari &N" in sheet.oddFooter.right.text
        assert "LAPORAN PELAKSANAAN KERJA SAMA DAERAH" in sheet.oddHeader.center.text


def test_xlsx_carries_the_document_properties(workbook) -> None:
    assert workbook.properties.title == "LAPORAN PELAKSANAAN KERJA SAMA DAERAH"
    assert workbook.properties.creator == "Sinergi KSD"


def test_xlsx_keeps_a_narrative_line_that_looks_like_a_formula_as_text() -> None:
    document = Document("X", (), (Text("Catatan", "=1+1"),), date(2026, 1, 1), "x")
    sheet = openpyxl.load_workbook(BytesIO(render(document, "xlsx").content))["Ringkasan"]
    assert "=1+1" in [row[0] for row in rows_of(sheet)]


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_starts_with_a_bom_and_the_heading_lines() -> None:
    content = render(DOCUMENT, "csv").content
    assert content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert lines[:6] == [
        ["LAPORAN PELAKSANAAN KERJA SAMA DAERAH"],
        ["Pemerintah Kota Bandung"],
        ["Daerah", "Kota Bandung (32.73)"],
        ["Periode", "Semester I 2026"],
        ["Dicetak", "29 November 2026"],
        [],
    ]


def test_csv_writes_the_narrative_as_typed(csv_lines) -> None:
    start = csv_lines.index(["Uraian Pelaksanaan"])
    assert csv_lines[start + 1 : start + 4] == [[line] for line in NARRATIVE.splitlines()] + [[]]


def test_csv_defuses_typed_text_a_spreadsheet_would_run_as_a_formula() -> None:
    table = Table("T", (Column("Uraian"), Column("Nilai", "rupiah")), (("=HYPERLINK(\"http://x\")", -1500),
                                                                       ("- Armada kurang", None), ("@SUM(A1)", 0)))
    document = Document("X", (), (Text("Catatan", "+62 812"), table), date(2026, 1, 1), "x")
    lines = list(csv.reader(StringIO(render(document, "csv").content.decode("utf-8-sig")), delimiter=";"))
    assert ["'+62 812"] in lines
    assert ["'=HYPERLINK(\"http://x\")", "-Rp 1.500"] in lines  # our own negative figure stays a figure
    assert ["'- Armada kurang", "-"] in lines and ["'@SUM(A1)", "Rp 0"] in lines


def test_csv_writes_table_values_formatted_for_people(csv_lines) -> None:
    start = csv_lines.index(["Daftar Kerja Sama"])
    assert csv_lines[start + 1] == [column.header for column in AGREEMENTS.columns]
    assert csv_lines[start + 2] == ["1", "32.73", "Pengolahan Sampah Regional Legok Nangka", "Kabupaten Bandung",
                                    "Rp 2.500.000.000", "22 November 2026", "75,5%", "Ya"]
    assert csv_lines[start + 3] == ["2", "32.73", "Penyediaan Air Minum Lintas Daerah", "-", "Rp 1.234.568",
                                    "2 Maret 2026", "100%", "Tidak"]
    assert csv_lines[start + 4] == ["Jumlah", "", "", "", "Rp 2.501.234.568", "", "", ""]
    assert csv_lines[start + 5] == []


def test_csv_writes_an_empty_tables_header_and_note(csv_lines) -> None:
    start = csv_lines.index(["Kerja Sama Berakhir"])
    assert csv_lines[start + 1 : start + 3] == [["Judul Kerja Sama", "Tanggal Berakhir"], ["Belum ada data."]]


def test_csv_writes_every_table_whatever_its_sheet(csv_lines) -> None:
    start = csv_lines.index(["Daftar Lengkap Kerja Sama"])
    assert csv_lines[start + 2] == ["KS-001", "Kerja sama bidang pelayanan publik nomor 1", "Rp 1.000.000"]
    assert csv_lines[-1] == ["KS-120", "Kerja sama bidang pelayanan publik nomor 120", "Rp 120.000.000"]
    assert ["Rekap per Urusan"] in csv_lines


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_spans_several_pages_for_a_long_table(pdf) -> None:
    assert len(pdf.pages) > 1


def test_pdf_first_page_shows_the_title_meta_and_tables(pdf) -> None:
    text = pdf.pages[0].extract_text()
    for expected in ("LAPORAN PELAKSANAAN KERJA SAMA DAERAH", "Pemerintah Kota Bandung", "Kota Bandung (32.73)",
                     "Semester I 2026", "29 November 2026", "Judul Kerja Sama", "Nilai (Rp)", "Realisasi",
                     "Rp 2.500.000.000", "22 November 2026", "75,5%", "Tidak", "Jumlah", "Belum ada data."):
        assert expected in text


def test_pdf_shows_the_narrative_characters_as_typed(pdf) -> None:
    text = pdf.pages[0].extract_text()
    assert "berjalan baik & tepat waktu." in text
    assert "Realisasi < target, lihat <Lampiran II>." in text
    assert "&amp;" not in text and "&lt;" not in text


def test_pdf_keeps_words_whole_in_a_narrow_column(pdf) -> None:
    # "No." is 5 characters wide, yet the total row's label in it must not break into pieces.
    assert re.search(r"Jumlah\s+Rp 2\.501\.234\.568", pdf.pages[0].extract_text())


def test_pdf_numbers_every_page_out_of_the_total_in_its_footer(pdf) -> None:
    count = len(pdf.pages)
    for number, page in enumerate(pdf.pages, start=1):
        text = page.extract_text()
        assert f"Halaman {number} dari {count}" in text
        assert "Sinergi KSD · LAPORAN PELAKSANAAN KERJA SAMA DAERAH · Dicetak 29 November 2026" in text


def test_pdf_repeats_the_table_header_on_the_following_pages(pdf) -> None:
    for page in pdf.pages[1:]:
        text = page.extract_text()
        assert "Uraian Kerja Sama" in text
        assert "Kerja sama bidang pelayanan publik nomor" in text
    assert "KS-120" in pdf.pages[-1].extract_text()


def test_pdf_carries_the_document_properties(pdf) -> None:
    assert pdf.metadata.title == "LAPORAN PELAKSANAAN KERJA SAMA DAERAH"
    assert pdf.metadata.author == "Sinergi KSD"


def test_a_column_for_the_spreadsheet_only_is_left_out_of_the_pdf_and_numbers_never_break() -> None:
    columns = (*tuple(Column(f"Kolom {i}", width=30) for i in range(9)), Column("Urusan", printed=False),
               Column("Nilai (Rp)", "rupiah", 6))
    table = Table("Lebar", columns, ((*(f"teks {i}" for i in range(9)), "1.03 pekerjaan umum", 12_500_000_000),))
    document = Document("Dokumen Lebar", (), (table,), date(2026, 8, 25), "lebar",
                        closing=("Bandung, 25 Agustus 2026", "Wali Kota Bandung", "", "NIP ..."))
    text = PdfReader(BytesIO(render(document, "pdf").content)).pages[0].extract_text()
    assert "Urusan" not in text and "pekerjaan umum" not in text
    assert "Rp 12.500.000.000" in text  # whole, though its column's hint is narrow
    assert "Wali Kota Bandung" in text and "NIP ..." in text
    lines = list(csv.reader(StringIO(render(document, "csv").content.decode("utf-8-sig")), delimiter=";"))
    assert "Urusan" in lines[lines.index(["Lebar"]) + 1] and ["Wali Kota Bandung"] in lines
    sheet = openpyxl.load_workbook(BytesIO(render(document, "xlsx").content))["Ringkasan"]
    values = [v for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    assert "Urusan" in values and "Wali Kota Bandung" in values
