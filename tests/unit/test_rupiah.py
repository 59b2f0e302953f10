"""`shared.rupiah.thousands`: the one way whole numbers are written for people (the import's
and the registry's messages, the request-size refusal, the web pages, charts and maps)."""

from __future__ import annotations

import pytest

from shared.rupiah import parse_rupiah, thousands


@pytest.mark.parametrize(("number", "text"), [
    (0, "0"), (999, "999"), (1_000, "1.000"), (1_250_000, "1.250.000"), (-1_500, "-1.500"),
    (9_007_199_254_740_991, "9.007.199.254.740.991"),
])
def test_thousands_are_separated_by_dots(number: int, text: str) -> None:
    assert thousands(number) == text
    assert parse_rupiah(text) == number  # and read back as typed
