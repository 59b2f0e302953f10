"""Rupiah amounts as people type them, and whole numbers as Indonesian text writes them (pure).
Indonesian documents write thousands with dots and sen after a comma ("Rp 1.500.000.000,00",
"Rp1.500.000,-"), English ones the other way round ("1,500,000.00"). The platform keeps whole
rupiah: read as bare digits, "Rp 1.500.000.000,00" would be a hundred times the value."""

from __future__ import annotations

import re

# Thousands in groups of three after one kind of separator, then perhaps the other separator
# with sen (or "-", "no sen").
_TYPED = re.compile(r"(?P<sign>-)?(?P<whole>\d{1,3}(?:(?P<group>[.,])\d{3})(?:(?P=group)\d{3})*|\d+)"
                    r"(?:(?P<point>[.,])(?P<sen>\d{1,2}|-))?")


def thousands(number: int) -> str:
    """A whole number as Indonesian text writes it, thousands separated by dots: 1250000 ->
    `1.250.000` (rupiah, counts, bytes)."""
    return f"{number:,}".replace(",", ".")


def parse_rupiah(typed: str) -> int:
    """The whole rupiah `typed` means (`Rp`, `Rp.` or `IDR` and spaces allowed; a sign kept
    for the caller's rules to judge). ValueError, its message in Bahasa Indonesia, for another
    notation or sen that are not zero."""
    text = re.sub(r"[\s\u00a0]", "", re.sub(r"^(?:Rp\.?|IDR)", "", typed.strip(), flags=re.IGNORECASE))
    match = _TYPED.fullmatch(text)
    if match is None or len(text) > 30 or (match["point"] and match["point"] == match["group"]):
        raise ValueError("bukan jumlah rupiah (contoh: 1.500.000.000 atau Rp 1.500.000.000,00)")
    if match["sen"] not in (None, "-") and int(match["sen"]):
        raise ValueError("harus bilangan bulat rupiah, tanpa sen")
    whole = int(re.sub(r"[.,]", "", match["whole"]))
    return -whole if match["sign"] else whole
