"""Region reports and consolidations, given / when / then: drafted, submitted once the
period is over, frozen, revised with a reason; whether a region was on time is decided by
its first submission. Property tests drive random sequences of edits and submissions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain.reports import (
    Consolidation,
    RegionReport,
    Report,
    Status,
    Timeliness,
    consolidation_id,
    region_report_id,
)
from shared.errors import RuleViolation
from shared.periods import Period

S1 = Period(2026, 1)
DEADLINE = S1.due(30)  # 30 July 2026
KINDS = frozenset({"semester", "annual"})
ACTOR = {"sub": "op-34.71", "tenant": "34.71", "roles": ["operator"]}


def on(day: date) -> datetime:
    """08:00 WIB on `day`."""
    return datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)


def draft(narrative: str = "Uraian pelaksanaan.", period: Period = S1, at: date = date(2026, 6, 1)) -> RegionReport:
    report = RegionReport.start(id=region_report_id("34.71", period), subject="34.71", period=period, kinds=KINDS,
                                actor=ACTOR, at=on(at), narrative=narrative)
    report.collect_events()
    return report


def submit(report: Report, day: date, content: dict | None = None, reason: str | None = None) -> list[Any]:
    report.submit(content=content or {"summary": {"agreements": 1}}, sources={"registry": 7, "monitoring": 3},
                  deadline=DEADLINE, reason=reason, actor=ACTOR, at=on(day))
    return list(report.collect_events())


def refused(code: str, action: Any) -> None:
    with pytest.raises(RuleViolation) as raised:
        action()
    assert raised.value.code == code


def test_a_report_submitted_by_the_deadline_is_on_time() -> None:
    report = draft()
    [event] = submit(report, DEADLINE)
    assert (event.revision, event.on_time, event.deadline, event.submitted_on) == (1, True, "2026-07-30", "2026-07-30")
    assert (report.status, report.timeliness, report.revision) == (Status.DISAMPAIKAN, Timeliness.TEPAT_WAKTU, 1)


def test_a_report_submitted_the_day_after_the_deadline_is_late() -> None:
    report = draft()
    submit(report, DEADLINE + timedelta(days=1))
    assert report.timeliness == Timeliness.TERLAMBAT


def test_the_deadline_is_counted_in_wib() -> None:
    report = draft()
    # 23:30 WIB on the deadline is 16:30 UTC that day: still on time.
    report.submit(content={}, sources={}, deadline=DEADLINE, reason=None, actor=ACTOR,
                  at=datetime(2026, 7, 30, 16, 30, tzinfo=UTC))
    assert report.timeliness == Timeliness.TEPAT_WAKTU
    late = draft()
    late.submit(content={}, sources={}, deadline=DEADLINE, reason=None, actor=ACTOR,
                at=datetime(2026, 7, 30, 17, 30, tzinfo=UTC))  # 00:30 WIB on 31 July
    assert late.timeliness == Timeliness.TERLAMBAT


def test_a_report_is_not_submitted_before_its_period_has_ended() -> None:
    report = draft()
    refused("period_not_ended", lambda: submit(report, S1.end))
    assert report.collect_events() == [] and report.status == Status.DRAF


def test_a_report_without_a_narrative_is_not_submitted() -> None:
    report = draft(narrative="   ")
    refused("narrative_required", lambda: submit(report, date(2026, 7, 5)))


def test_a_consolidation_may_go_without_a_note() -> None:
    consolidation = Consolidation.start(id=consolidation_id("34", S1), subject="34", period=S1, kinds=KINDS,
                                        actor=ACTOR, at=on(date(2026, 7, 1)))
    consolidation.submit(content={"completeness": {"regions": 5}}, sources={}, deadline=S1.due(60),
                         reason=None, actor=ACTOR, at=on(date(2026, 8, 1)))
    assert consolidation.timeliness == Timeliness.TEPAT_WAKTU and consolidation.province == "34"


def test_a_second_submission_needs_a_reason() -> None:
    report = draft()
    submit(report, date(2026, 7, 5))
    refused("revision_reason_required", lambda: submit(report, date(2026, 7, 6), content={"new": True}))
    [event] = submit(report, date(2026, 8, 20), content={"new": True}, reason="data diperbarui")
    assert (event.revision, event.on_time, event.reason) == (2, False, "data diperbarui")
    # The first submission decides the standing; revision 1 is kept as it was.
    assert report.timeliness == Timeliness.TEPAT_WAKTU
    assert [s["content"] for s in report.submissions] == [{"summary": {"agreements": 1}}, {"new": True}]


def test_an_edit_that_changes_nothing_is_refused() -> None:
    report = draft(narrative="A")
    refused("nothing_changed", lambda: report.edit(narrative="A", obstacles=None, follow_up=None, actor=ACTOR,
                                                   at=on(date(2026, 6, 2))))
    report.edit(narrative="B", obstacles="Hujan", follow_up=None, actor=ACTOR, at=on(date(2026, 6, 2)))
    assert (report.narrative, report.obstacles) == ("B", "Hujan")


@pytest.mark.parametrize(("period", "kinds", "code"), [
    (Period(2026), frozenset({"semester"}), "period_kind_not_collected"),
    (Period(2026, 1), frozenset({"annual"}), "period_kind_not_collected"),
    (Period(2026, 2), KINDS, "period_not_started"),
])
def test_a_report_is_for_a_collected_period_that_has_begun(period: Period, kinds: frozenset[str], code: str) -> None:
    refused(code, lambda: RegionReport.start(id=region_report_id("34.71", period), subject="34.71", period=period,
                                             kinds=kinds, actor=ACTOR, at=on(date(2026, 6, 1))))


def test_ids_are_one_per_region_and_period() -> None:
    assert region_report_id("34.71", S1) == region_report_id("34.71", Period.parse("2026-S1"))
    assert len({region_report_id("34.71", S1), region_report_id("34.04", S1), region_report_id("34.71", Period(2026)),
                consolidation_id("34", S1)}) == 4


# -- properties ------------------------------------------------------------------------------------

Step = tuple[str, int, bool, bool]  # (edit|submit, day offset from the period's end, with reason, changed content)

steps = st.lists(
    st.tuples(st.sampled_from(["edit", "submit"]), st.integers(-20, 90), st.booleans(), st.booleans()),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_random_sequences_keep_the_reporting_rules(sequence: list[Step]) -> None:
    report = draft()
    accepted: list[dict] = []
    day = S1.end - timedelta(days=30)
    for n, (action, offset, with_reason, changed) in enumerate(sequence):
        day = max(day, S1.end + timedelta(days=offset))  # time only moves forward
        before = (report.version, [dict(s) for s in report.submissions])
        try:
            if action == "edit":
                report.edit(narrative=f"uraian {n}", obstacles=None, follow_up=None, actor=ACTOR, at=on(day))
            else:
                content = {"n": n} if changed else {"n": "same"}
                submit(report, day, content=content, reason="koreksi" if with_reason else None)
                accepted.append({"day": day, "content": content})
        except RuleViolation as error:
            # A refused command records nothing and changes nothing.
            assert report.collect_events() == []
            assert (report.version, report.submissions) == before
            if error.code == "period_not_ended":
                assert day <= S1.end
            elif error.code == "revision_reason_required":
                assert report.submissions and not with_reason
            else:
                assert error.code == "nothing_changed"
        report.collect_events()
        # Earlier revisions never change once submitted.
        assert [s["content"] for s in report.submissions] == [a["content"] for a in accepted]
    assert report.revision == len(accepted)
    assert [s["revision"] for s in report.submissions] == list(range(1, len(accepted) + 1))
    assert all(s["submitted_on"] > S1.end.isoformat() for s in report.submissions)
    if accepted:
        expected = Timeliness.TEPAT_WAKTU if accepted[0]["day"] <= DEADLINE else Timeliness.TERLAMBAT
        assert (report.status, report.timeliness) == (Status.DISAMPAIKAN, expected)
    else:
        assert (report.status, report.timeliness) == (Status.DRAF, Timeliness.BELUM_MENYAMPAIKAN)


@settings(max_examples=100, deadline=None)
@given(steps)
def test_a_replay_of_the_events_rebuilds_the_same_report(sequence: list[Step]) -> None:
    report = RegionReport.start(id=region_report_id("34.71", S1), subject="34.71", period=S1, kinds=KINDS,
                                actor=ACTOR, at=on(date(2026, 6, 1)), narrative="awal")
    events = list(report.collect_events())
    day = S1.end
    for n, (action, offset, with_reason, _changed) in enumerate(sequence):
        day = max(day, S1.end + timedelta(days=offset))
        try:
            if action == "edit":
                report.edit(narrative=f"uraian {n}", obstacles=None, follow_up=None, actor=ACTOR, at=on(day))
            else:
                events += submit(report, day, content={"n": n}, reason="koreksi" if with_reason else None)
        except RuleViolation:
            pass
        events += report.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert (replayed.version, replayed.narrative, replayed.submissions, replayed.timeliness) == (
        report.version, report.narrative, report.submissions, report.timeliness)
