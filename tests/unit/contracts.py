"""What every service's published contract (`services/<name>/contract.py`) must hold, checked
the same way for each: every event class its aggregates record is in `TOPICS` under the topic it
is stored with, read as a plain class of the same fields (and the same stored version), and
nothing else is published."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from shared.feeds import ContractEvent

# eventsourcing's own bookkeeping on a created event: the aggregate's class path, which a
# contract hides (decoding ignores it).
BOOKKEEPING = frozenset({"originator_topic"})


def recorded_event_classes(*aggregates: type[Aggregate]) -> list[type[Aggregate.Event]]:
    """The event classes `aggregates` record: every nested event class but the generic `Event`
    and `Created` eventsourcing gives each aggregate class, and their inherited `Corrected`."""
    classes: list[type[Aggregate.Event]] = []
    for aggregate in aggregates:
        for name in dir(aggregate):
            value = getattr(aggregate, name)
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in ("Event", "Created"):
                classes.append(value)
    return classes


def domain_fields(cls: type) -> set[str]:
    return {f for f in cls.__dataclass_fields__ if f not in BOOKKEEPING}  # type: ignore[attr-defined]


def assert_published(topics: Mapping[str, type[ContractEvent]], classes: Iterable[type[Any]]) -> None:
    """Each of `classes` is published under its stored topic as a documented contract class
    of the same fields and version; the contract publishes nothing else."""
    classes = list(classes)
    for cls in classes:
        topic = get_topic(cls)
        assert topic in topics, f"{topic} is not in the contract's TOPICS"
        published = topics[topic]
        assert issubclass(published, ContractEvent)
        assert published.__doc__, f"{published.__name__} has no docstring"
        assert set(published.__struct_fields__) == domain_fields(cls), published.__name__
        assert getattr(cls, "class_version", 1) == published.class_version, published.__name__
    assert set(topics) == {get_topic(c) for c in classes}
