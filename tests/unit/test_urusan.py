import re
from collections import Counter

import msgspec

from shared.urusan import URUSAN, Urusan, get_urusan


def test_thirty_two_unique_codes():
    codes = [u.code for u in URUSAN]
    assert len(URUSAN) == 32
    assert len(set(codes)) == 32
    assert codes == sorted(codes, key=lambda c: int(c.split(".")[1]))
    assert [int(c.split(".")[1]) for c in codes] == list(range(1, 33))


def test_kind_counts_and_code_prefixes():
    assert Counter(u.kind for u in URUSAN) == {
        "wajib_pelayanan_dasar": 6,
        "wajib_non_pelayanan_dasar": 18,
        "pilihan": 8,
    }
    prefix = {"wajib_pelayanan_dasar": "1", "wajib_non_pelayanan_dasar": "2", "pilihan": "3"}
    for u in URUSAN:
        assert re.fullmatch(r"[123]\.\d{2}", u.code)
        assert u.code.startswith(prefix[u.kind] + ".")


def test_names_lower_case():
    for u in URUSAN:
        assert u.name == u.name.lower() and u.name.strip() == u.name


def test_get_urusan():
    assert get_urusan("1.01") == Urusan("1.01", "pendidikan", "wajib_pelayanan_dasar")
    assert get_urusan("1.05").name == "ketenteraman, ketertiban umum dan pelindungan masyarakat"
    assert get_urusan("2.17").name == "koperasi, usaha kecil dan menengah"
    assert get_urusan("3.32") == Urusan("3.32", "transmigrasi", "pilihan")
    assert get_urusan("3.33") is None
    assert get_urusan("1.1") is None


def test_msgspec_round_trip():
    data = msgspec.json.encode(URUSAN)
    assert msgspec.json.decode(data, type=tuple[Urusan, ...]) == URUSAN
