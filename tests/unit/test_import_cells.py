"""An import row's cells read as their columns' types: rupiah typed as text in the ways
Indonesian documents write it (and in English) give the value meant, or a refusal, never
another value."""

from __future__ import annotations

import pytest

from services.registry.imports import RawRow, RowRefused, _cell


def value_of(typed: object) -> object:
    return _cell(RawRow(2, {"value": typed}), "value")


@pytest.mark.parametrize(("typed", "meant"), [
    ("1500000000", 1_500_000_000),
    ("1.500.000.000", 1_500_000_000),
    ("Rp 1.500.000.000,00", 1_500_000_000),  # (was read as 150,000,000,000)
    ("Rp1.500.000,-", 1_500_000),
    ("Rp. 2.750.000", 2_750_000),
    ("IDR 2.000.000", 2_000_000),
    ("1,500,000.00", 1_500_000),  # (was read as 150,000,000)
    ("1 500 000", 1_500_000),
    ("1\u00a0500\u00a0000", 1_500_000),
    ("1500000,00", 1_500_000),
    ("1.500", 1_500),
    ("0", 0),
    (1_500_000, 1_500_000),
    (1_500_000.0, 1_500_000),
])
def test_rupiah_typed_as_text_gives_the_value_meant(typed: object, meant: int) -> None:
    assert value_of(typed) == meant


@pytest.mark.parametrize("typed", [
    "1.500.000,50",  # sen: the value is in whole rupiah
    "1.5",
    "1,500,000.25",
    "1.500,000.00",  # two conventions mixed
    "1.500.000.00",  # the same separator for thousands and sen
    "12.34.567",
    "-1.000",
    "satu juta",
    "1e9",
    1_500_000.5,
    True,
])
def test_rupiah_that_is_not_a_whole_amount_is_refused_with_its_column(typed: object) -> None:
    with pytest.raises(RowRefused) as refused:
        value_of(typed)
    assert refused.value.column == "Nilai (Rp)"


@pytest.mark.parametrize(("key", "typed", "read"), [
    ("partner_regions", 32.1, "32.10"),  # (32.10, Kabupaten Majalengka, typed in a number cell)
    ("partner_regions", 32.04, "32.04"),
    ("partner_regions", 32.0, "32"),
    ("partner_regions", 32.045, "32.045"),  # (not a code: refused as typed, not rounded to another)
    ("partner_regions", "32.10; 32.04", "32.10; 32.04"),
    ("urusan", 2.1, "2.10"),
])
def test_a_code_typed_in_a_number_cell_keeps_its_last_zero(key: str, typed: object, read: str) -> None:
    assert _cell(RawRow(2, {key: typed}), key) == read


def test_the_template_keeps_codes_and_numbers_as_typed_and_dates_and_values_as_numbers() -> None:
    import io

    import openpyxl

    from services.registry.imports import HEADERS, template_xlsx

    sheet = openpyxl.load_workbook(io.BytesIO(template_xlsx()))["Kerja Sama"]

    def column_format(header: str) -> str:
        """(openpyxl keys a run of columns of the same width and format by its first one)"""
        index = HEADERS.index(header) + 1
        runs = [d for d in sheet.column_dimensions.values() if (d.min or 0) <= index <= (d.max or 0)]
        return runs[0].number_format if runs else "General"

    assert [column_format(h) for h in ("Mitra Daerah", "Urusan", "Nomor Kesepakatan", "Nomor Surat Penawaran")] == [
        "@"] * 4
    assert column_format("Tanggal Penawaran") == column_format("Nilai (Rp)") == "General"


@pytest.mark.parametrize(("typed", "meant"), [
    ("5 Januari 2024", "2024-01-05"), ("05 januari 2024", "2024-01-05"), ("5 Jan 2024", "2024-01-05"),
    ("17 Agustus 1945", "1945-08-17"), ("5 Agt. 2024", "2024-08-05"), ("5 Mei 2024", "2024-05-05"),
    ("2024-01-05", "2024-01-05"), ("05/01/2024", "2024-01-05"),
])
def test_a_date_written_as_documents_write_it_is_read(typed: str, meant: str) -> None:
    assert _cell(RawRow(2, {"signed_on": typed}), "signed_on").isoformat() == meant


@pytest.mark.parametrize("typed", ["31 Februari 2024", "5 Januarii 2024", "5 May 2024", "5 Januari 24", "Januari 2024"])
def test_a_date_in_words_that_is_not_one_is_refused_with_its_column(typed: str) -> None:
    with pytest.raises(RowRefused) as refused:
        _cell(RawRow(2, {"signed_on": typed}), "signed_on")
    assert refused.value.column == "Tanggal Tanda Tangan"


def test_one_reading_of_rupiah_serves_the_import_and_the_web_forms() -> None:
    from services.web.format import typed_rupiah

    for typed in ("Rp 1.500.000.000,00", "1,500,000.00", "Rp1.500.000,-"):
        assert value_of(typed) == typed_rupiah(typed)
