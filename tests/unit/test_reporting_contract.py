"""Reporting's published contract (`services.reporting.contract`): every event its aggregates
record (region reports, consolidations, letter profiles) is named in `TOPICS` under the topic it
is stored with, read as a plain class with the same fields; a report event's class says which
aggregate recorded it (on a real database: tests/integration/test_reporting_contract_log.py)."""

from __future__ import annotations

import ast
import inspect

from eventsourcing.utils import get_topic

from services.reporting import contract
from services.reporting.application import Reporting
from services.reporting.domain.profiles import RegionProfile
from services.reporting.domain.reports import Consolidation, RegionReport, Report
from services.reporting.views import SCHEMA
from tests.unit.contracts import assert_published, recorded_event_classes


def test_every_recorded_event_is_published_under_its_stored_topic_with_the_same_fields() -> None:
    # (`Report` itself is only the reports' base: never created, its own event classes never stored.)
    classes = recorded_event_classes(RegionReport, Consolidation, RegionProfile)
    assert {c.__qualname__ for c in classes} == {
        "RegionReport.Started", "RegionReport.Edited", "RegionReport.Submitted",
        "Consolidation.Started", "Consolidation.Edited", "Consolidation.Submitted",
        "RegionProfile.Configured", "RegionProfile.Changed",
    }
    assert_published(contract.TOPICS, classes)
    for cls in classes:
        published = contract.TOPICS[get_topic(cls)]
        # The same types, field for field (the contract's annotations are strings: compared as written).
        hints = {f.name: str(f.type) for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
        for name in published.__struct_fields__:
            if name not in ("originator_id", "originator_version", "timestamp"):
                assert _annotation(published, name) == hints[name], (published.__name__, name)
    # Each stored topic read as a class of its own.
    assert len(set(contract.TOPICS.values())) == len(contract.TOPICS)


def _annotation(cls: type, name: str) -> str:
    """The field's annotation as written, on the class or the base that declares it."""
    for base in cls.__mro__:
        annotations = vars(base).get("__annotations__", {})
        if name in annotations:
            return str(annotations[name])
    raise AssertionError(f"{cls.__name__}.{name} has no annotation")


def test_region_reports_and_consolidations_are_stored_under_different_topics_and_read_as_their_kind() -> None:
    for kind, aggregate, prefix in ((contract.REGION, RegionReport, "RegionReport"),
                                    (contract.CONSOLIDATION, Consolidation, "Consolidation")):
        for event, base in (("Started", contract.ReportStarted), ("Edited", contract.ReportEdited),
                            ("Submitted", contract.ReportSubmitted)):
            published = contract.TOPICS[get_topic(getattr(aggregate, event))]
            assert published.__name__ == prefix + event
            assert issubclass(published, base) and issubclass(published, contract.ReportEvent)
            assert published.kind == kind
            # Report's own classes (the base, never created) are not what is stored.
            assert get_topic(getattr(aggregate, event)) != get_topic(getattr(Report, event))
    for profile_event in (contract.ProfileConfigured, contract.ProfileChanged):
        assert issubclass(profile_event, contract.Event) and not issubclass(profile_event, contract.ReportEvent)


def test_the_contract_names_reportings_log() -> None:
    assert contract.SCHEMA == SCHEMA
    assert Reporting.name == contract.LOG_NAME
    assert contract.Log.name == Reporting.name
    assert set(contract.__all__) <= set(vars(contract))
    # Each class knows the topic it is stored under (a dead letter names it).
    for topic, cls in contract.TOPICS.items():
        assert cls.stored_topic == topic


def test_the_contract_loads_none_of_reportings_code() -> None:
    """Its readers never load the aggregates (import-linter holds it too)."""
    tree = ast.parse(inspect.getsource(contract))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"__future__", "typing", "shared.feeds"}
