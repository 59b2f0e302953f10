"""A save of large events never hangs. eventsourcing writes a save through psycopg's pipeline
mode, which can wait forever on a large batch (psycopg#685): 50 stored states of 200 KB (a
batch of region reports, as the national seed saves them) hung on every try, with the events
table's exclusive lock held, so every writer of the service would have waited behind it. Such
saves take the COPY path (shared/audit/store.py, BULK_MIN_BYTES)."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.registry.application import Registry
from shared.audit.chain import check_chain

TOPIC = "services.registry.domain.agreement:Agreement.Started"


def _event(size: int, originator: uuid.UUID | None = None, version: int = 1) -> StoredEvent:
    state = json.dumps({
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"},
        "note": "x" * size, "class_version": 1,
    }, separators=(",", ":")).encode()  # as the mapper encodes a state
    return StoredEvent(originator_id=originator or uuid.uuid4(), originator_version=version, topic=TOPIC, state=state)


def _insert_within(registry_app: Registry, events: list[StoredEvent], seconds: float = 60) -> list[int]:
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(_try(registry_app, events)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"a save of {len(events)} events of {len(events[0].state):,} bytes did not finish in {seconds} s"
    if isinstance(done[0], Exception):
        raise done[0]
    return done[0]  # type: ignore[return-value]


def _try(registry_app: Registry, events: list[StoredEvent]) -> object:
    try:
        return registry_app.recorder.insert_events(events)
    except Exception as exc:  # noqa: BLE001 - handed to the test's thread
        return exc


@pytest.mark.parametrize(("size", "count"), [(200_000, 50), (1_000_000, 20), (5_000_000, 1)])
def test_a_save_of_large_states_completes_and_its_chain_verifies(registry_app: Registry, size: int, count: int) -> None:
    events = [_event(size) for _ in range(count)]
    ids = _insert_within(registry_app, events)
    assert len(ids) == count and ids == sorted(ids)
    for event in events[:3]:
        stored = registry_app.recorder.select_events(event.originator_id)
        assert [e.state for e in stored] == [event.state]
        assert check_chain(registry_app.recorder.chain_entries(event.originator_id)).valid


def test_a_large_save_that_conflicts_is_refused_and_writes_nothing(registry_app: Registry) -> None:
    first = _event(10)
    _insert_within(registry_app, [first])
    clash = [_event(300_000), _event(300_000, first.originator_id, 1)]
    with pytest.raises(IntegrityError):
        _insert_within(registry_app, clash)
    assert registry_app.recorder.select_events(clash[0].originator_id) == []
