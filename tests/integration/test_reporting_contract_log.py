"""Reporting's published contract on a real database: what the Reporting application records (a
region's report drafted, edited and submitted; a province's consolidation; a letter profile
saved and changed) reads back through the contract's `Log`, as a reader in another service
follows it, as the contract's classes, field for field; the typed fast path (msgspec, straight
from the stored bytes) and the transcoder's way read the same events."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.utils import get_topic

from services.reporting import contract
from services.reporting.application import Compiled, Reporting, ReportText
from services.reporting.domain.profiles import ProfileFields, profile_id
from services.reporting.setup import reporting_env
from shared.auth import Identity
from shared.clock import ManualClock
from shared.periods import Period

# Kota Jayapura and the province of Papua: no other test reports for them.
OPERATOR = Identity(sub="op-reporting-contract", name="Operator", tenant="91.71", roles=("operator",))
CONSOLIDATOR = Identity(sub="cons-reporting-contract", name="Konsolidator", tenant="91", roles=("consolidator",))
ADMIN = Identity(sub="admin-reporting-contract", name="Admin", tenant="91.71", roles=("admin",))
PERIOD = "2021-S1"
NOW = datetime(2021, 7, 5, 2, 0, tzinfo=UTC)  # after the semester, before its deadline


@pytest.fixture
def reporting(migrated_url: str) -> Iterator[Reporting]:
    app = Reporting(reporting_env(migrated_url, pool_size=1), clock=ManualClock(NOW))
    yield app
    app.close()


@pytest.fixture
def log(migrated_url: str) -> Iterator[Any]:
    app = contract.Log(reporting_env(migrated_url, pool_size=1))
    yield app
    app.close()


def compiled(figure: float) -> Compiled:
    """A compile as handed in: nested figures, a float, text beyond ASCII, nulls."""
    return Compiled(
        content={"kind": "region", "summary": {"agreements": 2, "value_idr": 1_250_000_000, "share_on_time": figure},
                 "agreements": [{"title": "Pengelolaan sampah \u2013 TPA regional", "stage": "pelaksanaan",
                                 "ended_on": None, "parties": ["91.71", "91.03"]}]},
        sources={"registry": 17, "monitoring": 4, "compiled_on": "2021-07-05"},
    )


def stored_notifications(log: Any, after: int, originators: set[UUID]) -> list[Any]:
    """The notifications after `after` of these originators (other tests share the database)."""
    notifications = log.recorder.select_notifications(start=after + 1, limit=1000)
    return [n for n in notifications if n.originator_id in originators]


def test_recorded_reports_and_profiles_read_back_through_the_contract_field_for_field(
    reporting: Reporting, log: Any
) -> None:
    after = log.recorder.max_notification_id() or 0
    # Given Kota Jayapura drafts its report for 2021-S1, edits it and submits it
    report = reporting.draft_report(OPERATOR, PERIOD, ReportText(narrative="Draf awal")).report
    reporting.edit_report(OPERATOR, report.id, ReportText(narrative="Uraian pelaksanaan kerja sama",
                                                          obstacles="Akses jalan", follow_up=None),
                          expected_version=1)
    reporting.submit_report(OPERATOR, report.id, compiled(0.5), expected_version=2, request_key="key-1")
    # And Papua submits its consolidation
    consolidation = reporting.submit_consolidation(
        CONSOLIDATOR, "91", Period.parse(PERIOD), compiled(0.25), expected_version=None, narrative="Rekap provinsi",
    ).report
    # And Kota Jayapura's admin saves its letter profile, then changes it
    fields = ProfileFields(government_name="Pemerintah Kota Jayapura", city="Jayapura",
                           signatory_title="Wali Kota Jayapura")
    reporting.save_profile(ADMIN, "91.71", fields, expected_version=None)
    reporting.save_profile(ADMIN, "91.71", dataclasses.replace(fields, phone="(0967) 533333"), expected_version=1)

    # When a reader follows reporting's log through the contract
    originators = {report.id, consolidation.id, profile_id("91.71")}
    notifications = stored_notifications(log, after, originators)
    published = [log.mapper.to_domain_event(n) for n in notifications]

    # Then it reads every event as the contract's classes, each kind its aggregate's
    assert [type(e) for e in published] == [
        contract.RegionReportStarted, contract.RegionReportEdited, contract.RegionReportSubmitted,
        contract.ConsolidationStarted, contract.ConsolidationSubmitted,
        contract.ProfileConfigured, contract.ProfileChanged,
    ]
    assert [getattr(e, "kind", None) for e in published] == [
        contract.REGION, contract.REGION, contract.REGION, contract.CONSOLIDATION, contract.CONSOLIDATION, None, None]
    # And each equals, field for field, the domain event the application stored
    recorded = [*reporting.events.get(report.id), *reporting.events.get(consolidation.id),
                *reporting.events.get(profile_id("91.71"))]
    assert len(recorded) == len(published)
    for domain_event, event in zip(recorded, published, strict=True):
        assert contract.TOPICS[get_topic(type(domain_event))] is type(event)
        for name in event.__struct_fields__:
            assert getattr(event, name) == getattr(domain_event, name), (type(event).__name__, name)

    # And the typed fast path reads each stored event without the transcoder, and the
    # transcoder's way (the same JSON written with other spacing) reads it the same
    decode = log.mapper.transcoder.decode

    def refuse(state: bytes) -> Any:
        raise AssertionError("the typed fast path was not taken")

    for stored, event in zip(notifications, published, strict=True):
        log.mapper.transcoder.decode = refuse
        try:
            assert log.mapper.to_domain_event(stored) == event
        finally:
            log.mapper.transcoder.decode = decode
        spaced = json.dumps(json.loads(stored.state)).encode()
        assert not spaced.startswith(stored.state[:20])  # so it cannot take the fast path
        assert log.mapper.to_domain_event(dataclasses.replace(stored, state=spaced)) == event

    # Spot checks, as a reader uses them
    started, edited, submitted, consolidation_started, consolidation_submitted, configured, changed = published
    assert started.subject == "91.71" and started.period == PERIOD and started.narrative == "Draf awal"
    assert started.timestamp == NOW and started.actor["tenant"] == "91.71"
    assert edited.originator_version == 2 and edited.obstacles == "Akses jalan" and edited.follow_up is None
    assert submitted.originator_version == 3 and submitted.revision == 1 and submitted.on_time is True
    assert submitted.submitted_on == "2021-07-05" and submitted.deadline == "2021-07-30"
    assert submitted.narrative == "Uraian pelaksanaan kerja sama" and submitted.reason is None
    assert submitted.request_key == "key-1"
    assert submitted.content["summary"]["share_on_time"] == 0.5
    assert submitted.content["agreements"][0]["title"] == "Pengelolaan sampah \u2013 TPA regional"
    assert submitted.sources == {"registry": 17, "monitoring": 4, "compiled_on": "2021-07-05"}
    assert consolidation_started.subject == "91" and consolidation_started.narrative == "Rekap provinsi"
    assert consolidation_submitted.actor["tenant"] == "91" and consolidation_submitted.originator_version == 2
    assert configured.tenant == "91.71" and configured.profile["government_name"] == "Pemerintah Kota Jayapura"
    assert changed.profile["phone"] == "(0967) 533333"
    # The contract's events are plain data: they encode as JSON
    assert msgspec.json.decode(msgspec.json.encode(submitted))["revision"] == 1
