"""Legacy import: agreements a region already holds in a spreadsheet, loaded as the events
their history implies (`POST /imports`, `ksd import`).

The template (`template_xlsx()`, `GET /imports/template.xlsx`) has one row per framework
(Kesepakatan) or PKS, with the real dates, numbers, parties, values and current stage. Each
row is turned into the lifecycle commands that lead to its stage and run through the
aggregate (`Agreement.start`, `Agreement.execute`), so every rule of the lifecycle applies to
imported history as it does to history typed in. Every event of an imported row carries, in
its `actor`, an `imported` mark (the file's SHA-256, the row, the importing officer's sub):
the legal dates are the document's, the transaction time is the import's, and an auditor can
tell imported steps from steps recorded live.

Idempotent: a family's id is derived from its natural key (the framework's number and its
parties), so importing the same file again, or a corrected copy of it, finds the family
already present and creates nothing; a PKS already present in the family (same number, or
the same title while unsigned) is skipped too. New families are appended in large batches
(`save(*aggregates)` of many aggregates in one transaction).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID, uuid5

from eventsourcing.persistence import IntegrityError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import sql

from services.registry.domain.agreement import (
    PARTNER_TYPES,
    Agreement,
    Category,
    Form,
    OtherParty,
    PksStage,
    RegionParty,
    Stage,
)
from services.registry.domain.commands import (
    FRAMEWORK,
    Caller,
    Cancel,
    Capacity,
    DraftPks,
    Ground,
    RecordApproval,
    RecordOfferResponse,
    RequestApproval,
    Signatory,
    SignFramework,
    SignPks,
    StartWorkPlan,
    SubmitOffer,
    Terminate,
)
from shared.auth import Identity, require_roles
from shared.errors import Forbidden, InvalidInput, KsdError, PayloadTooLarge
from shared.periods import BULAN
from shared.rupiah import parse_rupiah, thousands
from shared.tenancy import NATIONAL
from shared.urusan import URUSAN, get_urusan
from shared.wire import MAX_RUPIAH, NAME_MAX, REFERENCE_MAX, TEXT_MAX, text_problem

if TYPE_CHECKING:
    from services.registry.application import Registry

# Ids of imported families: uuid5 of their natural key (framework number and parties).
IMPORT_NAMESPACE = UUID("0f6c7d1a-3b2e-4c8d-9a51-6e2d4b7f1c93")

DATA_SHEET = "Kerja Sama"
INSTRUCTIONS_SHEET = "Petunjuk"
LISTS_SHEET = "Referensi"

KIND_FRAMEWORK = "Kesepakatan"
KIND_PKS = "PKS"
YES, NO = "Ya", "Tidak"

# Statuses of a row in the report (values a person reads; stable, documented).
IMPORTED = "diimpor"
PRESENT = "sudah_ada"
REFUSED = "ditolak"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str  # text | long | ref | date | rupiah | bool | choice
    help: str
    choices: tuple[str, ...] = ()
    strict: bool = True  # the drop-down refuses other values (False: a hint only)


FAMILY_STAGES = tuple(s.value for s in Stage)
PKS_STAGES = tuple(s.value for s in PksStage)
PARTNER_TYPE_CHOICES = tuple(sorted({t for types in PARTNER_TYPES.values() for t in types}))
URUSAN_CHOICES = tuple(f"{u.code} {u.name}" for u in URUSAN)

COLUMNS: tuple[Column, ...] = (
    Column("kind", "Jenis Baris", "choice", "Kesepakatan (naskah kerangka: KB, MoU/LoI, NK) atau PKS.",
           (KIND_FRAMEWORK, KIND_PKS)),
    Column("framework_number", "Nomor Kesepakatan", "ref",
           "Nomor naskah kesepakatan. Pada baris PKS: nomor kesepakatan induknya (harus ada di berkas yang sama)."),
    Column("form", "Bentuk", "choice", "Bentuk kerja sama (baris Kesepakatan).", tuple(f.value for f in Form)),
    Column("category", "Kategori", "choice", "Khusus KSDD: wajib (daerah berbatasan) atau sukarela.",
           tuple(c.value for c in Category)),
    Column("title", "Judul", "text", "Judul kerja sama (baris Kesepakatan) atau judul PKS (baris PKS)."),
    Column("object", "Objek", "long", "Objek kerja sama atau objek PKS."),
    Column("urusan", "Urusan", "choice",
           "Kode urusan pemerintahan (mis. 2.11); beberapa dipisah titik koma (2.11; 1.03).", URUSAN_CHOICES,
           strict=False),
    Column("partner_regions", "Mitra Daerah", "text",
           "Kode wilayah daerah mitra (mis. 32.04); beberapa dipisah titik koma. Pemrakarsa adalah daerah pengimpor."),
    Column("other_name", "Mitra Lain", "text", "Nama mitra selain daerah (badan usaha, lembaga luar negeri, ...)."),
    Column("other_type", "Jenis Mitra Lain", "choice", "Jenis mitra selain daerah.", PARTNER_TYPE_CHOICES),
    Column("other_country", "Negara Mitra Lain", "text", "Negara mitra (wajib untuk KSDPL dan KSDLL)."),
    Column("value", "Nilai (Rp)", "rupiah", "Nilai kerja sama dalam rupiah, bilangan bulat: 1500000000, "
           "1.500.000.000 atau Rp 1.500.000.000,00 (tanpa sen)."),
    Column("burdens", "Membebani Masyarakat", "bool",
           "Ya bila membebani masyarakat dan daerah (memerlukan persetujuan DPRD).", (YES, NO)),
    Column("budgeted", "Dianggarkan APBD", "bool",
           "Ya bila sudah dianggarkan dalam APBD; Tidak memerlukan persetujuan DPRD.", (YES, NO)),
    Column("stage", "Tahap", "choice",
           "Tahap sekarang. Kesepakatan: " + ", ".join(FAMILY_STAGES) + ". PKS: " + ", ".join(PKS_STAGES) + ".",
           tuple(dict.fromkeys((*FAMILY_STAGES, *PKS_STAGES)))),
    Column("offer_ref", "Nomor Surat Penawaran", "ref", "Nomor surat penawaran (tahap penawaran dan sesudahnya)."),
    Column("offer_date", "Tanggal Penawaran", "date", "Tanggal surat penawaran."),
    Column("response_ref", "Nomor Surat Jawaban", "ref", "Nomor surat jawaban (penerimaan) mitra."),
    Column("response_date", "Tanggal Jawaban", "date", "Tanggal surat jawaban mitra."),
    Column("dprd_ref", "Nomor Persetujuan DPRD", "ref",
           "Nomor keputusan DPRD bila persetujuan DPRD diperlukan (dipakai pula sebagai nomor permohonannya)."),
    Column("dprd_date", "Tanggal Persetujuan DPRD", "date", "Tanggal keputusan DPRD."),
    Column("central_ref", "Nomor Persetujuan Pusat", "ref", "KSDPL/KSDLL: nomor persetujuan Menteri Dalam Negeri."),
    Column("central_date", "Tanggal Persetujuan Pusat", "date", "KSDPL/KSDLL: tanggal persetujuan pusat."),
    Column("document_type", "Jenis Naskah", "choice", "KSDPL/KSDLL: mou atau loi (kosong: mou).", ("mou", "loi")),
    Column("number", "Nomor PKS", "ref", "Baris PKS: nomor PKS (wajib bila sudah ditandatangani)."),
    Column("drafted_on", "Tanggal Penyusunan PKS", "date", "Baris PKS: tanggal rancangan PKS disusun."),
    Column("signed_on", "Tanggal Tanda Tangan", "date", "Tanggal penandatanganan naskah."),
    Column("valid_from", "Berlaku Mulai", "date", "Awal masa berlaku naskah."),
    Column("valid_until", "Berlaku Sampai", "date", "Akhir masa berlaku naskah."),
    Column("signatories", "Penanda Tangan", "long",
           "Satu per pihak, urut pemrakarsa lalu mitra, dipisah titik koma: 'Nama / Jabatan'; untuk PKS yang "
           "ditandatangani pejabat dengan surat kuasa: 'Nama / Jabatan / Nomor Surat Kuasa'."),
    Column("exception_ref", "Dasar Pengecualian", "ref",
           "Baris PKS: dasar hukum bila PKS lebih dari 5 tahun atau di luar masa berlaku kesepakatan."),
    Column("work_plan", "Rencana Kerja", "long", "Khusus SINERGI: butir rencana kerja NK, dipisah titik koma."),
    Column("work_started_on", "Tanggal Mulai Pelaksanaan", "date", "Khusus SINERGI: mulai pelaksanaan rencana kerja."),
    Column("ended_on", "Tanggal Berakhir/Batal", "date", "Tahap berakhir/diputus/dibatalkan: tanggalnya."),
    Column("end_ref", "Nomor Pengakhiran", "ref", "Tahap berakhir/diputus: nomor naskah pengakhiran."),
    Column("ground", "Alasan Berakhir", "choice", "Tahap berakhir/diputus: dasar pengakhiran (PP 28/2018 Pasal 29).",
           tuple(g.value for g in Ground)),
    Column("cancel_reason", "Alasan Batal", "text", "Tahap dibatalkan: alasan pembatalan."),
)
HEADERS = tuple(c.header for c in COLUMNS)
BY_KEY = {c.key: c for c in COLUMNS}
_BY_HEADER = {c.header.casefold(): c for c in COLUMNS}

_FAMILY_ORDER = {s: i for i, s in enumerate(
    (Stage.PERSIAPAN, Stage.PENAWARAN, Stage.PENYUSUNAN_KESEPAKATAN, Stage.KESEPAKATAN_DITANDATANGANI,
     Stage.PELAKSANAAN, Stage.BERAKHIR))}

# A framework takes at most this many PKS rows from one file (a framework number dragged down
# a column would otherwise make one family of every row).
MAX_PKS_ROWS = 1_000
# A PKS row refused after its draft was recorded leaves the family half-changed: the family is
# decided again without it. A file may re-decide this many rows in all (framework and PKS rows
# of each family decided again); past that, a family's later PKS rows are refused unchecked.
# Retrying so costs at most about five times deciding a file of `import_max_rows` rows once.
RETRY_ROWS = 100_000


INSTRUCTIONS = (
    "Petunjuk pengisian templat impor kerja sama daerah (Sinergi KSD)",
    "",
    "1. Isi lembar 'Kerja Sama': satu baris per naskah kesepakatan (Jenis Baris = Kesepakatan) atau per PKS "
    "(Jenis Baris = PKS). Jangan mengubah judul kolom di baris pertama.",
    "2. Pemrakarsa setiap kerja sama adalah daerah yang mengimpor (pemilik token / --tenant); isi mitra di "
    "'Mitra Daerah' (kode wilayah) dan/atau 'Mitra Lain'.",
    "3. Baris PKS menyebut nomor kesepakatan induknya di 'Nomor Kesepakatan'; kesepakatan itu harus ada di berkas "
    "yang sama (boleh yang sudah pernah diimpor). Para pihak, bentuk, kategori dan urusan PKS adalah milik "
    "kesepakatannya: kolom yang tidak dipakai jenis barisnya diabaikan, dan laporan menyebutnya. Satu "
    f"kesepakatan menerima paling banyak {thousands(MAX_PKS_ROWS)} baris PKS dari satu berkas.",
    "4. Tanggal ditulis TTTT-BB-HH (2025-03-17), HH/BB/TTTT (17/03/2025) atau dengan nama bulan (17 Maret 2025, "
    "17 Mar 2025), atau sebagai sel tanggal Excel. "
    "Tanggal adalah tanggal pada naskahnya (tanggal hukum), bukan tanggal pengetikan.",
    "5. Isi kolom yang diperlukan tahapnya: penawaran memerlukan surat penawaran; penyusunan_kesepakatan juga "
    "surat jawaban; kesepakatan_ditandatangani juga persetujuan yang diperlukan, tanggal tanda tangan, masa "
    "berlaku dan penanda tangan; pelaksanaan memerlukan sedikitnya satu PKS yang ditandatangani (SINERGI: "
    "tanggal mulai pelaksanaan); berakhir/diputus memerlukan tanggal, nomor dan alasan berakhir; dibatalkan "
    "memerlukan tanggal dan alasan batal.",
    "6. Setiap baris diperiksa dengan aturan siklus kerja sama yang sama dengan pencatatan biasa. Baris yang "
    "salah ditolak dengan alasan dan kolomnya; baris lain tetap diimpor.",
    "7. Setiap langkah yang diimpor ditandai sebagai impor (SHA-256 berkas, nomor baris, petugas pengimpor).",
    "8. Mengimpor berkas yang sama lagi tidak membuat apa pun yang baru: kerja sama dikenali dari nomor "
    "kesepakatan dan para pihaknya; PKS dari nomornya (atau judulnya bila belum ditandatangani).",
    "9. Gunakan uji coba (dry run) untuk memeriksa berkas tanpa menyimpan apa pun.",
    "",
    "Kolom:",
)


# -- the template ------------------------------------------------------------------------------


def template_xlsx() -> bytes:
    """The import template: the data sheet with its headers and drop-downs, the instructions
    ("Petunjuk") and the lists the drop-downs read ("Referensi")."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    data = workbook.add_worksheet(DATA_SHEET)
    instructions = workbook.add_worksheet(INSTRUCTIONS_SHEET)
    lists = workbook.add_worksheet(LISTS_SHEET)
    as_typed = workbook.add_format({"num_format": "@"})  # (text: "32.10" stays 32.10, "005/2024" stays)
    data.freeze_panes(1, 0)
    for i, column in enumerate(COLUMNS):
        data.write(0, i, column.header, bold)
        data.set_column(i, i, max(14, min(40, len(column.header) + 4)),
                        None if column.kind in ("date", "rupiah") else as_typed)
        if column.choices:
            lists.write(0, i, column.header, bold)
            for j, choice in enumerate(column.choices):
                lists.write(j + 1, i, choice)
            letter = xlsxwriter.utility.xl_col_to_name(i)
            data.data_validation(1, i, 20_000, i, {
                "validate": "list",
                "source": f"='{LISTS_SHEET}'!${letter}$2:${letter}${len(column.choices) + 1}",
                "input_title": column.header[:32],
                "input_message": column.help[:255],
                "error_title": "Nilai tidak dikenal",
                "error_message": f"Pilih salah satu nilai {column.header} dari daftar."[:255],
                "show_error": column.strict,
            })
    lists.hide()
    instructions.set_column(0, 0, 30)
    instructions.set_column(1, 1, 110)
    row = 0
    for line in INSTRUCTIONS:
        instructions.write(row, 0, line, bold if row == 0 else None)
        row += 1
    for column in COLUMNS:
        instructions.write(row, 0, column.header, bold)
        instructions.write(row, 1, column.help)
        row += 1
    workbook.close()
    return buffer.getvalue()


# -- reading a file ------------------------------------------------------------------------------


class InvalidTemplate(InvalidInput):
    """The file is not a filled-in copy of the template: refused whole."""

    code = "invalid_template"


@dataclass
class RawRow:
    number: int  # the spreadsheet's row number (the header is row 1)
    cells: dict[str, Any]  # column key -> cell value as read


XLSX_MAGIC = b"PK\x03\x04"
# A zip bomb: an XLSX whose parts would inflate beyond this many times the file's limit.
_MAX_INFLATION = 20
# ... or that holds more tags than this many for each cell of the template's rows (a cell
# takes two to six: `<c>`, `<v>` or `<is><t>`, their ends; Excel's files hold about four).
_TAGS_PER_CELL = 8
_TAGS_BASE = 100_000  # the rest: styles, theme, the instructions and lists sheets (the template's own: 2,200)
EXCEL_MAX_ROWS = 1_048_576  # the last row a worksheet has


def read_rows(content: bytes, filename: str | None, *, max_bytes: int, max_rows: int) -> list[RawRow]:
    """The data rows of an XLSX or CSV file made from the template; refuses the whole file
    (413, 415, 422 `invalid_template`) when it is too large, of another kind, or has other
    headers."""
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"Berkas impor paling besar {thousands(max_bytes)} bita.")
    if not content:
        raise InvalidTemplate("Berkas impor kosong.", errors=[{"field": "file", "message": "berkas kosong"}])
    if content.startswith(XLSX_MAGIC):
        header, rows = _read_xlsx(content, max_bytes=max_bytes, max_rows=max_rows)
    elif b"\x00" in content[:4096] or content.startswith(b"%PDF"):
        raise InvalidTemplate("Berkas impor harus XLSX atau CSV dari templat (GET /imports/template.xlsx).",
                              errors=[{"field": "file", "message": "bukan XLSX atau CSV"}])
    else:
        header, rows = _read_csv(content, max_rows=max_rows)
    keys = _check_header(header)
    out = []
    for number, values in rows:  # (the readers leave out blank rows)
        cells = {key: values[i] if i < len(values) else None for i, key in enumerate(keys) if key}
        if any(_blank(v) is not None for v in cells.values()):
            out.append(RawRow(number, cells))
    return out


def _rows_limit(max_rows: int) -> InvalidTemplate:
    return InvalidTemplate(f"Berkas impor paling banyak {thousands(max_rows)} baris data; bagi berkasnya.",
                           code="too_many_rows", errors=[{"field": "file", "message": f"lebih dari {max_rows} baris"}])


def _read_xlsx(content: bytes, *, max_bytes: int, max_rows: int) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if _too_large_inside(archive, max_bytes=max_bytes, max_rows=max_rows):
                raise InvalidTemplate("Isi berkas XLSX terlalu besar setelah dibuka.",
                                      errors=[{"field": "file", "message": "terlalu besar"}])
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except InvalidTemplate:
        raise
    except Exception:  # noqa: BLE001 - any unreadable workbook is the same answer
        raise InvalidTemplate("Berkas bukan XLSX yang dapat dibaca.",
                              errors=[{"field": "file", "message": "bukan XLSX yang sah"}]) from None
    try:
        sheet = workbook[DATA_SHEET] if DATA_SHEET in workbook.sheetnames else workbook.worksheets[0]
        header = list(next(sheet.iter_rows(max_row=1, values_only=True), ()))
        width = _header_width(header)
        rows: list[tuple[int, list[Any]]] = []
        if not width:
            return header, rows  # (refused by the header check)
        # Only the header's columns and Excel's rows are read. A sheet may declare far more
        # (a cell in column XFD, a row numbered in the millions: an 11 kB file), and the reader
        # fills every row up to them: each row as wide as the sheet, every missing row as a
        # blank one. Blank rows are passed over, not kept.
        blank = (None,) * width
        for number, values in enumerate(sheet.iter_rows(min_row=2, max_row=EXCEL_MAX_ROWS + 1, max_col=width,
                                                        values_only=True), start=2):
            if number > EXCEL_MAX_ROWS:  # (the reader reaches it only for a row there or beyond)
                raise _beyond_excel()
            if values == blank or all(_blank(v) is None for v in values):
                continue
            if len(rows) >= max_rows:
                raise _rows_limit(max_rows)
            rows.append((number, list(values)))
        return header, rows
    finally:
        workbook.close()


def _too_large_inside(archive: zipfile.ZipFile, *, max_bytes: int, max_rows: int) -> bool:
    """Whether an XLSX holds more than a template of `max_rows` rows could: its parts
    inflating beyond `_MAX_INFLATION` times the file limit (their declared sizes, which the
    zip reader holds them to), or more XML tags than `_TAGS_PER_CELL` for every cell of the
    template's columns in `max_rows` rows, and `_TAGS_BASE` for the rest. The reader parses
    every tag (a 465 kB file of eleven million one-letter strings kept it busy 77 s and took
    1 GB); counting them is a scan of the inflated bytes."""
    if sum(i.file_size for i in archive.infolist()) > max_bytes * _MAX_INFLATION:
        return True
    budget = _TAGS_BASE + (max_rows + 1) * len(COLUMNS) * _TAGS_PER_CELL
    for item in archive.infolist():
        if not item.filename.endswith(".xml"):
            continue
        with archive.open(item) as part:
            while chunk := part.read(1 << 20):
                budget -= chunk.count(b"<")
                if budget < 0:
                    return True
    return False


def _header_width(header: list[Any]) -> int:
    """How many columns the header row spans, up to its last named one."""
    width = len(header)
    while width and _blank(header[width - 1]) is None:
        width -= 1
    return width


def _beyond_excel() -> InvalidTemplate:
    return InvalidTemplate(
        f"Berkas XLSX memuat baris di luar batas Excel ({thousands(EXCEL_MAX_ROWS)} baris); simpan ulang dari "
        "templat.", errors=[{"field": "file", "message": "baris di luar batas Excel"}])


def _read_csv(content: bytes, *, max_rows: int) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidTemplate("Berkas CSV harus berenkode UTF-8.",
                              errors=[{"field": "file", "message": "bukan UTF-8"}]) from None
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader, [])
        rows: list[tuple[int, list[Any]]] = []
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue  # (blank lines are not kept: a file of them would fill memory)
            if len(rows) >= max_rows:
                raise _rows_limit(max_rows)
            rows.append((number, values))
    except csv.Error as exc:
        raise InvalidTemplate(f"Berkas CSV tidak dapat dibaca: {exc}.",
                              errors=[{"field": "file", "message": "CSV tidak sah"}]) from None
    return header, rows


def _check_header(header: list[Any]) -> list[str | None]:
    names = [str(h).strip() if h is not None else "" for h in header]
    while names and not names[-1]:
        names.pop()
    keys: list[str | None] = []
    unknown = []
    for name in names:
        column = _BY_HEADER.get(name.casefold())
        if column is None and name:
            unknown.append(name)
        keys.append(column.key if column else None)
    missing = [c.header for c in COLUMNS if c.key not in keys]
    if missing or unknown or len({k for k in keys if k}) != len([k for k in keys if k]):
        errors = [{"field": "file", "message": f"kolom tidak ada: {h}"} for h in missing[:10]]
        errors += [{"field": "file", "message": f"kolom tidak dikenal: {h[:100]}"} for h in unknown[:10]]
        raise InvalidTemplate(
            "Berkas bukan templat impor kerja sama: judul kolom di baris pertama harus sama dengan templat "
            "(unduh GET /imports/template.xlsx)." + (f" Kolom yang tidak ada: {', '.join(missing[:10])}."
                                                      if missing else ""),
            errors=errors or [{"field": "file", "message": "kolom ganda"}],
        )
    return keys


def _blank(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


# -- checking cells ------------------------------------------------------------------------------


class RowRefused(Exception):
    def __init__(self, column: str | None, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.column = column
        self.message = message
        self.code = code


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
# ... and as Indonesian documents write a date: "5 Januari 2024", "5 Jan 2024", "5 Agt. 2024".
_DATE_IN_WORDS = re.compile(r"(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]+\.?)\s+(?P<year>\d{4})")
_MONTHS = {**{name.casefold(): i for i, name in enumerate(BULAN, start=1)},
           **{name[:3].casefold(): i for i, name in enumerate(BULAN, start=1)}, "agt": 8, "ags": 8}
# Codes of the form NN.NN (regions, urusan): a spreadsheet keeps one typed in a number cell as
# a number, and drops a last zero.
_CODE_KEYS = frozenset({"partner_regions", "urusan"})
_MAX_LEN = {"text": NAME_MAX, "long": TEXT_MAX, "ref": REFERENCE_MAX, "choice": NAME_MAX}


def _cell(row: RawRow, key: str) -> Any:
    """A cell's value, checked by the wire rules and converted to its column's type."""
    column = BY_KEY[key]
    raw = _blank(row.cells.get(key))
    if raw is None:
        return None
    refuse = partial_refuse(column)
    if column.kind == "date":
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(str(raw), fmt).date()
            except ValueError:
                continue
        if (words := _DATE_IN_WORDS.fullmatch(str(raw).strip())) is not None:
            month = _MONTHS.get(words["month"].casefold().rstrip("."))
            try:
                if month is not None:
                    return date(int(words["year"]), month, int(words["day"]))
            except ValueError:
                pass
        refuse(f"bukan tanggal yang sah: '{str(raw)[:40]}' (TTTT-BB-HH, HH/BB/TTTT atau 5 Januari 2024)")
    if column.kind == "rupiah":
        if isinstance(raw, bool):
            refuse("harus berupa bilangan bulat rupiah")
        if isinstance(raw, float):
            if not raw.is_integer():
                refuse("harus berupa bilangan bulat rupiah")
            raw = int(raw)
        if isinstance(raw, str):
            try:
                raw = parse_rupiah(raw)
            except ValueError as exc:
                refuse(f"{exc}: '{raw[:40]}'")
        if not isinstance(raw, int) or not 0 <= raw <= MAX_RUPIAH:
            refuse(f"harus bilangan bulat 0 sampai {MAX_RUPIAH}")
        return raw
    text = raw.isoformat() if isinstance(raw, date) else str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    elif isinstance(raw, float) and key in _CODE_KEYS and round(raw, 2) == raw:
        text = f"{raw:.2f}"  # (32.10 typed in a number cell is the number 32.1)
    if problem := text_problem(text, _MAX_LEN.get(column.kind, NAME_MAX)):
        refuse(problem)
    if column.kind == "bool":
        folded = text.casefold()
        if folded in ("ya", "y", "true", "1", "yes"):
            return True
        if folded in ("tidak", "t", "false", "0", "no"):
            return False
        refuse("isi Ya atau Tidak")
    if column.kind == "choice" and column.strict:
        match = next((c for c in column.choices if c.casefold() == text.casefold()), None)
        if match is None:
            refuse(f"nilai tidak dikenal: '{text[:60]}'; pilih dari daftar")
        return match
    return text


def partial_refuse(column: Column) -> Callable[[str], NoReturn]:
    def refuse(message: str) -> NoReturn:
        raise RowRefused(column.header, message)

    return refuse


def _need(row: RawRow, key: str, why: str) -> Any:
    value = _cell(row, key)
    if value is None:
        raise RowRefused(BY_KEY[key].header, f"wajib diisi {why}", code="value_required")
    return value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(";") if part.strip()]


# -- the report -----------------------------------------------------------------------------------


@dataclass
class RowResult:
    row: int
    kind: str
    reference: str | None
    status: str
    message: str
    agreement_id: str | None = None
    events: int = 0
    column: str | None = None
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ImportReport:
    file_name: str | None
    file_sha256: str
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)
    saved_events: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(1 for r in self.rows if r.status == status) for status in (IMPORTED, PRESENT, REFUSED)}

    @property
    def message(self) -> str:
        c = self.counts
        verb = "dapat diimpor (uji coba, tidak ada yang disimpan)" if self.dry_run else "diimpor"
        return (f"{c[IMPORTED]} baris {verb}, {c[PRESENT]} baris sudah ada (dilewati), "
                f"{c[REFUSED]} baris ditolak, dari {len(self.rows)} baris.")

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "file_name": self.file_name, "file_sha256": self.file_sha256, "dry_run": self.dry_run,
            "message": self.message,
            "summary": {"rows": len(self.rows), "imported": c[IMPORTED], "skipped": c[PRESENT],
                        "refused": c[REFUSED], "events": sum(r.events for r in self.rows if r.status == IMPORTED),
                        "saved_events": self.saved_events},
            "rows": [r.as_dict() for r in sorted(self.rows, key=lambda r: r.row)],
        }


# -- planning and executing --------------------------------------------------------------------


@dataclass
class Family:
    row: RawRow
    key: str
    id: UUID
    pks_rows: list[RawRow] = field(default_factory=list)
    form: Form | None = None
    start: dict[str, Any] = field(default_factory=dict)


# The column a refusal of each step points at (its date, where the order rules bite).
_STEP_COLUMN = {
    SubmitOffer: "offer_date", RecordOfferResponse: "response_date", RequestApproval: "dprd_date",
    RecordApproval: "dprd_date", SignFramework: "signed_on", StartWorkPlan: "work_started_on", DraftPks: "drafted_on",
    SignPks: "signed_on", Terminate: "ended_on", Cancel: "ended_on",
}
# A stated day that could not have happened: the refusal names the column of that day.
_DAY_CODES = frozenset({"date_in_future", "date_too_early"})
_CODE_COLUMN = {
    "wajib_requires_adjacency": "category", "category_required": "category", "category_not_allowed": "category",
    "partner_required": "partner_regions", "party_not_allowed_for_form": "other_type",
    "country_required": "other_country", "duplicate_party": "partner_regions", "urusan_required": "urusan",
    "signatory_missing": "signatories", "signatory_not_authorized": "signatories",
    "surat_kuasa_required": "signatories", "signatory_incomplete": "signatories", "duplicate_signatory": "signatories",
    "invalid_period": "valid_until", "duration_exceeds_limit": "valid_until",
    "pks_outside_framework_validity": "valid_until", "rencana_kerja_required": "work_plan",
    "rencana_kerja_not_allowed": "work_plan", "document_type_not_allowed": "document_type",
    "dprd_approval_required": "dprd_ref", "central_approval_required": "central_ref",
    "reference_required": None,
}


@dataclass
class Plan:
    """A decided import: the report so far and the aggregates with new events, not yet saved."""

    report: ImportReport
    changed: list[tuple[Agreement, Family, list[RowResult]]]


class Importer:
    """One import of one file by one operator (a region)."""

    def __init__(self, registry: Registry, identity: Identity, *, batch_size: int = 1_000) -> None:
        require_roles("operator")(identity)
        if identity.is_national:
            raise Forbidden("Tingkat nasional bukan daerah dan tidak dapat mengimpor kerja sama daerah.",
                            code="tenant_not_a_region")
        if not registry.regions.is_party_eligible(identity.tenant):
            raise Forbidden(f"{identity.tenant} bukan daerah otonom yang dapat menjadi pihak kerja sama.",
                            code="tenant_not_a_region")
        self.registry = registry
        self.identity = identity
        self.batch_size = batch_size
        self.now = registry.clock.now()
        self.policy = registry.policy

    # -- entry point -------------------------------------------------------------------------

    def run(self, content: bytes, filename: str | None, *, dry_run: bool, max_bytes: int,
            max_rows: int) -> ImportReport:
        plan = self.decide(content, filename, dry_run=dry_run, max_bytes=max_bytes, max_rows=max_rows)
        if not dry_run:
            self.save(plan)
        return plan.report

    def decide(self, content: bytes, filename: str | None, *, dry_run: bool, max_bytes: int,
               max_rows: int) -> Plan:
        """Read the file and decide every row through the aggregate; nothing is stored."""
        sha = hashlib.sha256(content).hexdigest()
        rows = read_rows(content, filename, max_bytes=max_bytes, max_rows=max_rows)
        report = ImportReport(filename, sha, dry_run)
        self.sha = sha
        self.retry_rows = RETRY_ROWS
        with _cyclic_gc_paused():
            families = self._group(rows, report)
            present = self._present([f.id for f in families])
            changed: list[tuple[Agreement, Family, list[RowResult]]] = []
            for family in families:
                results = self._build(family, report, existing=family.id in present)
                if results is not None:
                    changed.append(results)
        return Plan(report, changed)

    def save(self, plan: Plan) -> None:
        """Append what `decide` decided (see `_save`); the report counts what was stored."""
        with _cyclic_gc_paused(), _quick_thread_switches():
            self._save(plan.changed, plan.report)

    # -- grouping -----------------------------------------------------------------------------

    def _group(self, rows: Iterable[RawRow], report: ImportReport) -> list[Family]:
        families: dict[str, Family] = {}
        pks_rows: list[RawRow] = []
        for row in rows:
            try:
                kind = _need(row, "kind", "(Kesepakatan atau PKS)")
                number = _need(row, "framework_number", "(nomor naskah kesepakatan)")
                if kind == KIND_PKS:
                    pks_rows.append(row)
                    continue
                start = self._start_args(row)
                parties = sorted([self.identity.tenant, *(p.region if isinstance(p, RegionParty)
                                                          else p.name.casefold() for p in start["partners"])])
                key = _number_key(number)
                if key in families:
                    raise RowRefused(BY_KEY["framework_number"].header,
                                     f"nomor kesepakatan yang sama sudah ada di baris {families[key].row.number}",
                                     code="duplicate_row")
                family_id = uuid5(IMPORT_NAMESPACE, "\x1f".join([key, *parties]))
                families[key] = Family(row, key, family_id, start=start)
            except RowRefused as refused:
                report.rows.append(_refused(row, refused))
        for row in pks_rows:
            number = _cell(row, "framework_number")
            family = families.get(_number_key(number))
            if family is None:
                report.rows.append(_refused(row, RowRefused(
                    BY_KEY["framework_number"].header,
                    f"kesepakatan induk '{number}' tidak ada (atau ditolak) di berkas ini; sertakan barisnya",
                    code="framework_row_missing")))
            elif len(family.pks_rows) >= MAX_PKS_ROWS:
                report.rows.append(_refused(row, RowRefused(
                    BY_KEY["framework_number"].header,
                    f"kesepakatan induk '{number}' sudah mendapat {thousands(MAX_PKS_ROWS)} baris PKS di berkas ini "
                    f"(paling banyak {thousands(MAX_PKS_ROWS)}); impor PKS lainnya dengan berkas lain yang memuat juga "
                    "baris kesepakatannya", code="too_many_pks_rows")))
            else:
                family.pks_rows.append(row)
        return list(families.values())

    def _start_args(self, row: RawRow) -> dict[str, Any]:
        regions = self.registry.regions
        form = Form(_need(row, "form", "pada baris Kesepakatan"))
        category = _cell(row, "category")
        partners: list[Any] = []
        for code in _split(_cell(row, "partner_regions")):
            if not re.fullmatch(r"[0-9]{2}(\.[0-9]{2})?", code) or code not in regions:
                raise RowRefused(BY_KEY["partner_regions"].header, f"kode wilayah tidak dikenal: {code[:20]}",
                                 code="unknown_region")
            if not regions.is_party_eligible(code):
                raise RowRefused(BY_KEY["partner_regions"].header,
                                 f"{code} adalah wilayah administratif, bukan daerah otonom", code="unknown_region")
            partners.append(RegionParty(code))
        other = _cell(row, "other_name")
        if other:
            kind = _need(row, "other_type", "bila ada Mitra Lain")
            partners.append(OtherParty(name=other, type=kind, country=_cell(row, "other_country")))
        urusan = []
        for part in _split(_cell(row, "urusan")):
            code = part.split()[0]
            if get_urusan(code) is None:
                raise RowRefused(BY_KEY["urusan"].header, f"kode urusan tidak dikenal: {code[:20]}",
                                 code="unknown_urusan")
            urusan.append(code)
        stage = _need(row, "stage", "(tahap sekarang)")
        if stage not in FAMILY_STAGES:
            raise RowRefused(BY_KEY["stage"].header, f"'{stage}' adalah tahap PKS, bukan tahap kesepakatan",
                             code="invalid_stage")
        return {
            "form": form, "category": Category(category) if category else None,
            "title": _need(row, "title", "(judul kerja sama)"), "object": _need(row, "object", "(objek kerja sama)"),
            "urusan": urusan, "partners": partners, "value_idr": _cell(row, "value"),
            "burdens_community": bool(_cell(row, "burdens")), "budgeted_in_apbd": bool(_cell(row, "budgeted")),
            "stage": Stage(stage),
        }

    def _present(self, ids: list[UUID]) -> set[UUID]:
        """Which of these families the store holds already (one query)."""
        if not ids:
            return set()
        recorder = self.registry.recorder
        datastore = recorder.datastore  # type: ignore[attr-defined]
        table = sql.Identifier(datastore.schema, recorder.events_table_name)  # type: ignore[attr-defined]
        query = sql.SQL("SELECT originator_id FROM {} WHERE originator_id = ANY(%s) AND originator_version = 1")
        with datastore.transaction(commit=False) as curs:
            curs.execute(query.format(table), (ids,))
            return {row["originator_id"] for row in curs.fetchall()}

    # -- one family ------------------------------------------------------------------------------

    def _build(self, family: Family, report: ImportReport, *, existing: bool
               ) -> tuple[Agreement, Family, list[RowResult]] | None:
        """The family's aggregate with the events its rows imply, or None when nothing is new.
        A refused PKS row is left out and the family built again without it."""
        excluded: dict[int, RowRefused] = {}
        while True:
            try:
                agreement, results = self._attempt(family, existing=existing, excluded=excluded)
            except _PksFailed as failed:
                excluded[failed.row.number] = failed.refused
                cost = 1 + len(family.pks_rows)
                if self.retry_rows >= cost:
                    self.retry_rows -= cost
                else:  # the file's retries are spent: the family's later PKS rows go unchecked
                    later = family.pks_rows[family.pks_rows.index(failed.row) + 1:]
                    for row in later:
                        excluded.setdefault(row.number, RowRefused(
                            None, "Tidak diperiksa: terlalu banyak baris PKS di berkas ini ditolak sesudah "
                                  "rancangannya tercatat. Perbaiki baris PKS yang ditolak, lalu impor berkas ini lagi "
                                  "(baris yang sudah diimpor dilewati).", code="pks_not_checked"))
                continue
            except RowRefused as refused:
                if excluded and refused.code == "stage_mismatch":
                    # The PKS rows left out may be why the framework's history stops short: say so.
                    numbers = sorted(excluded)
                    rows = ", ".join(str(n) for n in numbers[:10]) + (
                        f" dan {len(numbers) - 10} lainnya" if len(numbers) > 10 else "")
                    refused = RowRefused(refused.column, f"{refused.message} PKS pada baris {rows} ditolak; "
                                                         "lihat alasannya pada baris itu.", code=refused.code)
                report.rows.append(_refused(family.row, refused))
                for row in family.pks_rows:  # a PKS row refused on its own keeps its own reason
                    report.rows.append(_refused(row, excluded.get(row.number) or RowRefused(
                        BY_KEY["framework_number"].header,
                        f"kesepakatan induknya (baris {family.row.number}) ditolak", code="framework_refused")))
                return None
            for row in family.pks_rows:
                if row.number in excluded:
                    report.rows.append(_refused(row, excluded[row.number]))
            report.rows.extend(results)
            if agreement is None or not any(r.status == IMPORTED for r in results):
                return None
            return agreement, family, results

    def _attempt(self, family: Family, *, existing: bool, excluded: dict[int, RowRefused]
                 ) -> tuple[Agreement | None, list[RowResult]]:
        results: list[RowResult] = []
        row = family.row
        number = str(_cell(row, "framework_number"))
        if existing:
            agreement: Agreement = self.registry.repository.get(family.id)
            results.append(RowResult(row.number, "kesepakatan", number, PRESENT,
                                     "Kesepakatan ini sudah tercatat; tidak ada yang dibuat.",
                                     agreement_id=str(family.id)))
        else:
            agreement = self._start(family)
            self._framework_steps(agreement, family)
        # The family's PKS by number, and the unsigned ones by title (the first of each): what a
        # row may name again.
        by_number: dict[Any, dict[str, Any]] = {}
        by_title: dict[Any, dict[str, Any]] = {}
        for recorded in agreement.pks:
            if recorded.get("number"):
                by_number.setdefault(recorded["number"], recorded)
            else:
                by_title.setdefault(recorded.get("title"), recorded)
        for pks_row in family.pks_rows:
            if pks_row.number in excluded:
                continue
            pks_number = _cell(pks_row, "number")
            title = _cell(pks_row, "title")
            found = by_number.get(pks_number) if pks_number else by_title.get(title)
            if found is not None:
                results.append(RowResult(pks_row.number, "pks", pks_number or title, PRESENT,
                                         f"PKS ini sudah tercatat ({found['id']}); tidak ada yang dibuat.",
                                         agreement_id=str(family.id)))
                continue
            before = len(agreement.pending_events)
            try:
                self._pks_steps(agreement, pks_row)
            except RowRefused as refused:
                if len(agreement.pending_events) == before:  # nothing recorded: nothing to undo
                    excluded[pks_row.number] = refused
                    continue
                raise _PksFailed(pks_row, refused) from None
            added = len(agreement.pending_events) - before
            made = agreement.pks[-1]
            if made.get("number"):
                by_number.setdefault(made["number"], made)
            else:
                by_title.setdefault(made.get("title"), made)
            results.append(RowResult(pks_row.number, "pks", pks_number or title, IMPORTED,
                                     f"PKS diimpor dengan tahap {made['stage']} ({added} peristiwa)."
                                     + _unused(pks_row, "pks"), agreement_id=str(family.id), events=added))
        if not existing:
            self._framework_ending(agreement, family)
            framework_events = len(agreement.pending_events) - sum(r.events for r in results)
            declared = family.start["stage"]
            if agreement.stage != declared.value:
                hint = (" Tahap pelaksanaan memerlukan sedikitnya satu baris PKS yang ditandatangani."
                        if declared is Stage.PELAKSANAAN and Form(agreement.form) is not Form.SINERGI else "")
                raise RowRefused(BY_KEY["stage"].header,
                                 f"riwayat pada baris ini berakhir pada tahap {agreement.stage}, "
                                 f"bukan {declared.value}." + hint, code="stage_mismatch")
            results.insert(0, RowResult(row.number, "kesepakatan", number, IMPORTED,
                                        f"Kesepakatan diimpor dengan tahap {agreement.stage} "
                                        f"({framework_events} peristiwa)." + _unused(row, "kesepakatan"),
                                        agreement_id=str(family.id), events=framework_events))
        return agreement, results

    # -- steps ----------------------------------------------------------------------------------

    def _actor(self, row: RawRow) -> dict[str, Any]:
        return {**self.identity.actor(),
                "imported": {"file_sha256": self.sha, "row": row.number, "sub": self.identity.sub}}

    def _do(self, agreement: Agreement, row: RawRow, command: Any, region: str | None = None,
            column: str | None = None) -> None:
        caller = Caller(region or self.identity.tenant, self._actor(row))
        try:
            agreement.execute(command, by=caller, at=self.now, policy=self.policy)
        except KsdError as exc:
            key = _CODE_COLUMN.get(exc.code or "", column or _STEP_COLUMN.get(type(command)))
            if (isinstance(command, RecordApproval | RequestApproval) and command.kind == "central"
                    and key == "dprd_date"):
                key = "central_date"
            raise RowRefused(BY_KEY[key].header if key else None, exc.detail,
                             code=exc.code or "rule_violation") from None

    def _start(self, family: Family) -> Agreement:
        a = family.start
        # Prepared no later than its first recorded step (none: the day it is imported).
        first = min(((day, key) for key in ("offer_date", "response_date", "dprd_date", "central_date", "signed_on",
                                             "ended_on") if (day := _cell(family.row, key))), default=None)
        try:
            return Agreement.start(
                id=family.id, actor=self._actor(family.row), at=self.now, form=a["form"], category=a["category"],
                title=a["title"], object=a["object"], urusan=a["urusan"], initiator=self.identity.tenant,
                partners=a["partners"], value_idr=a["value_idr"], burdens_community=a["burdens_community"],
                budgeted_in_apbd=a["budgeted_in_apbd"], adjacency=self.registry.regions,
                drafted_on=first[0] if first else None,
            )
        except KsdError as exc:
            if exc.code in _DAY_CODES and first:  # (the preparation day is the earliest date's column)
                key: str | None = first[1]
            else:
                key = _CODE_COLUMN.get(exc.code or "", "partner_regions")
            raise RowRefused(BY_KEY[key].header if key else None, exc.detail,
                             code=exc.code or "rule_violation") from None

    def _framework_steps(self, agreement: Agreement, family: Family) -> None:
        row, target = family.row, family.start["stage"]
        cancelled = target is Stage.DIBATALKAN
        reach = _FAMILY_ORDER.get(target, 0)
        why = f"untuk tahap {target.value}"
        if reach >= 1 or (cancelled and _cell(row, "offer_date")):
            self._do(agreement, row, SubmitOffer(reference=_need(row, "offer_ref", why),
                                                 sent_on=_need(row, "offer_date", why)))
        if reach >= 2 or (cancelled and _cell(row, "response_date")):
            reference, day = _need(row, "response_ref", why), _need(row, "response_date", why)
            for party in agreement.parties:
                if party["role"] != "partner":
                    continue
                if party["kind"] == "region":
                    self._do(agreement, row, RecordOfferResponse("accepted", reference, day), region=party["region"])
                else:
                    self._do(agreement, row, RecordOfferResponse("accepted", reference, day, party=party["name"]))
        if reach >= 3 or (cancelled and (_cell(row, "dprd_date") or _cell(row, "central_date"))):
            self._approvals(agreement, row, FRAMEWORK, why, decide=True)
        if reach >= 3:
            plan = tuple(_split(_cell(row, "work_plan")))
            self._do(agreement, row, SignFramework(
                number=_need(row, "framework_number", why), signed_on=_need(row, "signed_on", why),
                valid_from=_need(row, "valid_from", why), valid_until=_need(row, "valid_until", why),
                signatories=self._signatories(row, agreement.party_keys, framework=True, why=why),
                document_type=_cell(row, "document_type"), rencana_kerja=plan,
            ))
        if reach >= 4 and Form(agreement.form) is Form.SINERGI:
            self._do(agreement, row, StartWorkPlan(started_on=_need(row, "work_started_on", why)))
        if cancelled:
            self._do(agreement, row, Cancel(reason=_need(row, "cancel_reason", why), document=None,
                                            cancelled_on=_need(row, "ended_on", why)))

    def _framework_ending(self, agreement: Agreement, family: Family) -> None:
        row, target = family.row, family.start["stage"]
        if target is Stage.BERAKHIR:
            why = "untuk tahap berakhir"
            self._do(agreement, row, Terminate(
                document=FRAMEWORK, ground=Ground(_need(row, "ground", why)), reference=_need(row, "end_ref", why),
                terminated_on=_need(row, "ended_on", why)))

    def _approvals(self, agreement: Agreement, row: RawRow, document: str, why: str, *, decide: bool) -> None:
        for kind, region, _ in agreement.required_approvals(document):
            prefix = "dprd" if kind == "dprd" else "central"
            reference = _need(row, f"{prefix}_ref", f"{why} (persetujuan {'DPRD' if kind == 'dprd' else 'pusat'} "
                                                    "diperlukan)")
            day = _need(row, f"{prefix}_date", why)
            column = f"{prefix}_date"
            self._do(agreement, row, RequestApproval(kind, reference, day, document=document), region=region,
                     column=column)
            if decide:
                recorder = NATIONAL if kind == "central" else region
                self._do(agreement, row, RecordApproval(kind, "approved", reference, day, document=document),
                         region=recorder, column=column)

    def _signatories(self, row: RawRow, parties: list[str], *, framework: bool, why: str) -> tuple[Signatory, ...]:
        header = BY_KEY["signatories"].header
        entries = _split(_need(row, "signatories", why))
        if len(entries) != len(parties):
            raise RowRefused(header, f"perlu {len(parties)} penanda tangan (satu per pihak: "
                                     f"{', '.join(parties)}), tertulis {len(entries)}", code="signatory_missing")
        regions = {p for p in parties if p in self.registry.regions}
        out = []
        for party, entry in zip(parties, entries, strict=True):
            parts = [p.strip() for p in entry.split("/")]
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise RowRefused(header, f"tulis 'Nama / Jabatan' untuk {party}: '{entry[:60]}'",
                                 code="signatory_incomplete")
            kuasa = parts[2] if len(parts) > 2 and parts[2] else None
            if party not in regions:
                capacity = Capacity.PERWAKILAN_MITRA
            else:
                capacity = Capacity.PEJABAT_KUASA if kuasa and not framework else Capacity.KEPALA_DAERAH
            out.append(Signatory(party=party, name=parts[0], position=parts[1], capacity=capacity, surat_kuasa=kuasa))
        return tuple(out)

    def _pks_steps(self, agreement: Agreement, row: RawRow) -> None:
        stage = _need(row, "stage", "(tahap PKS)")
        if stage not in PKS_STAGES:
            raise RowRefused(BY_KEY["stage"].header, f"'{stage}' bukan tahap PKS ({', '.join(PKS_STAGES)})",
                             code="invalid_stage")
        target = PksStage(stage)
        why = f"untuk PKS tahap {stage}"
        burdens, budgeted = _cell(row, "burdens"), _cell(row, "budgeted")
        self._do(agreement, row, DraftPks(
            title=_need(row, "title", "(judul PKS)"), object=_need(row, "object", "(objek PKS)"),
            value_idr=_cell(row, "value"), burdens_community=burdens, budgeted_in_apbd=budgeted,
            drafted_on=_need(row, "drafted_on", why)))
        pks_id = agreement.pks[-1]["id"]
        if (target is not PksStage.PENYUSUNAN and target is not PksStage.DIBATALKAN) or _cell(row, "dprd_date"):
            self._approvals(agreement, row, pks_id, why, decide=target is not PksStage.MENUNGGU_PERSETUJUAN_DPRD)
        if target in (PksStage.DITANDATANGANI, PksStage.BERAKHIR, PksStage.DIPUTUS):
            self._do(agreement, row, SignPks(
                pks=pks_id, number=_need(row, "number", why), signed_on=_need(row, "signed_on", why),
                start_on=_need(row, "valid_from", why), end_on=_need(row, "valid_until", why),
                signatories=self._signatories(row, agreement.pks[-1]["parties"], framework=False, why=why),
                exception_reference=_cell(row, "exception_ref")))
        if target in (PksStage.BERAKHIR, PksStage.DIPUTUS):
            self._do(agreement, row, Terminate(
                document=pks_id, ground=Ground(_need(row, "ground", why)), reference=_need(row, "end_ref", why),
                terminated_on=_need(row, "ended_on", why)))
        if target is PksStage.DIBATALKAN:
            self._do(agreement, row, Cancel(reason=_need(row, "cancel_reason", why), document=pks_id,
                                            cancelled_on=_need(row, "ended_on", why)))
        if agreement.pks[-1]["stage"] != target.value:
            raise RowRefused(BY_KEY["stage"].header if target in (PksStage.BERAKHIR, PksStage.DIPUTUS) else None,
                             f"riwayat PKS berakhir pada tahap {agreement.pks[-1]['stage']}, bukan {target.value} "
                             "(alasan berakhir menentukan: berakhir atau diputus)", code="stage_mismatch")

    # -- saving ---------------------------------------------------------------------------------

    def _save(self, changed: list[tuple[Agreement, Family, list[RowResult]]], report: ImportReport) -> None:
        """Append in large batches: many aggregates in one transaction. Each batch is packed
        here (its events mapped, hashed into their chains, made COPY rows: the CPU's work)
        while a writer thread has the server store the batch before it, so the two overlap.
        A batch that loses a race with another import of the same rows is saved one family at
        a time, and the families already saved are reported present."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-append") as writer:
            in_flight: tuple[Future[None], list[tuple[list[Any], list[RowResult]]]] | None = None
            for chunk in _chunks(changed, self.batch_size):
                # The pending events, taken once: a failed append has already emptied the
                # aggregates, so the one-by-one fallback must save these, not the aggregates.
                pending = [(agreement.collect_events(), results) for agreement, _, results in chunk]
                packed = self.registry.pack_events([event for events, _ in pending for event in events])
                if in_flight is not None:
                    self._settle(*in_flight, report)
                in_flight = (writer.submit(self.registry.append_packed, packed), pending)
            if in_flight is not None:
                self._settle(*in_flight, report)

    def _settle(self, appended: Future[None], pending: list[tuple[list[Any], list[RowResult]]],
                report: ImportReport) -> None:
        """Wait for a batch's append; count it, or save its families one by one."""
        try:
            appended.result()
            report.saved_events += sum(r.events for _, results in pending for r in results)
        except (IntegrityError, StoreOperationalError):
            # A duplicate in a large batch may surface as an aborted pipeline (operational);
            # a real outage fails the one-by-one saves below too, and propagates.
            for events, results in pending:
                try:
                    self.registry.save(*events)
                    report.saved_events += sum(r.events for r in results)
                except IntegrityError:
                    for result in results:
                        if result.status == IMPORTED:
                            result.status, result.events = PRESENT, 0
                            result.message = "Baris ini baru saja tercatat oleh impor lain; tidak ada yang dibuat."


class _PksFailed(Exception):
    def __init__(self, row: RawRow, refused: RowRefused) -> None:
        super().__init__(refused.message)
        self.row = row
        self.refused = refused


# The columns one kind of row does not use: a value typed there is named in the report, not
# dropped in silence (the row is imported all the same).
_UNUSED_BY = {
    "pks": ("form", "category", "urusan", "partner_regions", "other_name", "other_type", "other_country", "offer_ref",
            "offer_date", "response_ref", "response_date", "document_type", "work_plan", "work_started_on"),
    "kesepakatan": ("number", "drafted_on", "exception_ref"),
}


def _unused(row: RawRow, kind: str) -> str:
    headers = [BY_KEY[key].header for key in _UNUSED_BY[kind] if _blank(row.cells.get(key)) is not None]
    if not headers:
        return ""
    return (f" Kolom {', '.join(headers)} tidak dipakai pada baris {'PKS' if kind == 'pks' else 'Kesepakatan'}"
            " dan diabaikan.")


def _refused(row: RawRow, refused: RowRefused) -> RowResult:
    kind = _blank(row.cells.get("kind"))
    reference = _blank(row.cells.get("number")) or _blank(row.cells.get("framework_number"))
    where = f" (kolom {refused.column})" if refused.column else ""
    return RowResult(row.number, "pks" if str(kind).casefold() == "pks" else "kesepakatan",
                     str(reference)[:REFERENCE_MAX] if reference is not None else None, REFUSED,
                     f"Ditolak{where}: {refused.message}", column=refused.column, code=refused.code)


def _number_key(number: Any) -> str:
    return " ".join(str(number).split()).casefold()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while an import decides and appends its
    rows. Those phases build tens of thousands of objects that all stay alive, and each full
    collection the growing heap triggers walks every one of them again: measured, that
    was about a third of the append's time. Memory is still freed by reference counting; any
    cycles wait for the next collection once this ends (a file is bounded by `max_rows`). A
    pause already in force (another import's) is left to whoever started it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def import_file(registry: Registry, identity: Identity, content: bytes, filename: str | None, *, dry_run: bool,
                max_bytes: int, max_rows: int, batch_size: int = 2_000) -> ImportReport:
    """Import one file for `identity`'s region (an operator); see the module's docstring."""
    return Importer(registry, identity, batch_size=batch_size).run(
        content, filename, dry_run=dry_run, max_bytes=max_bytes, max_rows=max_rows)


# While an import packs one batch (pure Python) its writer thread waits on the server for
# the batch before: a dozen round trips a batch, each needing the GIL back to send the next
# statement. At the interpreter's default switch interval (5 ms) the writer may wait that
# long after every answer while the server sits idle. Measured on the import bench's files,
# the intervals alternating file by file in one process (medians of four files): 0.5 ms
# against 2 ms, 38,994 and 48,222 against 33,789 and 42,679 events/s; against 5 ms, 44,564
# against 39,707 in one run and even in another; 0.1 ms no better. See `sys.setswitchinterval`.
_IMPORT_SWITCH_INTERVAL = 0.0005


@contextmanager
def _quick_thread_switches() -> Iterator[None]:
    """The interpreter's thread switch interval at `_IMPORT_SWITCH_INTERVAL` at most while an
    import appends (restored after); an interval already that short (another import's) is
    left to whoever set it."""
    before = sys.getswitchinterval()
    if before <= _IMPORT_SWITCH_INTERVAL:
        yield
        return
    sys.setswitchinterval(_IMPORT_SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
