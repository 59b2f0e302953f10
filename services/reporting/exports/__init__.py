"""Official-looking exports of a report: one neutral document model (`model`), rendered as
XLSX, CSV or PDF, one module per format.

Pure rendering: no database, no HTTP, no clock (the print date is part of the document). Whatever a
person reads in the output is Bahasa Indonesia; numbers and dates follow Indonesian conventions
(`Rp 2.500.000.000`, `1.234,5`, `75,5%`, `22 November 2026`).
"""

from __future__ import annotations

from services.reporting.exports.csvfile import _render_csv
from services.reporting.exports.model import (
    FORMATS,
    Column,
    ColumnKind,
    Document,
    Export,
    Letter,
    Signatory,
    Table,
    Text,
    angka,
    persen,
    rupiah,
)
from services.reporting.exports.pdf import _render_pdf
from services.reporting.exports.xlsx import _render_xlsx

__all__ = ["FORMATS", "Column", "ColumnKind", "Document", "Export", "Letter", "Signatory", "Table", "Text", "angka",
           "persen", "render", "rupiah"]

_RENDERERS = {"xlsx": _render_xlsx, "csv": _render_csv, "pdf": _render_pdf}


def render(document: Document, fmt: str) -> Export:
    """The document as `xlsx`, `csv` or `pdf`; any other format raises ValueError."""
    if fmt not in FORMATS:
        raise ValueError(f"format ekspor tidak dikenal: {fmt!r} (pilihan: {', '.join(FORMATS)})")
    content = _RENDERERS[fmt](document)
    return Export(content=content, media_type=FORMATS[fmt], filename=f"{document.filename}.{fmt}")
