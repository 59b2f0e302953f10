"""How people read the platform's codes, in Bahasa Indonesia (DOMAIN.md): for exported
reports and other text an official reads."""

from __future__ import annotations

FORMS = {
    "KSDD": "Kerja Sama Daerah dengan Daerah Lain",
    "KSDPK": "Kerja Sama Daerah dengan Pihak Ketiga",
    "KSDPL": "Kerja Sama Daerah dengan Pemerintah Daerah di Luar Negeri",
    "KSDLL": "Kerja Sama Daerah dengan Lembaga di Luar Negeri",
    "SINERGI": "Sinergi perencanaan dan pelaksanaan pembangunan",
}

STAGES = {
    "persiapan": "Persiapan",
    "penawaran": "Penawaran",
    "penyusunan_kesepakatan": "Penyusunan kesepakatan",
    "kesepakatan_ditandatangani": "Kesepakatan ditandatangani",
    "pelaksanaan": "Pelaksanaan",
    "berakhir": "Berakhir",
    "dibatalkan": "Dibatalkan",
}

DOCUMENTS = {
    "kesepakatan_bersama": "Kesepakatan Bersama",
    "nota_kesepakatan": "Nota Kesepakatan",
    "mou": "MoU",
    "loi": "LoI",
    "perjanjian_kerja_sama": "PKS",
}

DOCUMENT_STAGES = {
    "penyusunan": "Penyusunan",
    "menunggu_persetujuan_dprd": "Menunggu persetujuan DPRD",
    "ditandatangani": "Berlaku",
    "berakhir": "Berakhir",
    "diputus": "Diputus",
    "dibatalkan": "Dibatalkan",
}

PARTNER_TYPES = {
    "perorangan": "Perorangan",
    "badan_usaha": "Badan usaha",
    "bumn": "BUMN",
    "bumd": "BUMD",
    "ormas": "Organisasi kemasyarakatan",
    "perguruan_tinggi_swasta": "Perguruan tinggi swasta",
    "pemerintah_daerah_luar_negeri": "Pemerintah daerah di luar negeri",
    "lembaga_luar_negeri": "Lembaga di luar negeri",
    "kementerian": "Kementerian",
    "lembaga_pemerintah_nonkementerian": "Lembaga pemerintah nonkementerian",
}

RECOMMENDATIONS = {"dilanjutkan": "Dilanjutkan", "diperluas": "Diperluas", "dihentikan": "Dihentikan"}

CATEGORIES = {"wajib": "Wajib", "sukarela": "Sukarela"}


def label(table: dict[str, str], code: str | None) -> str:
    return "-" if code is None else table.get(code, code)
