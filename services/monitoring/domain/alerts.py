"""The alert rules: what is wrong with an agreement, or a region, on a given day.

Pure functions of facts (the agreement's state as the registry's events built it, the
progress reports filed, today's date, the thresholds): the same facts always give the same
findings, so the worker can re-evaluate at any time and only the differences matter. An
alert's `since` is the day its cause began (the day the threshold was crossed), not the day
it was noticed, so a late re-evaluation reports the same alert.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from shared.labels import ALERT_KINDS, ALERT_SEVERITIES
from shared.periods import Period, semesters_within, tanggal


class Kind(StrEnum):
    KB_WITHOUT_PKS = "kb_without_pks"
    PKS_WITHOUT_PROGRESS = "pks_without_progress"
    EXPIRING = "expiring"
    EXPIRED_STILL_ACTIVE = "expired_still_active"
    APPROVAL_PENDING = "approval_pending"
    NO_NEIGHBOUR_COOPERATION = "no_neighbour_cooperation"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# In words (the platform's vocabulary, `shared.labels`, keyed by these enums' values).
SEVERITY_LABELS: dict[Severity, str] = {s: ALERT_SEVERITIES[s] for s in Severity}

# What each kind means, for people (API listings, notifications).
KIND_TITLES: dict[Kind, str] = {k: ALERT_KINDS[k] for k in Kind}

# Stages in which a framework is signed and the cooperation is alive.
ACTIVE_STAGES = frozenset({"kesepakatan_ditandatangani", "pelaksanaan"})
CLOSED_STAGES = frozenset({"berakhir", "dibatalkan"})
APPROVAL_BODIES = {"dprd": "DPRD", "central": "pemerintah pusat"}


@dataclass(frozen=True)
class Thresholds:
    kb_without_pks_days: int = 180
    expiring_days: tuple[int, ...] = (90, 60, 30, 7)  # largest first
    approval_pending_days: int = 30
    progress_grace_days: int = 30

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            kb_without_pks_days=settings.alert_kb_without_pks_days,
            expiring_days=settings.expiring_thresholds,
            approval_pending_days=settings.alert_approval_pending_days,
            progress_grace_days=settings.alert_progress_grace_days,
        )


@dataclass(frozen=True)
class Finding:
    """One alert as the rules see it. `(kind, subject)` identifies it within its agreement
    (or region); `level` orders its escalation (e.g. the expiring threshold crossed)."""

    kind: Kind
    subject: str
    severity: Severity
    since: date
    regions: tuple[str, ...]
    message: str
    level: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _documents_in_force(state: Mapping[str, Any]) -> list[tuple[str, str, date]]:
    """(subject, name for people, end date) of the framework and every PKS in force."""
    docs: list[tuple[str, str, date]] = []
    framework = state.get("framework") or {}
    if framework.get("stage") == "ditandatangani" and framework.get("valid_until"):
        docs.append(("framework", f"Kesepakatan {framework.get('number')}",
                     date.fromisoformat(framework["valid_until"])))
    for pks in state.get("pks", []):
        if pks.get("stage") == "ditandatangani" and pks.get("end_on"):
            docs.append((f"pks:{pks['id']}", f"PKS {pks.get('number')}", date.fromisoformat(pks["end_on"])))
    return docs


def agreement_findings(
    state: Mapping[str, Any],
    reports: Collection[tuple[str, str]],
    today: date,
    thresholds: Thresholds,
    name_of: Callable[[str], str | None] | None = None,
) -> list[Finding]:
    """Every alert an agreement raises today. `state` is its record, as the registry's
    published contract folds its events (`fold`); `reports` holds the (period, region) pairs
    already reported; `name_of` gives a region's name for the messages ("Kabupaten Bantul
    (34.02)"; without it, or for a code it does not know, the code alone)."""
    stage = state["stage"]
    if stage in CLOSED_STAGES:
        return []
    regions = tuple(p["region"] for p in state["parties"] if p["kind"] == "region")
    findings: list[Finding] = []

    # A framework signed and nothing implementing it (no PKS signed; SINERGI: no rencana kerja started).
    framework = state.get("framework") or {}
    if stage == "kesepakatan_ditandatangani" and framework.get("signed_on"):
        signed = date.fromisoformat(framework["signed_on"])
        since = signed + timedelta(days=thresholds.kb_without_pks_days)
        if today >= since:
            follow_up = "rencana kerja" if state["form"] == "SINERGI" else "PKS"
            findings.append(Finding(
                Kind.KB_WITHOUT_PKS, "framework", Severity.WARNING, since, regions,
                f"Kesepakatan {framework.get('number')} ditandatangani {tanggal(signed)}; "
                f"{(today - signed).days} hari kemudian belum ada {follow_up}.",
                details={"signed_on": signed.isoformat(), "days": (today - signed).days},
            ))

    for subject, name, end in _documents_in_force(state):
        left = (end - today).days
        if left < 0:
            findings.append(Finding(
                Kind.EXPIRED_STILL_ACTIVE, subject, Severity.CRITICAL, end + timedelta(days=1), regions,
                f"{name} berakhir {tanggal(end)} tetapi masih tercatat berlaku; catat pengakhiran atau"
                " perpanjangannya.",
                details={"document": subject, "end_on": end.isoformat()},
            ))
        elif thresholds.expiring_days and left <= thresholds.expiring_days[0]:
            level = min(t for t in thresholds.expiring_days if t >= left)
            severity = Severity.CRITICAL if level <= 7 else Severity.WARNING if level <= 30 else Severity.INFO
            findings.append(Finding(
                Kind.EXPIRING, subject, severity, end - timedelta(days=level), regions,
                f"{name} berakhir {tanggal(end)} ({left} hari lagi).",
                level=level, details={"document": subject, "end_on": end.isoformat(), "days_left": left},
            ))

    for approval in state.get("approvals", []):
        if approval.get("decision") is not None or not _still_awaited(state, approval):
            continue
        requested = date.fromisoformat(approval["requested_on"])
        since = requested + timedelta(days=thresholds.approval_pending_days)
        if today >= since:
            body = APPROVAL_BODIES.get(approval["kind"], approval["kind"])
            document = "kesepakatan" if approval["document"] == "framework" else _pks_words(state, approval["document"])
            findings.append(Finding(
                Kind.APPROVAL_PENDING, f"{approval['kind']}:{approval['document']}:{approval['region']}",
                Severity.WARNING, since, (approval["region"],),
                f"Persetujuan {body} {_region(approval['region'], name_of)} atas {document} diminta "
                f"{tanggal(requested)}; "
                f"{(today - requested).days} hari belum diputus.",
                details={"approval": approval["kind"], "document": approval["document"],
                         "requested_on": requested.isoformat(), "days": (today - requested).days},
            ))

    missing = missing_reports(state, reports, today, thresholds.progress_grace_days)
    if missing:
        late_regions = tuple(sorted({region for _, region in missing}))
        first_due = min(p.due(thresholds.progress_grace_days) for p, _ in missing)
        periods = sorted({p for p, _ in missing})
        findings.append(Finding(
            Kind.PKS_WITHOUT_PROGRESS, "progress", Severity.WARNING, first_due + timedelta(days=1), late_regions,
            f"PKS berjalan tanpa laporan kemajuan {_words(p.label for p in periods)} "
            f"dari daerah {_words(_region(r, name_of) for r in late_regions)}.",
            details={"missing": [{"period": str(p), "region": r} for p, r in sorted(missing)]},
        ))
    return findings


def _still_awaited(state: Mapping[str, Any], approval: Mapping[str, Any]) -> bool:
    """An undecided approval matters only while its document can still be signed: a PKS
    draft still open, or a framework not yet signed (and the family not closed)."""
    if approval["document"] == "framework":
        return state["stage"] in ("persiapan", "penawaran", "penyusunan_kesepakatan")
    pks = next((p for p in state.get("pks", []) if p["id"] == approval["document"]), None)
    return pks is not None and pks.get("stage") in ("penyusunan", "menunggu_persetujuan_dprd")


def expected_reports(state: Mapping[str, Any], today: date, grace_days: int) -> list[tuple[Period, str]]:
    """(period, region) pairs a report is due for: every semester a PKS now in force covered
    wholly, whose deadline has passed, for each region party to that PKS. A PKS that has
    ended owes nothing more here (its late reports remain visible in the health figures
    only while it is in force)."""
    regions = {p["region"] for p in state["parties"] if p["kind"] == "region"}
    due: set[tuple[Period, str]] = set()
    for pks in state.get("pks", []):
        if pks.get("stage") != "ditandatangani" or not pks.get("start_on"):
            continue
        start, end = date.fromisoformat(pks["start_on"]), date.fromisoformat(pks["end_on"])
        # The PKS's own region parties owe the report (a PKS may bind only some of the family).
        parties = [r for r in pks.get("parties") or sorted(regions) if r in regions]
        for period in semesters_within(start, min(end, today)):
            if period.due(grace_days) < today:
                due.update((period, r) for r in parties)
    return sorted(due)


def missing_reports(
    state: Mapping[str, Any], reports: Collection[tuple[str, str]], today: date, grace_days: int
) -> list[tuple[Period, str]]:
    return [(p, r) for p, r in expected_reports(state, today, grace_days) if (str(p), r) not in reports]


def region_finding(
    region: str, name: str, neighbours: Collection[str], partners: Collection[str], today: date,
    since: date | None = None,
) -> Finding | None:
    """`no_neighbour_cooperation` for a region with land neighbours, none of which is a
    party with it in an active agreement. `partners`: the regions it cooperates with now."""
    if not neighbours or set(neighbours) & set(partners):
        return None
    return Finding(
        Kind.NO_NEIGHBOUR_COOPERATION, "region", Severity.INFO, since or today, (region,),
        f"{name} belum memiliki kerja sama aktif dengan satu pun dari {len(neighbours)} daerah tetangganya.",
        details={"neighbours": sorted(neighbours)},
    )


def _pks_words(state: Mapping[str, Any], pks_id: str) -> str:
    """A PKS as its people know it: its number once signed, its title while a draft (the
    internal id, `pks-1`, only when neither is recorded)."""
    pks: Mapping[str, Any] = next((p for p in state.get("pks", []) if p.get("id") == pks_id), {})
    if pks.get("number"):
        return f"PKS {pks['number']}"
    return f"PKS \u201c{pks['title']}\u201d" if pks.get("title") else f"PKS {pks_id}"


def _region(code: str, name_of: Callable[[str], str | None] | None) -> str:
    name = name_of(code) if name_of else None
    return f"{name} ({code})" if name else code


def _words(items: Any) -> str:
    """`a`, `a dan b`, `a, b dan c`: a list as a sentence reads it."""
    parts = list(items)
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} dan {parts[-1]}"
