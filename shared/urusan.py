"""The 32 urusan pemerintahan (government affairs), coded as in Permendagri 90/2019.

The object of a cooperation is classified by urusan. Kinds:
- ``wajib_pelayanan_dasar``: mandatory, basic services (1.01–1.06);
- ``wajib_non_pelayanan_dasar``: mandatory, not basic services (2.07–2.24);
- ``pilihan``: optional (3.25–3.32).
"""

from __future__ import annotations

from typing import Literal

import msgspec

UrusanKind = Literal["wajib_pelayanan_dasar", "wajib_non_pelayanan_dasar", "pilihan"]


class Urusan(msgspec.Struct, frozen=True):
    code: str
    name: str
    kind: UrusanKind


def _group(kind: UrusanKind, *entries: tuple[str, str]) -> tuple[Urusan, ...]:
    return tuple(Urusan(code=code, name=name, kind=kind) for code, name in entries)


URUSAN: tuple[Urusan, ...] = (
    *_group(
        "wajib_pelayanan_dasar",
        ("1.01", "pendidikan"),
        ("1.02", "kesehatan"),
        ("1.03", "pekerjaan umum dan penataan ruang"),
        ("1.04", "perumahan rakyat dan kawasan permukiman"),
        ("1.05", "ketenteraman, ketertiban umum dan pelindungan masyarakat"),
        ("1.06", "sosial"),
    ),
    *_group(
        "wajib_non_pelayanan_dasar",
        ("2.07", "tenaga kerja"),
        ("2.08", "pemberdayaan perempuan dan pelindungan anak"),
        ("2.09", "pangan"),
        ("2.10", "pertanahan"),
        ("2.11", "lingkungan hidup"),
        ("2.12", "administrasi kependudukan dan pencatatan sipil"),
        ("2.13", "pemberdayaan masyarakat dan desa"),
        ("2.14", "pengendalian penduduk dan keluarga berencana"),
        ("2.15", "perhubungan"),
        ("2.16", "komunikasi dan informatika"),
        ("2.17", "koperasi, usaha kecil dan menengah"),
        ("2.18", "penanaman modal"),
        ("2.19", "kepemudaan dan olah raga"),
        ("2.20", "statistik"),
        ("2.21", "persandian"),
        ("2.22", "kebudayaan"),
        ("2.23", "perpustakaan"),
        ("2.24", "kearsipan"),
    ),
    *_group(
        "pilihan",
        ("3.25", "kelautan dan perikanan"),
        ("3.26", "pariwisata"),
        ("3.27", "pertanian"),
        ("3.28", "kehutanan"),
        ("3.29", "energi dan sumber daya mineral"),
        ("3.30", "perdagangan"),
        ("3.31", "perindustrian"),
        ("3.32", "transmigrasi"),
    ),
)

_BY_CODE = {u.code: u for u in URUSAN}


def get_urusan(code: str) -> Urusan | None:
    return _BY_CODE.get(code)
