"""Reading an import file (`read_rows`) stays within the file's own size: a small XLSX that
declares a vast sheet (a cell in column XFD, a row numbered in the millions) or a CSV of blank
lines is read without filling memory, and nothing it holds is lost or invented."""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from services.registry.imports import EXCEL_MAX_ROWS, HEADERS, InvalidTemplate, read_rows, template_xlsx

LIMITS = {"max_bytes": 10_000_000, "max_rows": 20_000}
# What reading these files may allocate at its peak. Before the fix, the first file below
# (11 kB) took 393 MB: 3,000 rows of 16,384 cells each.
MEMORY_BOUND = 32 * 1024 * 1024


def workbook(cells: dict[tuple[int, int], Any]) -> bytes:
    """The template with `cells` ((row, column) -> value) set on its data sheet."""
    book = openpyxl.load_workbook(io.BytesIO(template_xlsx()))
    sheet = book["Kerja Sama"]
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def peak_while(read: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = read()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_cell_far_to_the_right_does_not_widen_every_row() -> None:
    content = workbook({(2, 1): "kesepakatan", (2, 2): "KB/1", (3000, 16384): "x"})
    assert len(content) < 20_000
    rows, peak = peak_while(lambda: read_rows(content, "lebar.xlsx", **LIMITS))
    assert [(r.number, r.cells["kind"], r.cells["framework_number"]) for r in rows] == [(2, "kesepakatan", "KB/1")]
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MB"


def test_a_row_on_excels_last_line_is_read_and_the_rows_before_it_take_no_memory() -> None:
    content = workbook({(EXCEL_MAX_ROWS, 1): "kesepakatan", (EXCEL_MAX_ROWS, 2): "KB/2"})
    rows, peak = peak_while(lambda: read_rows(content, "panjang.xlsx", **LIMITS))
    assert [(r.number, r.cells["framework_number"]) for r in rows] == [(EXCEL_MAX_ROWS, "KB/2")]
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MB"


def renumbered(content: bytes, old: int, new: int) -> bytes:
    """`content` with its data sheet's row `old` renumbered `new` (what openpyxl will not write)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/") and f'<row r="{old}"'.encode() in data:
                data = data.replace(f'<row r="{old}"'.encode(), f'<row r="{new}"'.encode())
                data = re.sub(rf'r="([A-Z]+){old}"'.encode(), rf'r="\g<1>{new}"'.encode(), data)
            target.writestr(item, data)
    return out.getvalue()


@pytest.mark.parametrize("beyond", [EXCEL_MAX_ROWS + 1, 50_000_000])
def test_a_row_beyond_excels_last_line_refuses_the_file_whole(beyond: int) -> None:
    content = renumbered(workbook({(2, 1): "kesepakatan", (3, 1): "kesepakatan", (3, 2): "KB/3"}), 3, beyond)
    def read() -> str:
        with pytest.raises(InvalidTemplate) as refused:
            read_rows(content, "jauh.xlsx", **LIMITS)
        return refused.value.detail

    detail, peak = peak_while(read)
    assert "batas Excel" in detail
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MB"


def test_blank_lines_in_a_csv_take_no_memory_and_the_row_after_them_keeps_its_line_number() -> None:
    header = ";".join(HEADERS)
    data_row = ";".join(["kesepakatan", "KB/4"] + [""] * (len(HEADERS) - 2))
    content = f"{header}\n".encode() + b"\n" * 1_000_000 + f"{data_row}\n".encode()
    rows, peak = peak_while(lambda: read_rows(content, "kosong.csv", **LIMITS))
    assert [(r.number, r.cells["framework_number"]) for r in rows] == [(1_000_002, "KB/4")]
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MB"


def test_the_row_limit_counts_rows_with_data_only() -> None:
    cells: dict[tuple[int, int], Any] = {(r, 1): "kesepakatan" for r in range(2, 7)}
    cells[(5000, 40)] = "di luar kolom templat"  # (not a data cell: beyond the header)
    content = workbook(cells)
    assert len(read_rows(content, "lima.xlsx", max_bytes=10_000_000, max_rows=5)) == 5
    with pytest.raises(InvalidTemplate) as refused:
        read_rows(content, "lima.xlsx", max_bytes=10_000_000, max_rows=4)
    assert refused.value.code == "too_many_rows"


def with_shared_strings(content: bytes, n: int) -> bytes:
    """`content` with `n` more one-letter strings in its shared string table (unused)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                data = data.replace(b"</sst>", b"<si><t>a</t></si>" * n + b"</sst>")
            target.writestr(item, data)
    return out.getvalue()


def test_a_file_holding_more_xml_than_its_rows_could_is_refused_before_it_is_parsed() -> None:
    # 465 kB of eleven million such strings kept the reader busy 77 s and took 1 GB; here
    # the same shape, scaled to a limit of 100 rows (160,000 tags against 130,000).
    # (The template as served: its headers are shared strings, as in Excel's own files.)
    content = template_xlsx()
    assert read_rows(content, "kosong.xlsx", max_bytes=10_000_000, max_rows=100) == []
    padded = with_shared_strings(content, 40_000)
    with pytest.raises(InvalidTemplate) as refused:
        read_rows(padded, "padat.xlsx", max_bytes=10_000_000, max_rows=100)
    assert "terlalu besar" in refused.value.detail
    assert read_rows(padded, "padat.xlsx", max_bytes=10_000_000, max_rows=20_000) == []
