"""Reports as an official prints them: compiled content laid out as a `Document` (title,
region, period, tables with Indonesian headers), rendered to XLSX, CSV or PDF by
`exports.render`. Everything a person reads here is Bahasa Indonesia.

Each document is also a letter (`exports.Letter`) from the sender's region profile: kop
surat, nomor, addressee up the reporting chain, the substance first (figures, findings, monev
recommendations), the signature, and the long lists as its LAMPIRAN (`Document.annex`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, overload

from services.monitoring.contract import SEVERITY_LABELS, Severity
from services.reporting.domain.labels import DOCUMENT_STAGES, DOCUMENTS, FORMS, PARTNER_TYPES, RECOMMENDATIONS, STAGES
from services.reporting.domain.labels import label as _label
from services.reporting.domain.profiles import ProfileFields, head_title
from services.reporting.domain.reports import TIMELINESS_LABELS
from services.reporting.exports import Column, Document, Letter, Signatory, Table, Text, persen, rupiah
from shared.periods import Period, tanggal
from shared.regions import load_regions
from shared.urusan import get_urusan


@overload
def _day(text: str) -> date: ...
@overload
def _day(text: str | None) -> date | None: ...
def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def _urusan(codes: Iterable[str]) -> str:
    return "; ".join(f"{c} {u.name}" if (u := get_urusan(c)) else c for c in codes)


def _partner(p: Mapping[str, Any]) -> str:
    if p["kind"] == "region":
        return p["name"]
    kind = _label(PARTNER_TYPES, p.get("type"))
    return f"{p['name']} ({kind}{', ' + p['country'] if p.get('country') else ''})"


def _region(info: Mapping[str, Any]) -> str:
    return f"{info['name']} ({info['code']})"


def _province_name(code: str) -> str:
    region = load_regions().get(code)
    return region.display_name if region else code


def _period_label(code: str) -> str:
    return Period.parse(code).label


def _period(info: Mapping[str, Any]) -> str:
    return f"{info['label']} ({tanggal(_day(info['start']))} s.d. {tanggal(_day(info['end']))})"


def _submission_status(report: Mapping[str, Any]) -> str:
    """`Disampaikan 5 Juli 2026 (revisi 1 dari 2), tepat waktu` or `Draf, belum disampaikan`."""
    shown = report.get("content_revision")
    if not shown:
        return "Draf, belum disampaikan" if not report["submissions"] else "Pratinjau data terkini (belum disampaikan)"
    submission = report["submissions"][shown - 1]
    timely = "tepat waktu" if submission["on_time"] else "terlambat"
    return (f"Disampaikan {tanggal(_day(submission['submitted_on']))} (revisi {shown} dari "
            f"{len(report['submissions'])}), {timely}")


def _sources(sources: Mapping[str, Any]) -> str:
    return (f"registri s.d. peristiwa #{sources.get('registry', 0)}, pemantauan s.d. peristiwa "
            f"#{sources.get('monitoring', 0)}")


@dataclass(frozen=True)
class LetterParts:
    """What an export is printed as a letter with: the sender's profile, the addressee's
    profile (the province, for a kab/kota's report: its city of signing), and the nomor surat
    given with the request (None: a draft number from the sender's pattern)."""

    profile: ProfileFields
    parent: ProfileFields | None = None
    number: str | None = None


MENDAGRI = ("Yth. Menteri Dalam Negeri", "c.q. Direktur Jenderal Bina Administrasi Kewilayahan", "di", "Jakarta")
DIRJEN = "Direktur Jenderal Bina Administrasi Kewilayahan"
_BASIS = ("Dalam rangka pelaporan pelaksanaan kerja sama daerah sebagaimana diamanatkan Peraturan Pemerintah "
          "Nomor 28 Tahun 2018 tentang Kerja Sama Daerah, ")
_BLANK_CITY = "................"


def _number(parts: LetterParts, printed_on: date) -> str:
    """The nomor surat: as given, else a draft from the profile's pattern, with dots where
    the secretariat writes the running number."""
    if parts.number:
        return parts.number
    return (parts.profile.letter_number_pattern.replace("{nomor}", ".......")
            .replace("{tahun}", str(printed_on.year)))


def _letterhead(profile: ProfileFields) -> tuple[str, ...]:
    contacts = [f"{label} {value}" for label, value in (("Telepon", profile.phone), ("Pos-el", profile.email),
                                                         ("Laman", profile.website)) if value]
    return (*profile.address_lines, *(["; ".join(contacts)] if contacts else []))


def _letter(parts: LetterParts, printed_on: date, *, addressee: tuple[str, ...], subject: str, opening: str,
            kind: str = "surat") -> Letter:
    profile = parts.profile
    return Letter(
        government=profile.government_name, letterhead=_letterhead(profile), number=_number(parts, printed_on),
        place_date=f"{profile.city or _BLANK_CITY}, {tanggal(printed_on)}",
        addressee=profile.addressee or addressee, subject=subject, opening=opening,
        signatory=Signatory(title=profile.signatory_title, name=profile.signatory_name,
                            civil_servant=profile.signatory_is_civil_servant,
                            nip=profile.nip if profile.signatory_is_civil_servant else None,
                            rank=profile.rank if profile.signatory_is_civil_servant else None),
        kind=kind,  # type: ignore[arg-type]
        sender=profile.signatory_title if kind == "nota_dinas" else None,
    )


def _recommendation_counts(entries: Iterable[Mapping[str, Any]]) -> str:
    counts = Counter(v["recommendation"] for e in entries for v in e["evaluations"])
    return ", ".join(f"{n} {_label(RECOMMENDATIONS, code).lower()}" for code, n in sorted(counts.items()))


def _evaluations_text(e: Mapping[str, Any]) -> str:
    """An agreement's monev recommendations, each with its period and findings."""
    return "; ".join(f"{_label(RECOMMENDATIONS, v['recommendation'])} ({_period_label(v['period'])}): "
                     f"{v['findings']}" for v in e["evaluations"]) or "Belum dievaluasi"


def _findings(entries: list[Mapping[str, Any]], summary: Mapping[str, Any], region_alerts: int = 0) -> Text:
    """The substance a reader needs first: the figures in words, what the alerts say, and the
    monev recommendations."""
    lines = [
        f"1. Kerja sama pada periode ini: {summary['agreements']} kerja sama, nilai {rupiah(summary['value_idr'])}; "
        f"{summary['pks_in_force']} PKS berlaku.",
        f"2. Laporan kemajuan: {summary['progress_reported']} dari {summary['progress_expected']} yang wajib "
        f"disampaikan; realisasi anggaran {rupiah(summary['budget_realised_idr'])} dari "
        f"{rupiah(summary['budget_planned_idr'])} ({persen(summary['realisation_share'])}).",
    ]
    titles = sorted({a["title"] for e in entries for a in e["alerts"]})
    lines.append(f"3. Peringatan aktif: {summary['alerts']}" + (f" ({'; '.join(titles)})." if titles else "."))
    counts = _recommendation_counts(entries)
    lines.append(f"4. Rekomendasi monitoring dan evaluasi: {counts}." if counts
                 else "4. Belum ada monitoring dan evaluasi pada periode ini.")
    evaluated = [e for e in entries if e["evaluations"]]
    lines += [f"   - {e['title']}: {_evaluations_text(e)}" for e in evaluated[:8]]
    if len(evaluated) > 8:
        lines.append(f"   - dan {len(evaluated) - 8} kerja sama lainnya (lihat Lampiran).")
    return Text("Temuan dan Rekomendasi", "\n".join(lines))


# -- the tables -------------------------------------------------------------------------------------


def agreements_table(
    entries: list[Mapping[str, Any]], title: str = "Daftar Kerja Sama", sheet: str = "Kerja Sama"
) -> Table:
    rows = []
    for i, e in enumerate(entries, 1):
        in_force = [d for d in e["documents"] if d["in_force"]]
        documents = "; ".join(f"{_label(DOCUMENTS, d['type'])} {d['number']} s.d. {tanggal(_day(d['valid_until']))}"
                              for d in in_force) or "-"
        progress = "; ".join(
            f"{_period_label(p)}: {'belum disampaikan' if p in e['progress_missing'] else 'disampaikan'}"
            for p in e["progress_due"]) or ("disampaikan" if e["progress"] else "-")
        recommendation = e["evaluations"][-1]["recommendation"] if e["evaluations"] else None
        rows.append((
            i, e["title"], e["form"], "; ".join(_partner(p) for p in e["partners"]) or "-", _urusan(e["urusan"]),
            _label(STAGES, e["stage"]), documents, e["value_idr"], e["budget_planned_idr"], e["budget_realised_idr"],
            e["budget_realised_idr"] / e["budget_planned_idr"] if e["budget_planned_idr"] else None, progress,
            _label(RECOMMENDATIONS, recommendation), len(e["alerts"]),
        ))
    planned = sum(e["budget_planned_idr"] for e in entries)
    realised = sum(e["budget_realised_idr"] for e in entries)
    return Table(
        title=title, sheet=sheet,
        columns=(
            Column("No", "number", 4), Column("Judul kerja sama", width=30), Column("Bentuk", width=8),
            Column("Mitra", width=24), Column("Urusan", width=22, printed=False), Column("Tahap", width=14),
            Column("Naskah berlaku dalam periode", width=26), Column("Nilai kerja sama (Rp)", "rupiah", 16),
            Column("Anggaran (Rp)", "rupiah", 16), Column("Realisasi (Rp)", "rupiah", 16),
            Column("Realisasi (%)", "percent", 9, printed=False), Column("Laporan kemajuan", width=18),
            Column("Rekomendasi monev", width=12, printed=False), Column("Peringatan", "number", 9),
        ),
        rows=tuple(rows),
        total=("Jumlah", None, None, None, None, None, None, sum(e["value_idr"] or 0 for e in entries), planned,
               realised, realised / planned if planned else None, None, None,
               sum(len(e["alerts"]) for e in entries)) if entries else None,
        note=None if entries else "Tidak ada kerja sama pada periode ini.",
    )


def _summary_table(summary: Mapping[str, Any]) -> Table:
    rows: list[tuple[Any, ...]] = [("Kerja sama yang dilaporkan", summary["agreements"], summary["value_idr"])]
    rows += [(f"  Tahap {_label(STAGES, stage)}", n, None) for stage, n in summary["by_stage"].items()]
    rows += [(f"  Bentuk {form}", n, None) for form, n in summary["by_form"].items()]
    rows += [
        ("Naskah berlaku", summary["documents_in_force"], None),
        ("PKS berlaku", summary["pks_in_force"], None),
        ("Laporan kemajuan yang wajib disampaikan", summary["progress_expected"], None),
        ("Laporan kemajuan yang telah disampaikan", summary["progress_reported"], None),
        ("Anggaran yang direncanakan", None, summary["budget_planned_idr"]),
        (f"Realisasi anggaran ({persen(summary['realisation_share'])})", None, summary["budget_realised_idr"]),
        ("Penerima manfaat (orang)", summary["beneficiaries"], None),
        ("Evaluasi (monev)", summary["evaluations"], None),
        ("Peringatan aktif", summary["alerts"], None),
    ]
    return Table(title="Ringkasan", columns=(Column("Uraian", width=44), Column("Jumlah", "number", 10),
                                             Column("Nilai (Rp)", "rupiah", 20)), rows=tuple(rows))


def _indicators_table(entries: list[Mapping[str, Any]]) -> Table:
    rows = [
        (e["title"], _period_label(p["period"]), i["name"], i["unit"], i["target"], i["achieved"],
         i["achieved"] / i["target"] if i["target"] else None)
        for e in entries for p in e["progress"] for i in p["indicators"]
    ]
    return Table(
        title="Indikator Keluaran", sheet="Indikator",
        columns=(Column("Kerja sama", width=30), Column("Periode", width=14), Column("Indikator", width=30),
                 Column("Satuan", width=10), Column("Target", "number", 10), Column("Capaian", "number", 10),
                 Column("Capaian (%)", "percent", 10)),
        rows=tuple(rows), note=None if rows else "Belum ada laporan kemajuan pada periode ini.",
    )


def _obstacles_table(entries: list[Mapping[str, Any]]) -> Table:
    rows = [(e["title"], _period_label(p["period"]), ", ".join(p["activities"]) or "-", p["obstacles"] or "-",
             p["follow_up"] or "-") for e in entries for p in e["progress"]]
    return Table(
        title="Kegiatan, Kendala dan Tindak Lanjut", sheet="Kendala",
        columns=(Column("Kerja sama", width=30), Column("Periode", width=14), Column("Kegiatan", width=30),
                 Column("Kendala", width=30), Column("Tindak lanjut", width=30)),
        rows=tuple(rows), note=None if rows else "Belum ada laporan kemajuan pada periode ini.",
    )


def _evaluations_table(entries: list[Mapping[str, Any]]) -> Table:
    rows = [(e["title"], _period_label(v["period"]), v["score"], _label(RECOMMENDATIONS, v["recommendation"]),
             v["findings"], _day(v["evaluated_on"])) for e in entries for v in e["evaluations"]]
    return Table(
        title="Hasil Monitoring dan Evaluasi", sheet="Monev",
        columns=(Column("Kerja sama", width=30), Column("Periode", width=14), Column("Nilai", "number", 8),
                 Column("Rekomendasi", width=12), Column("Temuan", width=40), Column("Tanggal evaluasi", "date", 16)),
        rows=tuple(rows), note=None if rows else "Belum ada evaluasi pada periode ini.",
    )


def _alerts_table(entries: list[Mapping[str, Any]], region_alerts: list[Mapping[str, Any]]) -> Table:
    rows = [(subject, a["title"], SEVERITY_LABELS[Severity(a["severity"])], _day(a["since"]), a["message"])
            for subject, alerts in [*((e["title"], e["alerts"]) for e in entries), ("Daerah", region_alerts)]
            for a in alerts]
    return Table(
        title="Peringatan", sheet="Peringatan",
        columns=(Column("Kerja sama", width=30), Column("Jenis", width=30), Column("Tingkat", width=14),
                 Column("Sejak", "date", 16), Column("Uraian", width=50)),
        rows=tuple(rows), note=None if rows else "Tidak ada peringatan.",
    )


def _judged_on(content: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The day the period's agreements are counted by, when it is not the day compiled."""
    judged = content.get("judged_on")
    if not judged or judged == content["compiled_on"]:
        return ()
    return (("Tahap dan naskah per tanggal", tanggal(_day(judged))),)


def _documents_table(entries: list[Mapping[str, Any]], on: date) -> Table:
    def status(d: Mapping[str, Any]) -> str:
        if d["stage"] == "ditandatangani" and _day(d["valid_until"]) < on:
            return "Lewat masa berlaku"
        return _label(DOCUMENT_STAGES, d["stage"])

    rows = [(e["title"], _label(DOCUMENTS, d["type"]), d["number"], _day(d["signed_on"]), _day(d["valid_until"]),
             "Ya" if d["in_force"] else "Tidak", status(d)) for e in entries for d in e["documents"]]
    return Table(
        title="Naskah Kerja Sama", sheet="Naskah",
        columns=(Column("Kerja sama", width=30), Column("Naskah", width=18), Column("Nomor", width=20),
                 Column("Ditandatangani", "date", 16), Column("Berlaku sampai", "date", 16),
                 Column("Berlaku dalam periode", width=12), Column("Status per tanggal data", width=18)),
        rows=tuple(rows), note=None if rows else "Belum ada naskah yang ditandatangani.",
    )


def _grouped_table(title: str, header: str, groups: list[Mapping[str, Any]], names: Mapping[str, str] | None,
                   sheet: str | None = None) -> Table:
    def name(code: str) -> str:
        if names is None:
            found = get_urusan(code)
            return f"{code} {found.name}" if found else code
        return names.get(code, code)

    return Table(
        title=title, sheet=sheet,
        columns=(Column(header, width=44), Column("Jumlah kerja sama", "number", 12),
                 Column("Nilai (Rp)", "rupiah", 20)),
        rows=tuple((name(g["code"]), g["count"], g["value_idr"]) for g in groups),
        note=None if groups else "Tidak ada kerja sama pada periode ini.",
    )


def _totals_tables(totals: Mapping[str, Any], what: str) -> list[Table]:
    return [
        _grouped_table(f"Kerja Sama {what} menurut Bentuk", "Bentuk kerja sama", totals["by_form"],
                       {k: f"{k} — {v}" for k, v in FORMS.items()}, sheet="Rekap"),
        _grouped_table(f"Kerja Sama {what} menurut Tahap", "Tahap", totals["by_stage"], STAGES, sheet="Rekap"),
        _grouped_table(f"Kerja Sama {what} menurut Urusan", "Urusan pemerintahan", totals["by_urusan"], None,
                       sheet="Rekap"),
    ]


# -- the documents ----------------------------------------------------------------------------------


def region_report_document(report: Mapping[str, Any], printed_on: date, parts: LetterParts) -> Document:
    """`report`: the API's body of a region report (with its `content`). A kab/kota writes to
    its governor (c.q. the Biro Pemerintahan); a province's own report goes to the Minister."""
    content = report["content"]
    entries = content["agreements"]
    sections: list[Any] = [
        Text("Uraian", report["narrative"] or "-"),
        *([Text("Kendala umum", report["obstacles"])] if report.get("obstacles") else []),
        *([Text("Tindak lanjut", report["follow_up"])] if report.get("follow_up") else []),
        _summary_table(content["summary"]),
        _findings(entries, content["summary"]),
    ]
    annex: list[Any] = [
        agreements_table(entries),
        # Documents stand as they did on the day the period is judged by (older contents: compiled).
        _documents_table(entries, _day(content.get("judged_on") or content["compiled_on"])),
        _indicators_table(entries),
        _obstacles_table(entries),
        _evaluations_table(entries),
        _alerts_table(entries, content["region_alerts"]),
    ]
    region = content["region"]
    province = f" — Provinsi {_province_name(region['province'])}" if region["kind"] != "provinsi" else ""
    period = content["period"]
    if region["kind"] == "provinsi":
        addressee = MENDAGRI
    else:
        known = load_regions().get(region["province"])
        governor = head_title(known) if known else f"Gubernur {_province_name(region['province'])}"
        city = parts.parent.city if parts.parent and parts.parent.city else "Tempat"
        addressee = (f"Yth. {governor}", "c.q. Kepala Biro Pemerintahan", "di", city)
    subject = f"Laporan Pelaksanaan Kerja Sama Daerah {period['label']}"
    letter = _letter(parts, printed_on, addressee=addressee, subject=subject, opening=(
        f"{_BASIS}bersama ini kami sampaikan Laporan Pelaksanaan Kerja Sama Daerah {region['name']} "
        f"periode {_period(period)}, dengan pokok-pokok sebagai berikut. Daftar kerja sama, naskah, indikator, "
        f"hasil monitoring dan evaluasi serta peringatan selengkapnya tercantum dalam Lampiran."))
    return Document(
        title="LAPORAN PELAKSANAAN KERJA SAMA DAERAH",
        subtitle=f"{region['name']}{province}",
        meta=(
            ("Daerah", _region(region)),
            ("Periode", _period(period)),
            ("Status", _submission_status(report)),
            ("Batas waktu penyampaian", tanggal(_day(report["deadline"]))),
            ("Data per tanggal", tanggal(_day(content["compiled_on"]))),
            *_judged_on(content),
            ("Sumber data", _sources(report.get("sources") or {})),
        ),
        sections=tuple(sections),
        annex=tuple(annex),
        printed_on=printed_on,
        filename=f"laporan-ksd-{region['code']}-{period['code']}",
        letter=letter,
    )


def _regency_agreements_table(regions: list[Mapping[str, Any]], contents: Mapping[str, Mapping[str, Any]]) -> Table:
    """Per kab/kota: each agreement of its report (the revision the consolidation counted)
    with its stage and its monev recommendations."""
    rows: list[tuple[Any, ...]] = []
    for r in regions:
        content = contents.get(r["code"])
        if content is None:
            rows.append((r["name"], "Belum menyampaikan laporan" if not r["revision"] else "-", None, None, None,
                         None, None))
            continue
        entries = content.get("agreements") or []
        if not entries:
            rows.append((r["name"], "Tidak ada kerja sama pada periode ini", None, None, None, None, None))
        for e in entries:
            rows.append((r["name"], e["title"], e["form"], "; ".join(_partner(p) for p in e["partners"]) or "-",
                         _label(STAGES, e["stage"]), e["value_idr"], _evaluations_text(e)))
    return Table(
        title="Kerja Sama dan Rekomendasi Monev per Kabupaten/Kota", sheet="Kerja Sama Kab-Kota",
        columns=(Column("Kabupaten/Kota", width=20), Column("Judul kerja sama", width=30),
                 Column("Bentuk", width=8), Column("Mitra", width=24), Column("Tahap", width=14),
                 Column("Nilai kerja sama (Rp)", "rupiah", 16), Column("Rekomendasi monev", width=36)),
        rows=tuple(rows), note=None if rows else "Tidak ada kabupaten/kota otonom.",
    )


def consolidation_document(body: Mapping[str, Any], printed_on: date, parts: LetterParts,
                           regency_contents: Mapping[str, Mapping[str, Any]] | None = None) -> Document:
    """The province's consolidation as its letter to the Minister (c.q. the Direktur Jenderal
    Bina Administrasi Kewilayahan). `regency_contents`: each kab/kota's report content, as of
    the revision the consolidation counted, for the list of their agreements and monev
    recommendations."""
    contents = regency_contents or {}
    content = body["content"]
    c = content["completeness"]
    regions = content["regions"]
    rows = []
    for i, r in enumerate(regions, 1):
        f = r["figures"] or {}
        rows.append((i, r["code"], r["name"], r["status_label"], _day(r["first_submitted_on"]), r["revision"] or None,
                     f.get("agreements"), f.get("value_idr"), f.get("budget_planned_idr"), f.get("budget_realised_idr"),
                     f.get("alerts")))
    totals = content["reported_totals"]
    completeness_table = Table(
        title="Kelengkapan Laporan Kabupaten/Kota", sheet="Kabupaten-Kota",
        columns=(Column("No", "number", 4), Column("Kode", width=7), Column("Kabupaten/Kota", width=26),
                 Column("Status", width=18), Column("Tanggal disampaikan", "date", 16), Column("Revisi", "number", 7),
                 Column("Kerja sama", "number", 10), Column("Nilai kerja sama (Rp)", "rupiah", 18),
                 Column("Anggaran (Rp)", "rupiah", 18), Column("Realisasi (Rp)", "rupiah", 18),
                 Column("Peringatan", "number", 10)),
        rows=tuple(rows),
        # Shared agreements are in several kab/kota's reports: their count, value and alerts are
        # totalled once in the province-wide tables, not here.
        total=("Jumlah", None, f"{c['regions']} kab/kota", f"{c['submitted']} menyampaikan", None, None,
               None, None, totals["budget_planned_idr"], totals["budget_realised_idr"], None),
        note="Kerja sama yang melibatkan beberapa kab/kota tercantum pada laporan masing-masing; jumlahnya "
             "dihitung sekali pada rekap se-provinsi.",
    )
    standing_table = Table(
        title="Ringkasan Kelengkapan",
        columns=(Column("Status", width=30), Column("Jumlah kab/kota", "number", 14),
                 Column("Persentase", "percent", 12)),
        rows=tuple((label, c[k], c[k] / c["regions"] if c["regions"] else None)
                   for k, label in TIMELINESS_LABELS.items()),
        total=("Jumlah", c["regions"], 1.0 if c["regions"] else None),
    )
    own = content["own_report"]
    province = content["province"]
    missing = [r["name"] for r in regions if not r["revision"]]
    late = [r["name"] for r in regions if r["status"] == "terlambat"]
    # An agreement shared by several kab/kota is in each one's report: its evaluations count once.
    reported = list({e["id"]: e for c_ in contents.values() for e in c_.get("agreements") or []}.values())
    wide = content["province_wide"]
    counts = _recommendation_counts(reported)
    findings = [
        f"1. Kelengkapan: {c['submitted']} dari {c['regions']} kabupaten/kota menyampaikan laporan "
        f"({c['tepat_waktu']} tepat waktu, {c['terlambat']} terlambat).",
        "2. Belum menyampaikan laporan: " + (", ".join(missing) if missing else "tidak ada") + ".",
        "3. Terlambat: " + (", ".join(late) if late else "tidak ada") + ".",
        f"4. Kerja sama se-provinsi pada periode ini: {wide['agreements']} kerja sama, nilai "
        f"{rupiah(wide['value_idr'])}; realisasi anggaran yang dilaporkan kabupaten/kota "
        f"{rupiah(totals['budget_realised_idr'])} dari {rupiah(totals['budget_planned_idr'])}.",
        f"5. Rekomendasi monitoring dan evaluasi pada laporan kabupaten/kota: {counts}." if counts
        else "5. Belum ada rekomendasi monitoring dan evaluasi pada laporan kabupaten/kota.",
    ]
    if missing:
        findings.append(f"6. Rekomendasi: kabupaten/kota yang belum menyampaikan laporan ({len(missing)}) "
                        "agar segera menyampaikannya.")
    sections: list[Any] = [
        *([Text("Catatan provinsi", body["narrative"])] if body.get("narrative") else []),
        standing_table,
        Text("Temuan dan Rekomendasi", "\n".join(findings)),
    ]
    by_form, by_stage, by_urusan = _totals_tables(wide, "se-Provinsi")
    annex: list[Any] = [
        completeness_table,
        _regency_agreements_table(regions, contents),
        by_form, by_stage, by_urusan,
        agreements_table(own["agreements"], title=f"Kerja Sama {province['name']} (laporan provinsi: "
                                                  f"{own['status_label'].lower()})", sheet="Kerja Sama Provinsi"),
    ]
    period = content["period"]
    subject = f"Rekapitulasi Laporan Kerja Sama Daerah Kabupaten/Kota {period['label']}"
    letter = _letter(parts, printed_on, addressee=MENDAGRI, subject=subject, opening=(
        f"{_BASIS}bersama ini kami sampaikan Rekapitulasi Laporan Kerja Sama Daerah Kabupaten/Kota se-"
        f"{province['name']} periode {_period(period)}, dengan pokok-pokok sebagai berikut. Kelengkapan laporan, "
        f"kerja sama dan rekomendasi monitoring dan evaluasi per kabupaten/kota tercantum dalam Lampiran."))
    return Document(
        title="REKAPITULASI LAPORAN KERJA SAMA DAERAH KABUPATEN/KOTA",
        subtitle=province["name"],
        meta=(
            ("Provinsi", _region(province)),
            ("Periode", _period(period)),
            ("Status konsolidasi", _submission_status(body)),
            ("Batas waktu laporan kab/kota", tanggal(_day(content["report_deadline"]))),
            ("Batas waktu konsolidasi", tanggal(_day(content["consolidation_deadline"]))),
            ("Kelengkapan", f"{c['submitted']} dari {c['regions']} kab/kota menyampaikan laporan "
                            f"({c['tepat_waktu']} tepat waktu, {c['terlambat']} terlambat); "
                            f"{c['belum_menyampaikan']} belum menyampaikan"),
            ("Data per tanggal", tanggal(_day(content["compiled_on"]))),
            *_judged_on(content),
        ),
        sections=tuple(sections),
        annex=tuple(annex),
        printed_on=printed_on,
        filename=f"konsolidasi-ksd-{province['code']}-{period['code']}",
        letter=letter,
    )


def national_document(content: Mapping[str, Any], printed_on: date, parts: LetterParts) -> Document:
    """The roll-up as the Direktorat's nota dinas to the Direktur Jenderal: the figures and
    findings first; the provinces, the breakdowns and the regions that never reported (a
    compact table in small print) as its LAMPIRAN."""
    c, k = content["completeness"], content["consolidations"]
    rows = []
    for i, p in enumerate(content["provinces"], 1):
        pc, cons = p["completeness"], p["consolidation"]
        rows.append((i, p["code"], p["name"], pc["regions"], pc["tepat_waktu"], pc["terlambat"],
                     pc["belum_menyampaikan"], pc["share_submitted"], p["own_report"]["status_label"],
                     cons["status_label"] if cons else "Tidak ada kab/kota otonom",
                     _day(cons["first_submitted_on"]) if cons else None))
    provinces_table = Table(
        title="Lampiran I: Kelengkapan Laporan per Provinsi", sheet="Provinsi",
        columns=(Column("No", "number", 4), Column("Kode", width=6), Column("Provinsi", width=24),
                 Column("Kab/kota", "number", 9), Column("Tepat waktu", "number", 9), Column("Terlambat", "number", 9),
                 Column("Belum", "number", 9), Column("Kelengkapan (%)", "percent", 11),
                 Column("Laporan provinsi", width=16), Column("Konsolidasi", width=16),
                 Column("Tanggal konsolidasi", "date", 16)),
        rows=tuple(rows),
        total=("Jumlah", None, f"{len(rows)} provinsi", c["regions"], c["tepat_waktu"], c["terlambat"],
               c["belum_menyampaikan"], c["share_submitted"], None, f"{k['submitted']} disampaikan", None),
    )
    never = content["never_reporting"]
    never_table = Table(
        title="Lampiran II: Daerah yang Belum Pernah Menyampaikan Laporan", sheet="Belum Pernah Melapor",
        columns=(Column("No", "number", 4), Column("Kode", width=7), Column("Daerah", width=30),
                 Column("Provinsi", width=24)),
        rows=tuple((i, r["code"], r["name"], _province_name(r["province"])) for i, r in enumerate(never, 1)),
        note=None if never else "Semua daerah pernah menyampaikan laporan.",
        compact=3,
    )
    totals = content["totals"]
    period = content["period"]
    behind = sorted((p for p in content["provinces"] if p["consolidation"]),
                    key=lambda p: (p["completeness"]["share_submitted"] or 0, p["code"]))[:5]
    summary = Table(
        title="Ringkasan",
        columns=(Column("Uraian", width=50), Column("Jumlah", "number", 12), Column("Dari", "number", 12),
                 Column("Persentase", "percent", 12)),
        rows=(
            ("Kab/kota yang menyampaikan laporan", c["submitted"], c["regions"], c["share_submitted"]),
            ("  tepat waktu", c["tepat_waktu"], c["regions"], c["share_on_time"]),
            ("  terlambat", c["terlambat"], c["regions"], None),
            ("Provinsi yang menyampaikan konsolidasi", k["submitted"], k["regions"], k["share_submitted"]),
            ("Daerah yang belum pernah menyampaikan laporan", len(never), None, None),
            ("Kerja sama pada periode", totals["agreements"], None, None),
        ),
    )
    findings = [
        f"1. Kelengkapan laporan kab/kota {persen(c['share_submitted'])} ({c['submitted']} dari {c['regions']}); "
        f"{c['belum_menyampaikan']} kab/kota belum menyampaikan laporan periode ini.",
        f"2. Konsolidasi provinsi: {k['submitted']} dari {k['regions']} provinsi telah menyampaikan.",
        "3. Kelengkapan terendah: " + ("; ".join(
            f"{p['name']} {persen(p['completeness']['share_submitted'])}" for p in behind) or "-") + ".",
        f"4. {len(never)} daerah belum pernah menyampaikan laporan (Lampiran II).",
        f"5. Kerja sama pada periode: {totals['agreements']} kerja sama, nilai {rupiah(totals['value_idr'])}.",
        "6. Rekomendasi: provinsi dengan kelengkapan rendah diminta membina kabupaten/kota yang belum "
        "menyampaikan laporan, dan konsolidasi yang belum disampaikan agar segera disampaikan.",
    ]
    by_form, by_stage, by_urusan = _totals_tables(totals, "Nasional")
    letter = _letter(parts, printed_on, addressee=(f"Yth. {DIRJEN}",), kind="nota_dinas",
                     subject=f"Laporan Rekapitulasi Nasional Kerja Sama Daerah {period['label']}", opening=(
                         f"{_BASIS}bersama ini kami laporkan rekapitulasi nasional laporan kerja sama daerah periode "
                         f"{_period(period)}, dengan pokok-pokok sebagai berikut. Kelengkapan per provinsi dan "
                         f"daftar daerah yang belum pernah menyampaikan laporan tercantum dalam Lampiran."))
    return Document(
        title="REKAPITULASI NASIONAL LAPORAN KERJA SAMA DAERAH",
        subtitle="Kementerian Dalam Negeri — Direktorat Jenderal Bina Administrasi Kewilayahan",
        meta=(
            ("Periode", _period(period)),
            ("Kelengkapan kab/kota", f"{c['submitted']} dari {c['regions']} kab/kota menyampaikan laporan "
                                     f"({persen(c['share_submitted'])}); {c['tepat_waktu']} tepat waktu, "
                                     f"{c['terlambat']} terlambat"),
            ("Konsolidasi provinsi", f"{k['submitted']} dari {k['regions']} provinsi menyampaikan konsolidasi"),
            ("Kerja sama pada periode", f"{totals['agreements']} kerja sama, nilai {rupiah(totals['value_idr'])}"),
            ("Batas waktu", f"laporan daerah {tanggal(_day(content['deadlines']['report']))}; konsolidasi "
                            f"{tanggal(_day(content['deadlines']['consolidation']))}"),
            ("Data per tanggal", tanggal(_day(content["compiled_on"]))),
            *_judged_on(content),
        ),
        sections=(summary, Text("Temuan dan Rekomendasi", "\n".join(findings)), by_form),
        annex=(provinces_table, never_table, by_stage, by_urusan),
        printed_on=printed_on,
        filename=f"rekap-nasional-ksd-{period['code']}",
        letter=letter,
    )
