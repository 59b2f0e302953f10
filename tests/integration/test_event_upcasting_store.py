"""A v1 history in the real event store loads, upcast, through the application's repository.

The stored events of `tests/fixtures/events/ksdd_v1.json` (as the code at 8a999f2 stored
them) are written through the application's own recorder, exactly as stored then, under a
fresh originator id per run.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from services.registry.application import Registry
from services.registry.domain.agreement import REASON_BURDENS, REASON_NOT_BUDGETED, Agreement
from tests.unit.test_event_upcasting import load_fixture, make_mapper, replay, stored_events


def with_id(state: dict[str, Any], agreement_id: UUID) -> dict[str, Any]:
    return copy.deepcopy(state) | {"_id": str(agreement_id)}


@pytest.fixture()
def v1_history(registry_app: Registry) -> tuple[UUID, dict[str, Any]]:
    """The fixture's v1 events, inserted under a new id; returns (id, fixture)."""
    fixture = load_fixture()
    agreement_id = uuid4()
    registry_app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=agreement_id,
                originator_version=e["originator_version"],
                topic=e["topic"],
                state=e["state"].encode("utf-8"),
            )
            for e in fixture["events"]
        ]
    )
    return agreement_id, fixture


def test_a_v1_history_loads_as_the_family_it_recorded(registry_app: Registry, v1_history) -> None:
    agreement_id, fixture = v1_history
    agreement = registry_app.repository.get(agreement_id)
    assert isinstance(agreement, Agreement)
    assert agreement.to_state() == with_id(fixture["expected"], agreement_id)
    assert [p["dprd_reasons"] for p in agreement.pks] == [[REASON_BURDENS, REASON_NOT_BUDGETED], []]


def test_the_stored_v1_events_are_untouched_and_come_out_upcast(registry_app: Registry, v1_history) -> None:
    agreement_id, fixture = v1_history
    stored = list(registry_app.recorder.select_events(agreement_id))
    assert [s.state.decode("utf-8") for s in stored] == [e["state"] for e in fixture["events"]]
    drafted = [e for e in registry_app.events.get(agreement_id) if isinstance(e, Agreement.PksDrafted)]
    assert [list(e.dprd_reasons) for e in drafted] == [[REASON_BURDENS, REASON_NOT_BUDGETED], []]


def test_every_version_of_a_v1_history_loads(registry_app: Registry, v1_history) -> None:
    agreement_id, fixture = v1_history
    # The same events replayed without a store, version by version, under the fixture's id.
    pure = [make_mapper().to_domain_event(s) for s in stored_events(fixture)]
    for n in range(1, len(fixture["events"]) + 1):
        loaded = registry_app.repository.get(agreement_id, version=n)
        assert loaded.version == n
        assert loaded.to_state() == with_id(replay(pure[:n]).to_state(), agreement_id)
    assert json.dumps(loaded.to_state())  # still JSON primitives only
