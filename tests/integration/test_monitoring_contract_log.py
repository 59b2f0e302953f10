"""Monitoring's published contract on a real database: what the Monitoring application records
(a progress report and an evaluation, each corrected) reads back through the contract's `Log`,
as a reader in another service follows it, as the contract's classes, field for field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.utils import get_topic

from services.monitoring import contract
from services.monitoring.application import AgreementFacts, Monitoring
from services.monitoring.setup import monitoring_env
from shared.auth import Identity
from shared.clock import ManualClock

OPERATOR = Identity(sub="op-contract", name="Operator", tenant="32.73", roles=("operator",))
MONITOR = Identity(sub="mon-contract", name="Monitor", tenant="32", roles=("monitor",))


@pytest.fixture
def monitoring(migrated_url: str) -> Iterator[Monitoring]:
    clock = ManualClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    app = Monitoring(monitoring_env(migrated_url, pool_size=1), clock=clock)
    yield app
    app.close()


@pytest.fixture
def log(migrated_url: str) -> Iterator[Any]:
    app = contract.Log(monitoring_env(migrated_url, pool_size=1))
    yield app
    app.close()


def read_through_contract(log: Any, after: int, originators: set[UUID]) -> list[Any]:
    """What a reader of the contract sees: the notifications after `after`, decoded by the
    contract's mapper (only these originators: other tests share the database)."""
    notifications = log.recorder.select_notifications(start=after + 1, limit=1000)
    return [log.mapper.to_domain_event(n) for n in notifications if n.originator_id in originators]


def test_recorded_reports_and_evaluations_read_back_through_the_contract_field_for_field(
    monitoring: Monitoring, log: Any
) -> None:
    # Given an agreement of Kota Bandung and Kabupaten Bandung being implemented
    agreement = AgreementFacts(id=uuid4(), stage="pelaksanaan", party_regions=("32.73", "32.04"))
    after = log.recorder.max_notification_id() or 0
    # When Kota Bandung files its report and corrects it, and the province records its evaluation
    # and corrects it
    report = monitoring.file_progress_report(
        OPERATOR, agreement, period="2025-S2",
        content={"indicators": [{"name": "Sampah terangkut (ton)", "target": 100, "achieved": 80}],
                 "budget": {"planned_idr": 1_000_000, "realised_idr": 750_000}, "obstacles": "Hujan"},
    ).aggregate
    monitoring.file_progress_report(
        OPERATOR, agreement, period="2025-S2", expected_version=1, correction_reason="Salah ketik capaian",
        content={"indicators": [{"name": "Sampah terangkut (ton)", "target": 100, "achieved": 85}]},
    )
    evaluation = monitoring.record_evaluation(
        MONITOR, agreement, period="2025-S2",
        content={"score": 78, "recommendation": "dilanjutkan", "evaluated_on": "2026-02-20"},
    ).aggregate
    monitoring.record_evaluation(
        MONITOR, agreement, period="2025-S2", expected_version=1, correction_reason=None,
        content={"score": 82, "recommendation": "diperluas", "evaluated_on": "2026-02-20"},
    )

    # Then the log, read through the contract, holds the four events as the contract's classes
    published = read_through_contract(log, after, {report.id, evaluation.id})
    assert [type(e) for e in published] == [
        contract.ProgressReportFiled, contract.ProgressReportCorrected,
        contract.EvaluationRecorded, contract.EvaluationCorrected,
    ]
    # And each equals, field for field, the domain event the application stored
    recorded = [*monitoring.events.get(report.id), *monitoring.events.get(evaluation.id)]
    assert len(recorded) == len(published)
    for domain_event, event in zip(recorded, published, strict=True):
        assert contract.TOPICS[get_topic(type(domain_event))] is type(event)
        for name in event.__struct_fields__:
            assert getattr(event, name) == getattr(domain_event, name), name
    # Spot checks, as a reader uses them
    filed, corrected, recorded_evaluation, corrected_evaluation = published
    assert filed.agreement_id == str(agreement.id) and filed.region == "32.73" and filed.period == "2025-S2"
    assert filed.originator_version == 1 and corrected.originator_version == 2
    assert corrected.reason == "Salah ketik capaian"
    assert corrected.content["indicators"][0]["achieved"] == 85
    assert recorded_evaluation.evaluator == "32"
    assert corrected_evaluation.reason is None and corrected_evaluation.content["score"] == 82
    assert filed.timestamp == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert filed.actor["tenant"] == "32.73"
    # The contract's events are plain data: they encode as JSON
    assert msgspec.json.decode(msgspec.json.encode(filed))["region"] == "32.73"
