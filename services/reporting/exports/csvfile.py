"""An export as CSV (UTF-8 with a byte order mark, safe against formula injection)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from services.reporting.exports.model import (
    Document,
    Text,
    _letter_meta,
    _printed,
    _row_texts,
)

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
