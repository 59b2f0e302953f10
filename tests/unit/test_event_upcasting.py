"""Schema evolution of stored events: v1 histories, stored before an event recorded
everything it decided, still replay into the same family once upcast.

`tests/fixtures/events/ksdd_v1.json` holds one KSDD family's stored events as the code at
commit 8a999f2 stored them (see `make_v1_fixtures.py` there). PksDrafted v1 did not record
its DPRD reasons; v2 does, and `PksDrafted.upcast_v1_v2` fills them in for v1 events with
the v1 rule frozen inside it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, StoredEvent, UUIDAsHex
from eventsourcing.utils import resolve_topic

from services.registry import contract
from services.registry.domain import agreement as agreement_module
from services.registry.domain import commands as c
from services.registry.domain.agreement import REASON_BURDENS, REASON_NOT_BUDGETED, Agreement
from shared.feeds import ContractMapper, UnknownTopic
from tests.unit.contracts import assert_published, recorded_event_classes
from tests.unit.lifecycle import act, to_signed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "ksdd_v1.json"
PKS_DRAFTED_TOPIC = "services.registry.domain.agreement:Agreement.PksDrafted"


def load_fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def make_mapper() -> Mapper[UUID]:
    """A mapper as eventsourcing's Application builds one (the transcodings it registers)."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def stored_events(fixture: dict[str, Any]) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=UUID(e["originator_id"]),
            originator_version=e["originator_version"],
            topic=e["topic"],
            state=e["state"].encode("utf-8"),
        )
        for e in fixture["events"]
    ]


def replay(events: list[Any]) -> Agreement:
    """As eventsourcing's repository rebuilds an aggregate (and the lifecycle properties'
    "history rebuilds the family" check): the created event makes it, the rest mutate it."""
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Agreement)
    return rebuilt


def test_the_fixture_really_is_v1() -> None:
    fixture = load_fixture()
    assert fixture["code_commit"] == "8a999f2"
    drafted = [json.loads(e["state"]) for e in fixture["events"] if e["topic"] == PKS_DRAFTED_TOPIC]
    assert len(drafted) == 2
    for state in drafted:
        assert "class_version" not in state
        assert "dprd_reasons" not in state


def test_v1_pks_drafted_events_come_out_with_the_reasons_v1_meant() -> None:
    events = [make_mapper().to_domain_event(s) for s in stored_events(load_fixture())]
    drafted = [e for e in events if isinstance(e, Agreement.PksDrafted)]
    assert [(e.pks_id, list(e.dprd_reasons)) for e in drafted] == [
        ("pks-1", [REASON_BURDENS, REASON_NOT_BUDGETED]),
        ("pks-2", []),
    ]
    # Upcast state is a full v2 event: every field there, no version marker left in it.
    for event in drafted:
        assert set(vars(event)) == {f.name for f in dataclasses.fields(Agreement.PksDrafted)}


def test_a_v1_history_replays_into_the_family_it_recorded() -> None:
    fixture = load_fixture()
    events = [make_mapper().to_domain_event(s) for s in stored_events(fixture)]
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    rebuilt = replay(events)
    # Nothing ignored: ids, versions and timestamps were fixed when the fixture was made.
    assert rebuilt.to_state() == fixture["expected"]
    assert Agreement.from_state(copy.deepcopy(fixture["expected"])).to_state() == fixture["expected"]


def test_the_upcaster_keeps_the_v1_meaning_when_the_live_rule_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reason for freezing the rule in the upcaster: a later rule must not rewrite history."""
    monkeypatch.setattr(agreement_module, "dprd_reasons", lambda burdens, budgeted: ["a_later_rule"])
    fixture = load_fixture()
    rebuilt = replay([make_mapper().to_domain_event(s) for s in stored_events(fixture)])
    assert rebuilt.to_state() == fixture["expected"]


def test_pks_drafted_is_v2_and_class_version_is_not_a_field() -> None:
    assert getattr(Agreement.PksDrafted, "class_version", 1) == 2
    fields = {f.name for f in dataclasses.fields(Agreement.PksDrafted)}
    assert "class_version" not in fields
    assert "dprd_reasons" in fields
    # The other events are still v1: only PksDrafted changed.
    assert getattr(Agreement.OfferSubmitted, "class_version", 1) == 1


def test_a_pks_drafted_today_is_stored_as_v2_with_its_reasons_and_round_trips() -> None:
    agreement = to_signed()
    (event,) = act(agreement, c.DraftPks("PKS angkutan", "Angkutan sampah", burdens_community=True))
    assert event.dprd_reasons == (REASON_BURDENS,)
    mapper = make_mapper()
    stored = mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state["class_version"] == 2
    assert state["dprd_reasons"] == [REASON_BURDENS]
    again = mapper.to_domain_event(stored)
    assert type(again) is type(event)
    assert "class_version" not in vars(again)
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in vars(event).items()} == vars(again)
    assert mapper.to_stored_event(again) == stored
    assert agreement.pks_by_id(event.pks_id)["dprd_reasons"] == [REASON_BURDENS]


# -- the published contract (services/registry/contract.py) reads the same stored events ------

class _ContractMapper(ContractMapper):
    topics = contract.TOPICS


def contract_mapper() -> ContractMapper:
    return _ContractMapper(transcoder=make_mapper().transcoder)


def test_the_contract_names_every_event_the_registry_stores_under_its_stored_topic() -> None:
    classes = recorded_event_classes(Agreement)  # (eventsourcing's own `Created` is never stored)
    assert len(classes) == 15
    assert_published(contract.TOPICS, classes)
    for topic, published in contract.TOPICS.items():
        assert published.__name__ == resolve_topic(topic).__name__


def test_a_v1_history_read_through_the_contract_folds_into_the_family_it_recorded() -> None:
    """Another service reads the v1 fixture through the contract: PksDrafted v1 upcast with the
    v1 rule, and the record folded from the plain events is the state the registry replays."""
    fixture = load_fixture()
    events = [contract_mapper().to_domain_event(s) for s in stored_events(fixture)]
    drafted = [e for e in events if isinstance(e, contract.PksDrafted)]
    assert [(e.pks_id, list(e.dprd_reasons)) for e in drafted] == [
        ("pks-1", [REASON_BURDENS, REASON_NOT_BUDGETED]), ("pks-2", [])]
    record = None
    for event in events:
        record = contract.fold(record, event)
    assert record == fixture["expected"]


def test_a_v2_pks_drafted_is_read_through_the_contract_by_the_typed_path_and_a_v1_one_is_upcast(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The typed decoding (msgspec, straight from the bytes) reads an event stored in its class's
    current version, v2 included: a sixth of a rebuild's events are PksDrafted, and the
    transcoder's way decodes with the json module. A v1 one still takes that way, upcast."""
    agreement = to_signed()
    (event,) = act(agreement, c.DraftPks("PKS angkutan", "Angkutan sampah", burdens_community=True))
    stored = make_mapper().to_stored_event(event)
    mapper = contract_mapper()
    slow = mapper.to_domain_event(dataclasses.replace(stored, state=json.dumps(json.loads(stored.state)).encode()))
    decoded: list[bytes] = []
    decode = mapper.transcoder.decode
    monkeypatch.setattr(mapper.transcoder, "decode", lambda data: decoded.append(data) or decode(data))
    fast = mapper.to_domain_event(stored)
    assert decoded == []  # the typed path
    assert isinstance(fast, contract.PksDrafted) and fast == slow
    assert fast.dprd_reasons == (REASON_BURDENS,)
    (v1,) = [s for s in stored_events(load_fixture()) if s.topic == PKS_DRAFTED_TOPIC][:1]
    assert mapper.to_domain_event(v1).dprd_reasons == (REASON_BURDENS, REASON_NOT_BUDGETED)
    assert len(decoded) == 1  # the v1 event: the transcoder's way, then upcast


def test_the_contract_refuses_a_gap_or_a_repeat_in_the_versions() -> None:
    events = [contract_mapper().to_domain_event(s) for s in stored_events(load_fixture())]
    record = contract.fold(None, events[0])
    with pytest.raises(contract.VersionGap):
        contract.fold(record, events[2])
    record = contract.fold(record, events[1])
    with pytest.raises(contract.VersionGap):
        contract.fold(record, events[1])


def test_a_topic_the_contract_does_not_name_cannot_be_read() -> None:
    """(A projection's guard makes it a dead letter, like any event its code cannot decode.)"""
    [first, *_] = stored_events(load_fixture())
    unknown = StoredEvent(originator_id=first.originator_id, originator_version=1,
                          topic="services.registry.domain.agreement:Agreement.SomethingNewer", state=b"{}")
    with pytest.raises(UnknownTopic, match="SomethingNewer"):
        contract_mapper().to_domain_event(unknown)
