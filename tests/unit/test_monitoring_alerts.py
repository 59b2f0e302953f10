"""The alert rules and reporting periods, as pure functions of facts (property tests)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.monitoring.application import evaluator_of
from services.monitoring.domain.alerts import Kind, Severity, Thresholds, agreement_findings, expected_reports
from shared.periods import Period, semesters_within, tanggal

T = Thresholds()
DAY0 = date(2026, 1, 5)


def state(stage: str = "pelaksanaan", *, framework_end: date | None = None, signed: date = DAY0,
          pks: list[dict] | None = None, approvals: list[dict] | None = None, form: str = "KSDD") -> dict:
    framework = None
    if stage not in ("persiapan", "penawaran", "penyusunan_kesepakatan", "dibatalkan"):
        framework = {"stage": "ditandatangani", "number": "KB/1", "signed_on": signed.isoformat(),
                     "valid_until": (framework_end or signed + timedelta(days=3650)).isoformat()}
    return {"stage": stage, "form": form, "framework": framework, "pks": pks or [], "approvals": approvals or [],
            "parties": [{"kind": "region", "region": "34.71"}, {"kind": "region", "region": "34.04"},
                        {"kind": "other", "name": "PT Air"}]}


def pks(start: date, end: date, stage: str = "ditandatangani") -> dict:
    return {"id": "pks-1", "number": "PKS/1", "stage": stage, "signed_on": start.isoformat(),
            "start_on": start.isoformat(), "end_on": end.isoformat()}


days = st.integers(min_value=0, max_value=3000)


@given(days)
def test_kb_without_pks_exactly_from_the_threshold_day(elapsed: int) -> None:
    today = DAY0 + timedelta(days=elapsed)
    found = [f for f in agreement_findings(state("kesepakatan_ditandatangani"), set(), today, T)
             if f.kind == Kind.KB_WITHOUT_PKS]
    assert bool(found) == (elapsed >= T.kb_without_pks_days)
    if found:
        assert found[0].since == DAY0 + timedelta(days=180) and found[0].details["days"] == elapsed
    # Once a PKS is signed (stage pelaksanaan), never.
    later = agreement_findings(state("pelaksanaan", pks=[pks(DAY0, DAY0 + timedelta(days=5000))]), {("x", "y")},
                               today, T)
    assert Kind.KB_WITHOUT_PKS not in {f.kind for f in later}


@given(st.integers(min_value=-400, max_value=400))
def test_a_document_in_force_is_expiring_or_expired_never_both(left: int) -> None:
    today = date(2027, 6, 1)
    end = today + timedelta(days=left)
    found = {f.kind: f for f in agreement_findings(state(pks=[pks(DAY0, end)]), set(), today, T)
             if f.subject == "pks:pks-1" and f.kind in (Kind.EXPIRING, Kind.EXPIRED_STILL_ACTIVE)}
    if left < 0:
        assert set(found) == {Kind.EXPIRED_STILL_ACTIVE}
        assert found[Kind.EXPIRED_STILL_ACTIVE].since == end + timedelta(days=1)
    elif left <= 90:
        alert = found[Kind.EXPIRING]
        assert set(found) == {Kind.EXPIRING}
        assert alert.level == min(t for t in (90, 60, 30, 7) if t >= left)
        assert alert.since == end - timedelta(days=alert.level) <= today
        assert alert.severity == (Severity.CRITICAL if left <= 7 else Severity.WARNING if left <= 30 else Severity.INFO)
    else:
        assert found == {}


@given(days, st.sets(st.sampled_from(["34.71", "34.04"])))
def test_progress_is_missing_exactly_for_the_semesters_due_and_unreported(elapsed: int, reporters: set[str]) -> None:
    today = date(2026, 2, 1) + timedelta(days=elapsed)
    s = state(pks=[pks(date(2026, 2, 1), date(2030, 1, 31))])
    due = expected_reports(s, today, T.progress_grace_days)
    # Every due semester lies wholly within the PKS and its deadline has passed; 2026-S1 never is (starts in Feb).
    assert all(p.start >= date(2026, 2, 1) and p.due(30) < today for p, _ in due)
    assert all(str(p) != "2026-S1" for p, _ in due)
    reports = {(str(p), r) for p, r in due if r in reporters}
    found = [f for f in agreement_findings(s, reports, today, T) if f.kind == Kind.PKS_WITHOUT_PROGRESS]
    missing = {(str(p), r) for p, r in due} - reports
    assert bool(found) == bool(missing)
    if found:
        assert set(found[0].regions) == {r for _, r in missing}
        assert found[0].since <= today


def test_the_missing_progress_alert_names_its_semesters_in_words() -> None:
    """QA: the message read "periode 2026-S2, 2027-S1 dari 34.04, 34.71"."""
    s = state(pks=[pks(date(2026, 2, 1), date(2030, 1, 31))])
    [found] = [f for f in agreement_findings(s, set(), date(2027, 9, 1), T) if f.kind == Kind.PKS_WITHOUT_PROGRESS]
    assert found.message == "PKS berjalan tanpa laporan kemajuan Semester II 2026 dan Semester I 2027 dari daerah " \
                            "34.04 dan 34.71."


def test_alert_messages_name_the_regions_they_concern() -> None:
    """QA: messages read "dari daerah 34.04 dan 34.71", "Persetujuan DPRD 34.04": codes an
    official has to look up."""
    from shared.regions import load_regions

    name_of = load_regions().name_of
    s = state(pks=[pks(date(2026, 2, 1), date(2030, 1, 31))])
    [found] = [f for f in agreement_findings(s, set(), date(2027, 9, 1), T, name_of)
               if f.kind == Kind.PKS_WITHOUT_PROGRESS]
    assert found.message.endswith("dari daerah Kabupaten Sleman (34.04) dan Kota Yogyakarta (34.71).")
    approval = {"kind": "dprd", "document": "framework", "region": "34.04", "requested_on": DAY0.isoformat(),
                "decision": None}
    waiting = state("penyusunan_kesepakatan", approvals=[approval])
    [pending] = [f for f in agreement_findings(waiting, set(), DAY0 + timedelta(days=40), T, name_of)
                 if f.kind == Kind.APPROVAL_PENDING]
    assert pending.message.startswith("Persetujuan DPRD Kabupaten Sleman (34.04) atas kesepakatan diminta")
    # A PKS draft's approval names the draft by its title, not its internal id ("PKS pks-2").
    draft = {"id": "pks-2", "title": "Angkutan sampah", "stage": "menunggu_persetujuan_dprd"}
    approval = {**approval, "document": "pks-2"}
    waiting = state("pelaksanaan", pks=[pks(DAY0, date(2030, 1, 1)), draft], approvals=[approval])
    [pending] = [f for f in agreement_findings(waiting, set(), DAY0 + timedelta(days=40), T, name_of)
                 if f.kind == Kind.APPROVAL_PENDING]
    assert "atas PKS \u201cAngkutan sampah\u201d diminta" in pending.message, pending.message
    assert found.regions == ("34.04", "34.71")  # (the codes stay the alert's keys)


@given(days, st.booleans())
def test_approval_pending_from_the_threshold_until_decided(elapsed: int, decided: bool) -> None:
    approval = {"kind": "dprd", "document": "framework", "region": "34.04", "requested_on": DAY0.isoformat(),
                "decision": "approved" if decided else None}
    found = [f for f in agreement_findings(state("penyusunan_kesepakatan", approvals=[approval]), set(),
                                           DAY0 + timedelta(days=elapsed), T) if f.kind == Kind.APPROVAL_PENDING]
    assert bool(found) == (not decided and elapsed >= 30)
    if found:
        assert found[0].regions == ("34.04",) and found[0].since == DAY0 + timedelta(days=30)


@pytest.mark.parametrize("stage", ["berakhir", "dibatalkan"])
def test_a_closed_agreement_raises_nothing(stage: str) -> None:
    assert agreement_findings(state(stage, pks=[pks(DAY0, DAY0)]), set(), date(2030, 1, 1), T) == []


def test_thresholds_are_settings() -> None:
    strict = Thresholds(kb_without_pks_days=30, expiring_days=(14,), approval_pending_days=5, progress_grace_days=0)
    signed = state("kesepakatan_ditandatangani", framework_end=DAY0 + timedelta(days=40))
    found = {f.kind for f in agreement_findings(signed, set(), DAY0 + timedelta(days=30), strict)}
    assert found == {Kind.KB_WITHOUT_PKS, Kind.EXPIRING}


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 1, 1)), st.integers(min_value=0, max_value=2000))
def test_semesters_within_are_whole_contiguous_and_complete(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    periods = semesters_within(first, last)
    assert all(first <= p.start and p.end <= last for p in periods)
    assert all(a.next() == b for a, b in itertools.pairwise(periods))
    # No whole semester inside the range is left out.
    candidate = Period.semester_of(first)
    while candidate.start <= last:
        if first <= candidate.start and candidate.end <= last:
            assert candidate in periods
        candidate = candidate.next()


def test_periods_parse_and_format() -> None:
    assert str(Period.parse("2026-S1")) == "2026-S1" and Period.parse("2026").end == date(2026, 12, 31)
    assert Period.parse("2026-S2").start == date(2026, 7, 1)
    for bad in ("2026-S3", "26-S1", "2026S1", ""):
        with pytest.raises(ValueError):
            Period.parse(bad)
    assert tanggal(date(2026, 11, 22)) == "22 November 2026"


def test_the_evaluator_follows_the_oversight_chain() -> None:
    assert evaluator_of(["32.73", "32.04"]) == "32"  # kab/kota of one province: the governor
    assert evaluator_of(["32.73"]) == "32"  # with a third party
    assert evaluator_of(["32", "32.73"]) == "national"  # a province is a party
    assert evaluator_of(["32.09", "33.29"]) == "national"  # across provinces


def test_an_approval_for_a_cancelled_pks_draft_is_no_longer_awaited() -> None:
    approval = {"kind": "dprd", "document": "pks-1", "region": "34.04", "requested_on": DAY0.isoformat(),
                "decision": None}
    later = DAY0 + timedelta(days=90)
    waiting = state("pelaksanaan", pks=[pks(DAY0, DAY0, stage="menunggu_persetujuan_dprd")], approvals=[approval])
    cancelled = state("pelaksanaan", pks=[pks(DAY0, DAY0, stage="dibatalkan")], approvals=[approval])
    assert Kind.APPROVAL_PENDING in {f.kind for f in agreement_findings(waiting, set(), later, T)}
    assert Kind.APPROVAL_PENDING not in {f.kind for f in agreement_findings(cancelled, set(), later, T)}


def test_only_the_pks_parties_owe_its_progress_reports() -> None:
    two_of_three = {**pks(date(2026, 1, 1), date(2028, 12, 31)), "parties": ["34.71", "PT Air"]}
    due = expected_reports(state(pks=[two_of_three]), date(2026, 8, 15), 30)
    assert due == [(Period(2026, 1), "34.71")]  # not 34.04, which is no party to this PKS
