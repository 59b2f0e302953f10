"""The registry's event store: events are appended, never updated or deleted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from services.registry.application import Registry, StartAgreement
from shared.auth import Identity

OPERATOR = Identity(sub="op-1", name="Operator", tenant="32.73", roles=("operator",))
COMMAND = StartAgreement(
    form="KSDD", category="wajib", title="Legok Nangka", object="Pengolahan sampah regional",
    urusan=["2.11"], parties=[{"region": "32.04"}],
)
# The events table's rows and their stored state, in one comparable value.
CONTENT = "SELECT count(*), md5(string_agg(state::text, '' ORDER BY notification_id)) FROM registry.registry_events"


@pytest.fixture()
def stored(registry_app: Registry):
    return registry_app.start_agreement(OPERATOR, COMMAND).agreement


def test_every_event_records_who_did_it_and_when(registry_app: Registry, stored) -> None:
    (event,) = list(registry_app.events.get(stored.id))
    assert event.actor == {"sub": "op-1", "tenant": "32.73", "roles": ["operator"]}
    assert event.timestamp == registry_app.clock.now()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE registry.registry_events SET topic = 'x' WHERE originator_id = %(id)s",
        "UPDATE registry.registry_events SET state = state || 'x'::bytea WHERE originator_id = %(id)s",
        "DELETE FROM registry.registry_events WHERE originator_id = %(id)s",
        "TRUNCATE registry.registry_events",
    ],
)
def test_the_database_refuses_to_change_or_delete_events(migrated_url: str, stored, statement: str) -> None:
    with psycopg.connect(migrated_url) as conn:
        before = conn.execute(CONTENT).fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="events are immutable"):
            conn.execute(statement, {"id": stored.id})
        conn.rollback()
        after = conn.execute(CONTENT).fetchone()
    assert after == before


def test_a_concurrent_writer_of_the_same_version_is_refused(registry_app: Registry, stored) -> None:
    copy_a, copy_b = registry_app.repository.get(stored.id), registry_app.repository.get(stored.id)
    # Two writers both append version 2: the second must fail, not overwrite.
    # Two writers' events always differ (their moment, their actor); byte-identical events
    # would be indistinguishable from this writer's own commit whose acknowledgement was lost
    # (HashChainRecorder treats that retry as success), so the moments differ here too.
    now = registry_app.clock.now()
    copy_a.trigger_event(type(copy_a).Event, timestamp=now)
    copy_b.trigger_event(type(copy_b).Event, timestamp=now + timedelta(microseconds=1))
    registry_app.save(copy_a)
    with pytest.raises(IntegrityError):
        registry_app.save(copy_b)
    assert len(list(registry_app.events.get(stored.id))) == 2


@pytest.mark.parametrize("size", [1, 60, 150])
def test_a_save_meeting_a_stored_version_is_a_conflict_at_once_never_a_retried_outage(
    registry_app: Registry, stored, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A version conflict in eventsourcing's pipelined insert (fewer than BULK_MIN_EVENTS) is
    an IntegrityError on the first attempt: not 'pipeline aborted' (an OperationalError, which
    eventsourcing retries ten times, 0.2 s apart, and a caller would answer with 503)."""
    recorder = registry_app.recorder
    attempts = []
    real = recorder._insert_stored_events

    def counted(*args, **kwargs):
        attempts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(recorder, "_insert_stored_events", counted)
    stale = registry_app.repository.get(stored.id)
    stale.trigger_event(type(stale).Event, timestamp=registry_app.clock.now())
    winner = registry_app.repository.get(stored.id)
    winner.trigger_event(type(winner).Event, timestamp=registry_app.clock.now() + timedelta(microseconds=1))
    registry_app.save(winner)
    others = [registry_app.start_agreement(OPERATOR, COMMAND).agreement for _ in range(size - 1)]
    for other in others:
        other.trigger_event(type(other).Event, timestamp=registry_app.clock.now())
    attempts.clear()
    with pytest.raises(IntegrityError):
        registry_app.save(*others, stale)
    assert attempts == [1]
    assert len(list(registry_app.events.get(stored.id))) == 2
    assert all(len(list(registry_app.events.get(o.id))) == 1 for o in others)  # nothing of the batch


def test_unknown_ids_are_not_found(registry_app: Registry) -> None:
    from shared.errors import NotFound

    with pytest.raises(NotFound):
        registry_app.get_agreement(OPERATOR, uuid4())


def test_a_save_committed_just_before_its_connection_died_succeeds_once(
    registry_app: Registry, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server commits, the connection dies before the client hears it (a PostgreSQL
    restart), eventsourcing retries the insert: the retry meets the events already stored.
    That is the save succeeding, not a version conflict (a 500 for an acknowledged write)."""
    recorder, datastore = registry_app.recorder, registry_app.recorder.datastore
    real_connection, real_insert = datastore.get_connection, recorder._insert_events
    inserting, lost = [], []

    def insert(*args, **kwargs):  # noqa: ANN002, ANN003
        inserting.append(True)
        return real_insert(*args, **kwargs)

    @contextmanager
    def connection() -> Iterator[psycopg.Connection]:
        with real_connection() as conn:
            yield conn
        if inserting and not lost:  # committed: now the acknowledgement is lost
            lost.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(recorder, "_insert_events", insert)
    monkeypatch.setattr(datastore, "get_connection", connection)
    started = registry_app.start_agreement(OPERATOR, COMMAND).agreement
    monkeypatch.undo()

    assert lost, "the insert's connection was never cut"
    assert [e.originator_version for e in registry_app.events.get(started.id)] == [1]
    with psycopg.connect(migrated_url) as conn:
        links = conn.execute("SELECT count(*) FROM registry.registry_events_chain WHERE originator_id = %s",
                             (started.id,)).fetchone()[0]
    assert links == 1
