"""Reports as an official prints them: compiled content laid out as a `Document` (title,
region, period, tables with Indonesian headers), rendered to XLSX, CSV or PDF by
`exports.render`. Everything a person reads here is Bahasa Indonesia."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from services.monitoring.domain.alerts import SEVERITY_LABELS, Severity
from services.reporting.domain.labels import DOCUMENT_STAGES, DOCUMENTS, FORMS, PARTNER_TYPES, RECOMMENDATIONS, STAGES
from services.reporting.domain.labels import label as _label
from services.reporting.domain.reports import TIMELINESS_LABELS
from services.reporting.exports import Column, Document, Table, Text, persen, rupiah
from shared.periods import Period, tanggal
from shared.regions import load_regions
from shared.urusan import get_urusan


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


def _closing(position: str, printed_on: date) -> tuple[str, ...]:
    """Where the official signs: place (written in by hand) and date, position, name, NIP."""
    return (f"................, {tanggal(printed_on)}", position, "", "", "",
            "(........................................)", "NIP ........................................")


def _head_of(region: Mapping[str, Any]) -> str:
    """The head of a region, who reports up the chain: Bupati, Wali Kota or Gubernur."""
    name = region["name"]
    for prefix, title in (("Kabupaten ", "Bupati "), ("Kota ", "Wali Kota ")):
        if region["kind"] != "provinsi" and name.startswith(prefix):
            return title + name[len(prefix):]
    return f"Gubernur {name}"


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


def region_report_document(report: Mapping[str, Any], printed_on: date) -> Document:
    """`report`: the API's body of a region report (with its `content`)."""
    content = report["content"]
    entries = content["agreements"]
    sections: list[Any] = [
        Text("Uraian", report["narrative"] or "-"),
        *([Text("Kendala umum", report["obstacles"])] if report.get("obstacles") else []),
        *([Text("Tindak lanjut", report["follow_up"])] if report.get("follow_up") else []),
        _summary_table(content["summary"]),
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
    return Document(
        title="LAPORAN PELAKSANAAN KERJA SAMA DAERAH",
        subtitle=f"{region['name']}{province}",
        meta=(
            ("Daerah", _region(region)),
            ("Periode", _period(content["period"])),
            ("Status", _submission_status(report)),
            ("Batas waktu penyampaian", tanggal(_day(report["deadline"]))),
            ("Data per tanggal", tanggal(_day(content["compiled_on"]))),
            *_judged_on(content),
            ("Sumber data", _sources(report.get("sources") or {})),
        ),
        sections=tuple(sections),
        printed_on=printed_on,
        filename=f"laporan-ksd-{region['code']}-{content['period']['code']}",
        closing=_closing(_head_of(region), printed_on),
    )


def consolidation_document(body: Mapping[str, Any], printed_on: date) -> Document:
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
    sections: list[Any] = [
        *([Text("Catatan provinsi", body["narrative"])] if body.get("narrative") else []),
        standing_table,
        completeness_table,
        *_totals_tables(content["province_wide"], "se-Provinsi"),
        agreements_table(own["agreements"], title=f"Kerja Sama {province['name']} (laporan provinsi: "
                                                  f"{own['status_label'].lower()})", sheet="Kerja Sama Provinsi"),
    ]
    return Document(
        title="REKAPITULASI LAPORAN KERJA SAMA DAERAH KABUPATEN/KOTA",
        subtitle=province["name"],
        meta=(
            ("Provinsi", _region(province)),
            ("Periode", _period(content["period"])),
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
        printed_on=printed_on,
        filename=f"konsolidasi-ksd-{province['code']}-{content['period']['code']}",
        closing=_closing(_head_of(province), printed_on),
    )


def national_document(content: Mapping[str, Any], printed_on: date) -> Document:
    c, k = content["completeness"], content["consolidations"]
    rows = []
    for i, p in enumerate(content["provinces"], 1):
        pc, cons = p["completeness"], p["consolidation"]
        rows.append((i, p["code"], p["name"], pc["regions"], pc["tepat_waktu"], pc["terlambat"],
                     pc["belum_menyampaikan"], pc["share_submitted"], p["own_report"]["status_label"],
                     cons["status_label"] if cons else "Tidak ada kab/kota otonom",
                     _day(cons["first_submitted_on"]) if cons else None))
    provinces_table = Table(
        title="Kelengkapan Laporan per Provinsi", sheet="Provinsi",
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
        title="Daerah yang Belum Pernah Menyampaikan Laporan", sheet="Belum Pernah Melapor",
        columns=(Column("No", "number", 4), Column("Kode", width=7), Column("Daerah", width=30),
                 Column("Provinsi", width=24)),
        rows=tuple((i, r["code"], r["name"], _province_name(r["province"])) for i, r in enumerate(never, 1)),
        note=None if never else "Semua daerah pernah menyampaikan laporan.",
    )
    totals = content["totals"]
    return Document(
        title="REKAPITULASI NASIONAL LAPORAN KERJA SAMA DAERAH",
        subtitle="Kementerian Dalam Negeri — Direktorat Jenderal Bina Administrasi Kewilayahan",
        meta=(
            ("Periode", _period(content["period"])),
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
        sections=(provinces_table, *_totals_tables(totals, "Nasional"), never_table),
        printed_on=printed_on,
        filename=f"rekap-nasional-ksd-{content['period']['code']}",
        closing=_closing("Direktur Jenderal Bina Administrasi Kewilayahan", printed_on),
    )
