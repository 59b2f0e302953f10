"""Monitoring's published contract (`services.monitoring.contract`): every event its
aggregates record is named in `TOPICS` under the topic it is stored with, read as a plain
class with the same fields (on a real database: tests/integration/test_monitoring_contract_log.py)."""

from __future__ import annotations

from services.monitoring import contract
from services.monitoring.application import Monitoring
from services.monitoring.domain import alerts
from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.monitoring.tables import SCHEMA
from shared import labels
from tests.unit.contracts import assert_published, recorded_event_classes


def test_every_recorded_event_is_published_under_its_stored_topic_with_the_same_fields() -> None:
    classes = recorded_event_classes(ProgressReport, Evaluation)
    assert {c.__qualname__ for c in classes} == {
        "ProgressReport.Filed", "ProgressReport.Corrected", "Evaluation.Recorded", "Evaluation.Corrected",
    }
    assert_published(contract.TOPICS, classes)


def test_the_contract_names_monitorings_log() -> None:
    assert contract.SCHEMA == SCHEMA
    assert Monitoring.name == contract.LOG_NAME
    assert contract.Log.name == Monitoring.name


def test_the_contract_re_exports_the_alert_rules_and_their_words_come_from_the_shared_vocabulary() -> None:
    for name in ("Kind", "Severity", "Thresholds", "Finding", "agreement_findings", "region_finding",
                 "ACTIVE_STAGES", "KIND_TITLES", "SEVERITY_LABELS"):
        assert name in contract.__all__
        assert getattr(contract, name) is getattr(alerts, name)
    # Every kind and severity has its words, in the enums' order, keyed as the API's codes.
    assert list(labels.ALERT_KINDS) == [k.value for k in alerts.Kind]
    assert list(labels.ALERT_SEVERITIES) == [s.value for s in alerts.Severity]
    assert {k.value: t for k, t in alerts.KIND_TITLES.items()} == labels.ALERT_KINDS
    assert {s.value: t for s, t in alerts.SEVERITY_LABELS.items()} == labels.ALERT_SEVERITIES
    assert alerts.KIND_TITLES[alerts.Kind.EXPIRING] == "Naskah kerja sama segera berakhir"
    assert alerts.SEVERITY_LABELS[alerts.Severity.CRITICAL] == "kritis"
