"""What the dashboards show, read from the services' public APIs with the user's token: the
national dashboard (charts and the map), a province's kab/kota, a region's work; and the
`/peringatan` and `/analisis` pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template

from services.web import charts, maps
from services.web.client import Api, ApiError
from services.web.format import region, rupiah, urusan_label
from services.web.pages.common import api, page
from services.web.session import User
from shared.labels import ALERT_KINDS, ALERT_SEVERITIES, FORMS, STAGES
from shared.periods import Period, local_date
from shared.regions import is_region_code, load_regions

ACTION_STAGES = ("persiapan", "penawaran", "penyusunan_kesepakatan")
SEVERITY_BADGE = {"critical": "kritis", "warning": "perhatian", "info": ""}
SEVERITY_ORDER = ("critical", "warning", "info")
KIND_NAMES = dict(ALERT_KINDS)
SEVERITY_NAMES = {code: words.capitalize() for code, words in ALERT_SEVERITIES.items()}

STATS_FIELDS = """
  byProvince: cooperationStats(groupBy: [PROVINCE], filter: $f) { groups { province { code name } count valueIdr }
    total { count valueIdr } }
  byForm: cooperationStats(groupBy: [FORM], filter: $f) { groups { form count valueIdr } }
  byUrusan: cooperationStats(groupBy: [URUSAN], filter: $f) { groups { urusan { code name } count } }
  byStage: cooperationStats(groupBy: [STAGE], filter: $f) { groups { stage count } }
  byYear: cooperationStats(groupBy: [YEAR, FORM], filter: $f) { groups { year form count } }
"""
NATIONAL_QUERY = "query Dasbor($f: CooperationFilter) {" + STATS_FIELDS + "}"
REGIONS_QUERY = """query Wilayah($f: CooperationFilter) {
  byRegion: cooperationStats(groupBy: [REGION], filter: $f) { groups { region { code name } count valueIdr }
    total { count valueIdr } }
}"""
HEALTH_QUERY = """query Kesehatan($code: String!, $on: Date) {
  regionHealth(code: $code, on: $on) { agreements frameworksSigned frameworksWithPks shareFrameworksWithPks
    reportsDue reportsOnTime sharePksReportingOnTime openAlerts { kind count } }
}"""
ANALYSIS_QUERY = """query Analisis($f: CooperationFilter, $c: CoverageFilter, $first: Int) {
""" + STATS_FIELDS + """
  network: cooperationNetwork(filter: $f, first: $first) { nodes { id kind label agreements }
    edges { source target weight valueIdr } truncated }
  coverage(filter: $c) { regions withActive byUrusan { urusan { code name } covered without }
    withoutAny(first: 60) { code name } }
}"""


# -- small helpers -----------------------------------------------------------------------------


def today() -> date:
    return local_date(datetime.now(UTC))


def last_period(day: date) -> Period:
    """The last semester that has ended: its reports are the ones due now."""
    current = Period.semester_of(day)
    return Period.parse(f"{day.year}-S1" if str(current).endswith("S2") else f"{day.year - 1}-S2")


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind.lower(), kind)


def severity_name(severity: str) -> str:
    return SEVERITY_NAMES.get(severity, severity)


def parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def province_name(code: str) -> str:
    return region(code)


def _groups(data: dict[str, Any], key: str, of: str | None = None) -> list[dict[str, Any]]:
    """The groups of one aliased cooperationStats answer; with `of`, only those with that key
    (an agreement without urusan, say, forms a group whose key is null)."""
    groups = ((data.get(key) or {}).get("groups")) or []
    return [g for g in groups if of is None or g.get(of) is not None]


# -- charts from the analyses ------------------------------------------------------------------


def stats_charts(data: dict[str, Any], prefix: str, *, drill: bool) -> dict[str, charts.Chart]:
    """The charts of one cooperationStats answer (byProvince, byForm, byUrusan, byStage, byYear)."""
    provinces = sorted(_groups(data, "byProvince", "province"), key=lambda g: (-g["count"], g["province"]["code"]))
    by_province = charts.bar_chart(
        [charts.Bar(g["province"]["name"], g["count"], f"/?provinsi={g['province']['code']}" if drill else None,
                    rupiah(int(float(g["valueIdr"])))) for g in provinces],
        title="Kerja sama per provinsi", svg_id=f"{prefix}-provinsi", label_header="Provinsi",
        desc="Jumlah kerja sama yang melibatkan daerah di setiap provinsi, terbanyak lebih dahulu.",
        note_header="Nilai")
    forms = {g["form"]: g for g in _groups(data, "byForm", "form")}
    by_form = charts.bar_chart(
        [charts.Bar(code, forms[code]["count"], None, rupiah(int(float(forms[code]["valueIdr"]))), FORMS[code])
         for code in FORMS if code in forms],
        title="Kerja sama per bentuk", svg_id=f"{prefix}-bentuk", label_header="Bentuk kerja sama",
        desc="Jumlah kerja sama menurut bentuknya (KSDD, KSDPK, KSDPL, KSDLL, Sinergi).", note_header="Nilai")
    urusan = sorted(_groups(data, "byUrusan", "urusan"), key=lambda g: (-g["count"], g["urusan"]["code"]))
    by_urusan = charts.bar_chart(
        [charts.Bar(urusan_label(g['urusan']['code'], g['urusan']['name']), g["count"]) for g in urusan],
        title="Kerja sama per urusan", svg_id=f"{prefix}-urusan", label_header="Urusan",
        desc="Jumlah kerja sama menurut urusan pemerintahan; satu kerja sama dapat mencakup beberapa urusan.")
    stages = {g["stage"]: g["count"] for g in _groups(data, "byStage", "stage")}
    by_stage = charts.bar_chart(
        [charts.Bar(label, stages[code]) for code, label in STAGES.items() if code in stages],
        title="Kerja sama per tahap", svg_id=f"{prefix}-tahap", label_header="Tahap",
        desc="Jumlah kerja sama menurut tahapnya saat ini, dari persiapan sampai berakhir atau dibatalkan.")
    years = sorted({g["year"] for g in _groups(data, "byYear") if g["year"] is not None})
    counts = {(g["year"], g["form"]): g["count"] for g in _groups(data, "byYear")}
    present = [f for f in FORMS if any((y, f) for y in years if (y, f) in counts)]
    by_year = charts.stacked_columns(
        [str(y) for y in years], [(f, [counts.get((y, f), 0) for y in years]) for f in present],
        title="Kerja sama per tahun", svg_id=f"{prefix}-tahun", category_header="Tahun",
        desc="Jumlah kerja sama menurut tahun penandatanganan (atau tahun pencatatan bila belum ditandatangani), "
             "bertumpuk menurut bentuk kerja sama.")
    return {"province": by_province, "form": by_form, "urusan": by_urusan, "stage": by_stage, "year": by_year}


def alert_chart(health: dict[str, Any] | None, prefix: str) -> charts.Chart:
    kinds = sorted((health or {}).get("openAlerts") or [], key=lambda k: -k["count"])
    return charts.bar_chart(
        [charts.Bar(kind_name(k["kind"]), k["count"], f"/peringatan?kind={k['kind'].lower()}") for k in kinds],
        title="Peringatan terbuka per jenis", svg_id=f"{prefix}-peringatan", label_header="Jenis peringatan",
        desc="Jumlah peringatan yang masih terbuka menurut jenisnya.")


def national_map(by_province: list[dict[str, Any]]) -> dict[str, Any]:
    values = {g["province"]["code"]: g["count"] for g in by_province if g.get("province")}
    svg, legend = maps.choropleth(
        maps.national(), values, svg_id="peta-nasional",
        title="Peta kerja sama per provinsi",
        desc="Peta Indonesia; setiap provinsi diwarnai menurut jumlah kerja sama yang melibatkan daerahnya. "
             "Pilih provinsi untuk melihat kabupaten/kotanya.",
        name=province_name, href=lambda code: f"/?provinsi={code}")
    return {"svg": svg, "legend": [(maps.swatch(i.colour), i.label) for i in legend], "values": values}


def province_map(province: str, by_region: list[dict[str, Any]], *, href: bool = True) -> dict[str, Any]:
    values = {g["region"]["code"]: g["count"] for g in by_region
              if g.get("region") and g["region"]["code"].startswith(province + ".")}
    svg, legend = maps.choropleth(
        maps.province(province), values, svg_id=f"peta-{province.replace('.', '-')}",
        title=f"Peta kerja sama kabupaten/kota di {province_name(province)}",
        desc="Setiap kabupaten/kota diwarnai menurut jumlah kerja sama yang diikutinya. Pilih satu untuk melihat "
             "daftar kerja samanya.",
        name=region, href=(lambda code: f"/kerja-sama?region={code}") if href else (lambda code: None))
    rows = [(r.code, r.display_name, values.get(r.code, 0)) for r in load_regions().in_province(province)
            if r.autonomous]
    return {"svg": svg, "legend": [(maps.swatch(i.colour), i.label) for i in legend], "rows": rows}


def audience(user: User) -> tuple[str, tuple[str, ...]]:
    """Who sees the same aggregates: the services scope them by tenant and roles only."""
    return (user.tenant, tuple(sorted(user.roles)))


async def _health(client: Api, user: User, code: str, on: date | None = None) -> dict[str, Any] | None:
    try:
        data = await client.graphql("monitoring", user.token, HEALTH_QUERY,
                                    {"code": code, "on": on.isoformat() if on else None}, audience=audience(user))
    except ApiError:
        return None
    return data["regionHealth"]


# -- the dashboards of `/` ---------------------------------------------------------------------


async def national_dashboard(client: Api, user: User) -> dict[str, Any]:
    stats, health = await asyncio.gather(
        client.graphql("reporting", user.token, NATIONAL_QUERY, {"f": None}, audience=audience(user)),
        _health(client, user, "national"),
    )
    built = stats_charts(stats, "nasional", drill=True)
    total = (stats.get("byProvince") or {}).get("total") or {"count": 0, "valueIdr": "0"}
    national = national_map(_groups(stats, "byProvince", "province"))
    provinces = [(r.code, r.display_name, national["values"].get(r.code, 0)) for r in load_regions().provinces()]
    return {
        "charts": built, "alerts_chart": alert_chart(health, "nasional"), "health": health,
        "total": total, "map": national, "provinces": provinces,
    }


async def province_drilldown(client: Api, user: User, province: str) -> dict[str, Any]:
    stats, health = await asyncio.gather(
        client.graphql("reporting", user.token, REGIONS_QUERY, {"f": {"province": province}}, audience=audience(user)),
        _health(client, user, province),
    )
    by_region = _groups(stats, "byRegion", "region")
    total = (stats.get("byRegion") or {}).get("total") or {"count": 0, "valueIdr": "0"}
    return {"map": province_map(province, by_region), "health": health, "total": total,
            "alerts_chart": alert_chart(health, f"prov-{province}")}


async def region_work(client: Api, user: User, period: Period) -> dict[str, Any]:
    """A region's agreements needing action, its open alerts, its reports."""
    own = user.tenant

    async def safe(coro: Any, default: Any) -> Any:
        try:
            return await coro
        except ApiError as exc:
            return {"_error": exc.detail, **default}

    agreements, alerts, reports = await asyncio.gather(
        safe(client.get("registry", "/agreements", user.token, stage=list(ACTION_STAGES), region=own, limit=25),
             {"items": []}),
        safe(client.get("monitoring", "/alerts", user.token, region=own, limit=25), {"items": []}),
        safe(client.get("reporting", "/reports", user.token, region=own, limit=6), {"items": []}),
    )
    alert_items = alerts.get("items") or []
    with_alerts: dict[str, int] = {}
    for a in alert_items:
        if a.get("agreement_id"):
            with_alerts[a["agreement_id"]] = with_alerts.get(a["agreement_id"], 0) + 1
    report_items = reports.get("items") or []
    due = next((r for r in report_items if r["period"] == str(period)), None)
    return {
        "agreements": agreements.get("items") or [], "agreements_error": agreements.get("_error"),
        "agreements_more": bool(agreements.get("next_cursor")),
        "alerts": alert_items, "alerts_error": alerts.get("_error"), "alerts_more": bool(alerts.get("next_cursor")),
        "alert_counts": with_alerts,
        "reports": report_items, "reports_error": reports.get("_error"), "due_report": due,
    }


async def province_overview(client: Api, user: User, period: Period) -> dict[str, Any]:
    """A province's kab/kota: their report standing for the period and their open alerts."""
    province = user.tenant

    async def consolidation() -> dict[str, Any]:
        try:
            return await client.get("reporting", f"/consolidations/{province}/{period}", user.token)
        except ApiError as exc:
            return {"_error": exc.detail}

    async def alerts() -> dict[str, Any]:
        try:
            return await client.get("monitoring", "/alerts", user.token, province=province, limit=100)
        except ApiError as exc:
            return {"_error": exc.detail, "items": []}

    async def stats() -> dict[str, Any]:
        try:
            return await client.graphql("reporting", user.token, REGIONS_QUERY, {"f": {"province": province}})
        except ApiError:
            return {}

    cons, alert_page, counts = await asyncio.gather(consolidation(), alerts(), stats())
    per_region: dict[str, dict[str, int]] = {}
    for a in alert_page.get("items") or []:
        for code in a.get("regions") or ([a["region"]] if a.get("region") else []):
            entry = per_region.setdefault(code, {"critical": 0, "warning": 0, "info": 0})
            entry[a["severity"]] = entry.get(a["severity"], 0) + 1
    content = cons.get("content") or {}
    rows = []
    for r in content.get("regions") or []:
        rows.append({**r, "alerts": per_region.get(r["code"], {"critical": 0, "warning": 0, "info": 0})})
    return {
        "error": cons.get("_error"), "rows": rows, "completeness": content.get("completeness"),
        "deadline": content.get("report_deadline"), "alerts_error": alert_page.get("_error"),
        "alerts_capped": bool(alert_page.get("next_cursor")),
        "map": province_map(province, _groups(counts, "byRegion", "region")),
    }


# -- /peringatan --------------------------------------------------------------------------------


@get("/peringatan")
async def alerts_page(
    request: Request[Any, Any, Any], state: State, user: User, kind: str | None = None, severity: str | None = None,
    region: str | None = None, province: str | None = None, alert_state: Annotated[
        str | None, QueryParameter(name="state")] = None, on: str | None = None, cursor: str | None = None,
) -> Template:
    """Alerts the user's tenant may see, with the API's filters (GET /alerts), 25 a page."""
    kinds = list(KIND_NAMES.items())
    severities = [(code, SEVERITY_NAMES[code]) for code in SEVERITY_ORDER]
    form = {"kind": kind or "", "severity": severity or "", "region": region or "", "province": province or "",
            "state": alert_state or "open", "on": on or ""}
    regions = load_regions()
    problems: dict[str, str] = {}
    if kind and kind not in KIND_NAMES:
        problems["kind"] = "Jenis peringatan tidak dikenal."
    if severity and severity not in SEVERITY_NAMES:
        problems["severity"] = "Tingkat tidak dikenal."
    if region and not (is_region_code(region) and region in regions):
        problems["region"] = "Kode wilayah tidak dikenal (contoh: 32.73 atau 32)."
    if province and not (is_region_code(province) and "." not in province and province in regions):
        problems["province"] = "Pilih provinsi dari daftar."
    if form["state"] not in ("open", "cleared", "all"):
        problems["state"] = "Status tidak dikenal."
    if on and parse_day(on) is None:
        problems["on"] = "Tanggal tidak valid (gunakan pemilih tanggal)."
    items: list[dict[str, Any]] = []
    next_cursor = None
    error = None
    if not problems:
        try:
            answer = await api(state).get(
                "monitoring", "/alerts", user.token, kind=kind, severity=severity, region=region,
                province=province, state=form["state"], on=on, cursor=cursor, limit=25)
            items, next_cursor = answer.get("items") or [], answer.get("next_cursor")
        except ApiError as exc:
            if exc.status == 401:
                raise
            error = exc.detail
    query = {k: v for k, v in form.items() if v}
    provinces = [(r.code, r.display_name) for r in regions.provinces()] if user.is_national else []
    return page(
        "peringatan/daftar.html", user, request=request, items=items, next_cursor=next_cursor, kinds=kinds,
        severities=severities, form=form, problems=problems, error=error, query=query, provinces=provinces,
        kind_name=kind_name, severity_name=severity_name, severity_badge=SEVERITY_BADGE, first_page=not cursor,
        states=[("open", "Terbuka"), ("cleared", "Sudah selesai"), ("all", "Semua")],
    )


# -- /analisis ----------------------------------------------------------------------------------


@get("/analisis")
async def analysis_page(
    request: Request[Any, Any, Any], state: State, user: User, on: str | None = None, provinsi: str | None = None,
    bentuk: str | None = None,
) -> Template:
    form = {"on": on or "", "provinsi": provinsi or "", "bentuk": bentuk or ""}
    problems: dict[str, str] = {}
    day = parse_day(on)
    if on and day is None:
        problems["on"] = "Tanggal tidak valid (gunakan pemilih tanggal)."
    if provinsi and not (is_region_code(provinsi) and "." not in provinsi and provinsi in load_regions()):
        problems["provinsi"] = "Pilih provinsi dari daftar."
    if bentuk and bentuk not in FORMS:
        problems["bentuk"] = "Bentuk kerja sama tidak dikenal."
    result: dict[str, Any] = {}
    error = None
    if not problems:
        flt: dict[str, Any] = {}
        cov: dict[str, Any] = {}
        if day:
            flt["on"] = cov["on"] = day.isoformat()
        if provinsi:
            flt["province"] = cov["province"] = provinsi
        if bentuk:
            flt["form"] = [bentuk]
        try:
            data = await api(state).graphql("reporting", user.token, ANALYSIS_QUERY,
                                            {"f": flt or None, "c": cov or None, "first": 25}, audience=audience(user))
            result = analysis_view(data, drill=user.is_national)
        except ApiError as exc:
            if exc.status == 401:
                raise
            error = exc.detail
    provinces = [(r.code, r.display_name) for r in load_regions().provinces()] if user.is_national else []
    return page("analisis/index.html", user, request=request, form=form, problems=problems, error=error,
                provinces=provinces, forms=list(FORMS.items()), **result)


def analysis_view(data: dict[str, Any], *, drill: bool) -> dict[str, Any]:
    built = stats_charts(data, "analisis", drill=drill)
    network = data.get("network") or {"nodes": [], "edges": [], "truncated": False}
    labels = {n["id"]: n["label"] for n in network["nodes"]}
    pairs = [
        {"a": labels.get(e["source"], e["source"]), "b": labels.get(e["target"], e["target"]),
         "a_code": e["source"], "b_code": e["target"], "weight": e["weight"],
         "value": int(float(e["valueIdr"]))}
        for e in network["edges"]
    ]
    pairs_chart = charts.bar_chart(
        [charts.Bar(f"{p['a']} – {p['b']}", p["weight"]) for p in pairs[:15]],
        title="Pasangan daerah dengan kerja sama terbanyak", svg_id="analisis-jejaring",
        label_header="Pasangan", value_header="Kerja sama bersama",
        desc="Pasangan pihak (daerah atau jenis mitra) yang bersama-sama menjadi pihak dalam kerja sama terbanyak.")
    partners = sorted(network["nodes"], key=lambda n: (-n["agreements"], n["label"]))[:15]
    coverage = data.get("coverage") or {}
    by_urusan = sorted(coverage.get("byUrusan") or [], key=lambda u: (u["covered"], u["urusan"]["code"]))
    regions = coverage.get("regions") or 0
    best = sorted(by_urusan, key=lambda u: (-u["covered"], u["urusan"]["code"]))[:15]
    coverage_chart = charts.bar_chart(
        [charts.Bar(urusan_label(u['urusan']['code'], u['urusan']['name']), u["covered"], None,
                    f"{round(u['covered'] / regions * 100) if regions else 0}%") for u in best if u["covered"]],
        title="Daerah dengan kerja sama aktif per urusan", svg_id="analisis-cakupan", label_header="Urusan",
        value_header="Daerah dengan kerja sama aktif", note_header="Bagian dari daerah",
        desc=f"Jumlah daerah otonom (dari {regions}) yang memiliki kerja sama aktif pada urusan itu; "
             "15 urusan dengan cakupan tertinggi.")
    total = (data.get("byProvince") or {}).get("total") or {"count": 0, "valueIdr": "0"}
    return {"charts": built, "pairs": pairs, "pairs_chart": pairs_chart, "partners": partners,
            "coverage_chart": coverage_chart,
            "network_truncated": network.get("truncated"), "coverage": coverage, "coverage_by_urusan": by_urusan,
            "total": total}


routes = [alerts_page, analysis_page]
