"""How people read the platform's codes, in Bahasa Indonesia (DOMAIN.md): the platform's
vocabulary, for exported reports, the web pages and other text an official reads.

Keyed by the codes the APIs carry (plain strings); a service's own enums (e.g. monitoring's
`Kind`, `Severity`, StrEnums of the same values) look them up as they are. Imports no service:
the web, a client of the services' APIs, reads the same words the services write.
"""

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

# The alerts (monitoring's `Kind`, in its order): what each kind means, for people (API
# listings, notifications, the dashboards).
ALERT_KINDS = {
    "kb_without_pks": "Kesepakatan Bersama belum ditindaklanjuti PKS",
    "pks_without_progress": "PKS berjalan tanpa laporan kemajuan",
    "expiring": "Naskah kerja sama segera berakhir",
    "expired_still_active": "Naskah melewati masa berlaku tetapi masih tercatat berlaku",
    "approval_pending": "Persetujuan belum diputus",
    "no_neighbour_cooperation": "Belum ada kerja sama aktif dengan daerah tetangga",
}

# An alert's severity (monitoring's `Severity`, least first), in words.
ALERT_SEVERITIES = {"info": "informasi", "warning": "perlu perhatian", "critical": "kritis"}


def label(table: dict[str, str], code: str | None) -> str:
    return "-" if code is None else table.get(code, code)
