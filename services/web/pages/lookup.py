"""Pickers that search reference data by name: regions (`/cari/daerah?q=band`) and urusan
(`/cari/urusan?q=sampah`). They answer small HTML fragments (checkboxes, or a listbox of
options) for htmx; the data is the bundled reference data, no service is called."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from litestar import Request, get
from litestar.response import Template

from services.web.format import urusan_label
from services.web.pages.common import as_list
from services.web.session import User
from shared.regions import Region, load_regions
from shared.urusan import URUSAN, Urusan, get_urusan

MAX_RESULTS = 15
_REGION_CODE = re.compile(r"^\d{2}(\.\d{2})?$")

# Words people use for what a cooperation is about, and the urusan that covers it
# (Permendagri 90/2019): "sampah" is lingkungan hidup, "air minum" pekerjaan umum, ...
URUSAN_WORDS: dict[str, tuple[str, ...]] = {
    "sampah": ("2.11",), "limbah": ("2.11",), "tpst": ("2.11",), "tpa": ("2.11",), "polusi": ("2.11",),
    "air minum": ("1.03",), "spam": ("1.03",), "jalan": ("1.03", "2.15"), "jembatan": ("1.03",),
    "irigasi": ("1.03",), "drainase": ("1.03",), "banjir": ("1.03", "1.05"), "tata ruang": ("1.03",),
    "sungai": ("1.03",), "rumah": ("1.04",), "permukiman": ("1.04",), "sekolah": ("1.01",),
    "guru": ("1.01",), "rumah sakit": ("1.02",), "puskesmas": ("1.02",), "ambulans": ("1.02",),
    "bencana": ("1.05",), "kebakaran": ("1.05",), "damkar": ("1.05",), "satpol": ("1.05",),
    "angkutan": ("2.15",), "transportasi": ("2.15",), "terminal": ("2.15",), "bus": ("2.15",),
    "internet": ("2.16",), "data": ("2.16", "2.20"), "umkm": ("2.17",), "koperasi": ("2.17",),
    "investasi": ("2.18",), "olahraga": ("2.19",), "budaya": ("2.22",), "wisata": ("3.26",),
    "ikan": ("3.25",), "laut": ("3.25",), "tani": ("3.27",), "ternak": ("3.27",), "hutan": ("3.28",),
    "listrik": ("3.29",), "tambang": ("3.29",), "pasar": ("3.30",), "dagang": ("3.30",),
    "industri": ("3.31",), "ktp": ("2.12",), "kependudukan": ("2.12",), "desa": ("2.13",),
    "kb": ("2.14",), "beras": ("2.09",), "tanah": ("2.10",), "anak": ("2.08",), "perempuan": ("2.08",),
    "kerja": ("2.07",), "pelatihan": ("2.07",), "arsip": ("2.24",), "pustaka": ("2.23",),
}


def _fold(text: str) -> str:
    """Lower case without accents, for matching what a person types."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def region_label(region: Region) -> str:
    if region.kind == "provinsi":
        return f"Provinsi {region.display_name} ({region.code})"
    province = load_regions().get(region.province_code)
    where = f", {province.display_name}" if province is not None else ""
    return f"{region.display_name}{where} ({region.code})"


def search_regions(q: str | None, *, limit: int = MAX_RESULTS, parties_only: bool = True) -> list[Region]:
    """Regions whose code or name matches: a code prefix (`32.0`), or every word of the query
    in the name (`band` -> Kabupaten Bandung, Kota Bandung, Kabupaten Bandung Barat).
    Names that begin with a word of the query come first, provinces before kab/kota."""
    text = _fold((q or "").strip())
    if not text:
        return []
    catalog = load_regions()
    candidates = [r for r in catalog.all() if r.autonomous or not parties_only]
    if re.fullmatch(r"[\d.]+", text):
        return [r for r in candidates if r.code.startswith(text)][:limit]
    words = text.split()
    found: list[tuple[int, str, Region]] = []
    for r in candidates:
        name = _fold(r.display_name)
        if all(w in name for w in words):
            bare = re.sub(r"^(kabupaten|kota|provinsi) ", "", name)
            rank = 0 if bare.startswith(words[0]) else 1
            found.append((rank, r.code, r))
    found.sort(key=lambda t: (t[0], len(t[1]), t[1]))
    return [r for _, _, r in found[:limit]]


def resolve_region(text: str | None) -> Region | None:
    """A code, or a name that matches one region best (exact name first)."""
    text = (text or "").strip()
    if not text:
        return None
    catalog = load_regions()
    if _REGION_CODE.fullmatch(text):
        return catalog.get(text)
    folded = _fold(text)
    for r in catalog.all():
        if _fold(r.display_name) == folded or _fold(r.name) == folded:
            return r
    found = search_regions(text, limit=1, parties_only=False)
    return found[0] if found else None


def search_urusan(q: str | None) -> list[Urusan]:
    """Urusan by code, by name, or by a word for what the cooperation is about (`sampah`)."""
    text = _fold((q or "").strip())
    if not text:
        return list(URUSAN)
    codes: list[str] = []
    for u in URUSAN:
        if u.code.startswith(text) or all(w in _fold(u.name) for w in text.split()):
            codes.append(u.code)
    for word, mapped in URUSAN_WORDS.items():
        if word.startswith(text) or text.startswith(word) or (len(text) >= 3 and text in word):
            codes.extend(c for c in mapped if c not in codes)
    return [found for c in codes if (found := get_urusan(c)) is not None]


def _chosen(values: Any) -> list[str]:
    return [str(v) for v in as_list(values) if v]


@get("/cari/daerah", sync_to_thread=False)
def find_regions(request: Request[Any, Any, Any], user: User, q: str | None = None,
                 parties: list[str] | None = None, bentuk: str | None = None,
                 cari_daerah: str | None = None, region: str | None = None) -> Template:
    """Regions matching `q` (or the form field that asked: `cari_daerah`, `region`). Default:
    checkboxes named `parties` (those already chosen stay, checked, first); `bentuk=opsi`:
    <option>s for a filter's datalist."""
    q = q or cari_daerah or region
    chosen = [c for c in _chosen(parties) if load_regions().get(c) is not None]
    options = bentuk == "opsi"
    matches = [r for r in search_regions(q) if options or (r.code not in chosen and r.code != user.tenant)]
    catalog = load_regions()
    return Template(
        template_name="kerja_sama/_cari_daerah.html",
        context={
            "chosen": [(c, region_label(catalog.get(c))) for c in chosen],  # type: ignore[arg-type]
            "matches": [(r.code, region_label(r)) for r in matches],
            "q": q or "", "options": options,
        },
    )


@get("/cari/urusan", sync_to_thread=False)
def find_urusan(request: Request[Any, Any, Any], user: User, q: str | None = None,
                urusan: list[str] | None = None, cari_urusan: str | None = None) -> Template:
    """Urusan matching `q` (or `cari_urusan`, the form's field) as checkboxes named `urusan`;
    those already chosen stay, checked."""
    q = q or cari_urusan
    chosen = [c for c in _chosen(urusan) if get_urusan(c) is not None]
    matches = [u for u in search_urusan(q) if u.code not in chosen]
    return Template(
        template_name="kerja_sama/_cari_urusan.html",
        context={
            "chosen": [(c, urusan_label(c, get_urusan(c).name)) for c in chosen],  # type: ignore[union-attr]
            "matches": [(u.code, urusan_label(u.code, u.name)) for u in matches],
            "q": q or "",
        },
    )


routes = [find_regions, find_urusan]
