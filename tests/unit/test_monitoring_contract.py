"""Monitoring's published contract (`services.monitoring.contract`): every event its
aggregates record is named in `TOPICS` under the topic it is stored with, read as a plain
class with the same fields (on a real database: tests/integration/test_monitoring_contract_log.py)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from services.monitoring import contract
from services.monitoring.application import Monitoring
from services.monitoring.domain import alerts
from services.monitoring.domain.reports import Evaluation, ProgressReport
from services.monitoring.tables import SCHEMA
from shared import labels
from shared.feeds import ContractEvent

AGGREGATES = (ProgressReport, Evaluation)
# eventsourcing's own bookkeeping on a created event: the aggregate's class path, which the
# contract hides (decoding ignores it).
BOOKKEEPING = frozenset({"originator_topic"})


def recorded_event_classes() -> list[type[Aggregate.Event]]:
    """The event classes monitoring's aggregates record: every nested event class but the
    generic `Event` and `Created` each aggregate class gets from eventsourcing."""
    return [
        value
        for aggregate in AGGREGATES
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in ("Event", "Created")
    ] + [aggregate.Corrected for aggregate in AGGREGATES if "Corrected" not in vars(aggregate)]


def domain_fields(cls: type) -> set[str]:
    return {f for f in cls.__dataclass_fields__ if f not in BOOKKEEPING}  # type: ignore[attr-defined]


def test_every_recorded_event_is_published_under_its_stored_topic_with_the_same_fields() -> None:
    classes = recorded_event_classes()
    assert {c.__qualname__ for c in classes} == {
        "ProgressReport.Filed", "ProgressReport.Corrected", "Evaluation.Recorded", "Evaluation.Corrected",
    }
    for cls in classes:
        topic = get_topic(cls)
        assert topic in contract.TOPICS, f"{topic} is not in the contract's TOPICS"
        published = contract.TOPICS[topic]
        assert issubclass(published, ContractEvent)
        assert published.__doc__, f"{published.__name__} has no docstring"
        assert set(published.__struct_fields__) == domain_fields(cls), published.__name__
        assert getattr(cls, "class_version", 1) == published.class_version, published.__name__
    # Nothing published that is not recorded.
    assert set(contract.TOPICS) == {get_topic(c) for c in classes}


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
