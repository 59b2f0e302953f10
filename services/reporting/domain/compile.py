"""Compiling reports from facts: pure functions of what the read models held at one moment
(agreement states as the registry's events built them, progress reports and evaluations as
the monitoring service's events recorded them), the period and the day. The same facts
always compile to the same content, so a submission can be checked against its sources.

A period is judged by the period: each agreement counts by the stage it was in, and each
document by whether it was signed and in force, on the period's last day (or today while the
period runs: `judged_on`), never by what became of them since.

Content is JSON primitives only (dates as ISO strings): it goes into a `Submitted` event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.monitoring.contract import (
    ACTIVE_STAGES,
    KIND_TITLES,
    Finding,
    Thresholds,
    agreement_findings,
    region_finding,
)
from services.reporting.domain.reports import TIMELINESS_LABELS, Timeliness
from services.reporting.domain.stages import judged_on
from shared.periods import Period, semesters_within
from shared.regions import Region, RegionCatalog


@dataclass(frozen=True)
class Facts:
    """What a region's report is compiled from, read in one snapshot.

    `agreements`: the record (`services.registry.contract.fold`) of every agreement the region is party
    to that was alive during the period; `progress` and `evaluations`: the monitoring rows
    of those agreements (`agreement_id` as text; every period and region, since the alert
    rules need them all); `sources`: the event-log positions the read models had reached;
    `stages`: each agreement's stage (by id) on the day the period is judged by (absent: its
    stage now)."""

    agreements: list[dict[str, Any]]
    stages: dict[str, str] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """The settings a compile depends on."""

    thresholds: Thresholds
    no_neighbour_scope: str = "participating"


def period_info(period: Period) -> dict[str, str]:
    return {"code": str(period), "label": period.label, "start": period.start.isoformat(),
            "end": period.end.isoformat()}


def region_info(region: Region) -> dict[str, str]:
    return {"code": region.code, "name": region.display_name, "kind": region.kind, "province": region.province_code}


def _overlaps(a: Period, b: Period) -> bool:
    return a.start <= b.end and b.start <= a.end


def _ends(doc: Mapping[str, Any], valid_until: str) -> date:
    """A signed document's last day: its termination, else the end of its validity."""
    return date.fromisoformat((doc.get("termination") or {}).get("terminated_on") or doc[valid_until])


def _document_on(doc: Mapping[str, Any], valid_until: str, on: date) -> tuple[str, str, date]:
    """A signed document as it stood on `on`: its stage, the end of its validity then (an
    extension signed later had not moved it yet) and its last day (its termination, if it
    had been terminated by then)."""
    until = doc[valid_until]
    later = [e for e in doc.get("extensions") or [] if date.fromisoformat(e["signed_on"]) > on]
    if later:
        until = min(later, key=lambda e: e["signed_on"])["previous_end"]
    terminated = (doc.get("termination") or {}).get("terminated_on")
    if terminated and date.fromisoformat(terminated) <= on:
        return doc["stage"], until, date.fromisoformat(terminated)
    return "ditandatangani", until, date.fromisoformat(until)


def _documents(state: Mapping[str, Any], period: Period, on: date) -> list[dict[str, Any]]:
    """The framework and every PKS signed by `on` (the day the period is judged by), as they
    stood then, with whether each was in force at any time during the period (signed, begun
    and not yet ended)."""
    docs = []
    framework = state.get("framework")
    if framework and date.fromisoformat(framework["signed_on"]) <= on:
        stage, until, last_day = _document_on(framework, "valid_until", on)
        docs.append({
            "document": "framework", "type": framework["type"], "number": framework["number"],
            "signed_on": framework["signed_on"], "valid_from": framework["valid_from"],
            "valid_until": until, "stage": stage, "last_day": last_day,
        })
    for pks in state.get("pks", []):
        if pks.get("signed_on") and date.fromisoformat(pks["signed_on"]) <= on:
            stage, until, last_day = _document_on(pks, "end_on", on)
            docs.append({
                "document": pks["id"], "type": "perjanjian_kerja_sama", "number": pks["number"],
                "signed_on": pks["signed_on"], "valid_from": pks["start_on"], "valid_until": until,
                "stage": stage, "last_day": last_day,
            })
    for doc in docs:
        began = max(date.fromisoformat(doc["signed_on"]), date.fromisoformat(doc["valid_from"]))
        doc["in_force"] = began <= period.end and doc.pop("last_day") >= period.start
    return docs


def _owed(state: Mapping[str, Any], region: str, period: Period) -> list[str]:
    """The semesters of `period` for which the region owes a progress report: those a PKS it
    is party to covered wholly (the monitoring rule), whatever became of the PKS since."""
    regions = {p["region"] for p in state["parties"] if p["kind"] == "region"}
    semesters = set(period.semesters())
    owed: set[Period] = set()
    for pks in state.get("pks", []):
        if not pks.get("signed_on") or region not in (pks.get("parties") or regions):
            continue
        owed.update(p for p in semesters_within(date.fromisoformat(pks["start_on"]), _ends(pks, "end_on"))
                    if p in semesters)
    return sorted(str(p) for p in owed)


def _partners(state: Mapping[str, Any], region: str, catalog: RegionCatalog) -> list[dict[str, Any]]:
    partners = []
    for party in state["parties"]:
        if party["kind"] == "region":
            if party["region"] != region:
                known = catalog.get(party["region"])
                partners.append({"kind": "region", "code": party["region"],
                                 "name": known.display_name if known else party["region"]})
        else:
            partners.append({"kind": "other", "name": party["name"], "type": party["type"],
                             "country": party.get("country")})
    return partners


def _progress_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    content = row["content"]
    budget = content.get("budget") or {}
    return {
        "period": row["period"], "version": row["version"], "filed_at": row["filed_at"],
        "activities": [a["name"] for a in content.get("activities", [])],
        "indicators": [{k: i[k] for k in ("name", "unit", "target", "achieved")}
                       for i in content.get("indicators", [])],
        "budget_planned_idr": budget.get("planned_idr") or 0,
        "budget_realised_idr": budget.get("realised_idr") or 0,
        "beneficiaries": (content.get("beneficiaries") or {}).get("count"),
        "obstacles": content.get("obstacles"),
        "follow_up": content.get("follow_up"),
    }


def _evaluation_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    content = row["content"]
    return {
        "period": row["period"], "evaluator": row["evaluator"], "version": row["version"],
        "score": content["score"], "recommendation": content["recommendation"], "findings": content["findings"],
        "evaluated_on": content["evaluated_on"], "follow_up": content.get("follow_up"),
    }


def _alert(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind.value, "title": KIND_TITLES[finding.kind], "severity": finding.severity.value,
            "since": finding.since.isoformat(), "message": finding.message, "regions": list(finding.regions)}


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def agreement_entry(
    state: Mapping[str, Any], region: str, period: Period, today: date, progress: list[dict[str, Any]],
    evaluations: list[dict[str, Any]], rules: Rules, catalog: RegionCatalog, stage: str | None = None,
) -> dict[str, Any]:
    """One agreement as a region reports it for a period: its stage (`stage`, on the day the
    period is judged by; None: its stage now) and documents then, the region's progress in
    the period, the evaluations covering it, and the alerts the monitoring rules raise today
    (when the report is compiled: a missing progress report of the period itself shows)."""
    semesters = {str(p) for p in period.semesters()}
    mine = sorted((r for r in progress if r["region"] == region and r["period"] in semesters),
                  key=lambda r: r["period"])
    due = _owed(state, region, period)
    reported = {r["period"] for r in mine}
    entries = [_progress_entry(r) for r in mine]
    findings = agreement_findings(state, {(r["period"], r["region"]) for r in progress}, today, rules.thresholds,
                                  catalog.name_of)
    return {
        "id": state["_id"],
        "title": state["title"],
        "object": state["object"],
        "form": state["form"],
        "category": state.get("category"),
        "stage": stage or state["stage"],
        "urusan": list(state["urusan"]),
        "value_idr": state.get("value_idr"),
        "initiator": state["parties"][0].get("region"),
        "partners": _partners(state, region, catalog),
        "documents": _documents(state, period, judged_on(period, today)),
        "progress": entries,
        "progress_due": due,
        "progress_missing": [p for p in due if p not in reported],
        "budget_planned_idr": sum(e["budget_planned_idr"] for e in entries),
        "budget_realised_idr": sum(e["budget_realised_idr"] for e in entries),
        "beneficiaries": sum(e["beneficiaries"] or 0 for e in entries),
        "evaluations": [
            _evaluation_entry(e) for e in sorted(evaluations, key=lambda e: e["period"])
            if _overlaps(Period.parse(e["period"]), period)
        ],
        "alerts": [_alert(f) for f in findings],
    }


def summarise(entries: Iterable[Mapping[str, Any]], region_alerts: int = 0) -> dict[str, Any]:
    """A report's figures, from its agreement entries."""
    entries = list(entries)
    planned = sum(e["budget_planned_idr"] for e in entries)
    realised = sum(e["budget_realised_idr"] for e in entries)
    expected = sum(len(e["progress_due"]) for e in entries)
    missing = sum(len(e["progress_missing"]) for e in entries)
    alerts = Counter(a["kind"] for e in entries for a in e["alerts"])
    return {
        "agreements": len(entries),
        "by_stage": dict(sorted(Counter(e["stage"] for e in entries).items())),
        "by_form": dict(sorted(Counter(e["form"] for e in entries).items())),
        "value_idr": sum(e["value_idr"] or 0 for e in entries),
        "documents_in_force": sum(1 for e in entries for d in e["documents"] if d["in_force"]),
        "pks_in_force": sum(1 for e in entries for d in e["documents"]
                            if d["in_force"] and d["type"] == "perjanjian_kerja_sama"),
        "progress_expected": expected,
        "progress_reported": expected - missing,
        "progress_filed": sum(len(e["progress"]) for e in entries),
        "budget_planned_idr": planned,
        "budget_realised_idr": realised,
        "realisation_share": _share(realised, planned),
        "beneficiaries": sum(e["beneficiaries"] for e in entries),
        "evaluations": sum(len(e["evaluations"]) for e in entries),
        "recommendations": dict(sorted(
            Counter(v["recommendation"] for e in entries for v in e["evaluations"]).items())),
        "alerts": sum(alerts.values()) + region_alerts,
        "alerts_by_kind": dict(sorted(alerts.items())),
    }


def compile_region_report(
    region: Region, period: Period, today: date, facts: Facts, rules: Rules, catalog: RegionCatalog,
) -> dict[str, Any]:
    """A region's report for a period, compiled on `today`: each agreement by its stage on
    the period's last day (or today while the period runs)."""
    progress: dict[str, list[dict[str, Any]]] = {}
    for row in facts.progress:
        progress.setdefault(str(row["agreement_id"]), []).append(row)
    evaluations: dict[str, list[dict[str, Any]]] = {}
    for row in facts.evaluations:
        evaluations.setdefault(str(row["agreement_id"]), []).append(row)
    states = sorted(facts.agreements, key=lambda s: (s["title"].lower(), s["_id"]))
    stage = {s["_id"]: facts.stages.get(s["_id"]) or s["stage"] for s in states}
    entries = [
        agreement_entry(s, region.code, period, today, progress.get(s["_id"], []), evaluations.get(s["_id"], []),
                        rules, catalog, stage[s["_id"]])
        for s in states
    ]
    region_alerts = []
    if rules.no_neighbour_scope == "all" or any(stage[s["_id"]] != "dibatalkan" for s in states):
        partners = {p["region"] for s in states if stage[s["_id"]] in ACTIVE_STAGES
                    for p in s["parties"] if p["kind"] == "region"} - {region.code}
        # Judged like the partners it counts, on the period's last day (QA: a 2026-S1 report
        # listed this alert "since" the day it was compiled).
        finding = region_finding(region.code, region.display_name, catalog.neighbours(region.code), partners,
                                 judged_on(period, today))
        region_alerts = [_alert(finding)] if finding else []
    return {
        "kind": "region_report",
        "region": region_info(region),
        "period": period_info(period),
        "compiled_on": today.isoformat(),
        "judged_on": judged_on(period, today).isoformat(),
        "summary": summarise(entries, len(region_alerts)),
        "agreements": entries,
        "region_alerts": region_alerts,
    }


# -- the province's consolidation and the national roll-up --------------------------------------

# What a consolidation shows of each kab/kota's latest submitted report, and the figures it
# may add up across them: an agreement shared by several kab/kota is in each one's report, so
# counts of agreements, their value and their alerts are totalled province-wide instead
# (`province_wide`, each agreement once); each region's own progress and budget add up.
REPORTED_FIGURES = ("agreements", "value_idr", "documents_in_force", "progress_expected", "progress_reported",
                    "budget_planned_idr", "budget_realised_idr", "beneficiaries", "alerts")
ADDITIVE_FIGURES = ("progress_expected", "progress_reported", "budget_planned_idr", "budget_realised_idr",
                    "beneficiaries")


def standing(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """A region's (or province's) standing for a period from its report row (None: no report)."""
    if row is None or not row.get("revision"):
        status = Timeliness.BELUM_MENYAMPAIKAN
    else:
        status = Timeliness.TEPAT_WAKTU if row["first_on_time"] else Timeliness.TERLAMBAT
    submitted = status != Timeliness.BELUM_MENYAMPAIKAN
    return {
        "status": status.value,
        "status_label": TIMELINESS_LABELS[status],
        "report_id": str(row["id"]) if row else None,
        "revision": row["revision"] if row else 0,
        "first_submitted_on": row["first_submitted_on"].isoformat() if row and submitted else None,
        "last_submitted_on": row["last_submitted_on"].isoformat() if row and submitted else None,
    }


def completeness(statuses: Iterable[str]) -> dict[str, Any]:
    counts = Counter(statuses)
    total = sum(counts.values())
    submitted = counts[Timeliness.TEPAT_WAKTU] + counts[Timeliness.TERLAMBAT]
    return {
        "regions": total,
        **{t.value: counts[t.value] for t in Timeliness},
        "submitted": submitted,
        "share_submitted": _share(submitted, total),
        "share_on_time": _share(counts[Timeliness.TEPAT_WAKTU], total),
    }


def compile_consolidation(
    province: Region, period: Period, today: date, deadline: date, regencies: list[Region],  # deadline: kab/kota's
    reports: Mapping[str, Mapping[str, Any]], own: dict[str, Any], province_wide: dict[str, Any],
) -> dict[str, Any]:
    """A province's consolidation: each autonomous kab/kota with its standing and the
    figures of its latest submitted report, totals over those reports, the province-wide
    figures (each agreement once), and the province's own report."""
    regions = []
    for regency in regencies:
        row = reports.get(regency.code)
        entry = {**region_info(regency), **standing(row)}
        summary = row.get("summary") if row and entry["revision"] else None
        entry["figures"] = {k: summary.get(k) for k in REPORTED_FIGURES} if summary else None
        regions.append(entry)
    submitted = [r["figures"] for r in regions if r["figures"]]
    return {
        "kind": "consolidation",
        "province": region_info(province),
        "period": period_info(period),
        "compiled_on": today.isoformat(),
        "judged_on": judged_on(period, today).isoformat(),
        "report_deadline": deadline.isoformat(),
        "completeness": completeness(r["status"] for r in regions),
        "regions": regions,
        "reported_totals": {k: sum(f[k] or 0 for f in submitted) for k in ADDITIVE_FIGURES},
        "province_wide": province_wide,
        "own_report": {**standing(reports.get(province.code)), "summary": own["summary"],
                       "agreements": own["agreements"]},
    }


def compile_national(
    period: Period, today: date, provinces: list[Region], regencies: Mapping[str, list[Region]],
    reports: Mapping[str, Mapping[str, Any]], consolidations: Mapping[str, Mapping[str, Any]],
    totals: dict[str, Any], never_reporting: list[Region],
) -> dict[str, Any]:
    """The ministry's roll-up: every province with its kab/kota's completeness, its own
    report and its consolidation (none is owed by a province without autonomous kab/kota,
    DKI Jakarta); national totals; regions that have never reported."""
    rows: list[dict[str, Any]] = []
    for province in provinces:
        statuses = [standing(reports.get(r.code))["status"] for r in regencies.get(province.code, [])]
        consolidation = consolidations.get(province.code)
        rows.append({
            **region_info(province),
            "completeness": completeness(statuses),
            "own_report": standing(reports.get(province.code)),
            "consolidation": {**standing(consolidation), "completeness": (consolidation or {}).get("summary")}
            if statuses else None,
        })
    return {
        "kind": "national",
        "period": period_info(period),
        "compiled_on": today.isoformat(),
        "judged_on": judged_on(period, today).isoformat(),
        "completeness": completeness(s for p in provinces for s in (
            standing(reports.get(r.code))["status"] for r in regencies.get(p.code, []))),
        "consolidations": completeness(p["consolidation"]["status"] for p in rows if p["consolidation"]),
        "provinces": rows,
        "totals": totals,
        "never_reporting": [region_info(r) for r in never_reporting],
    }
