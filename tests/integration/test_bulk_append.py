"""The recorder's bulk path (`HashChainRecorder`, saves of `BULK_MIN_EVENTS` events or more,
as a legacy import appends): one transaction under the events table's lock, rows written by
COPY. It must keep everything the library's path guarantees: notification ids in order and
without gaps within a save, never interleaved with another writer's; every event with its
link of a hash chain that the reference verifier accepts; a version already stored refused
(nothing of the save written); the projection reading what was written."""

from __future__ import annotations

import csv
import enum
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from services.ksd.cli import migrate_all
from services.registry.application import Registry
from services.registry.domain.agreement import Agreement, Category, Form, RegionParty
from services.registry.domain.commands import Caller, Policy, RecordOfferResponse, SubmitOffer
from services.registry.imports import HEADERS, IMPORTED, PRESENT, Importer
from services.registry.setup import registry_env
from shared.audit import store as store_module
from shared.audit import translog
from shared.audit.chain import GENESIS, RecordError, chain_hash, check_chain, record_of
from shared.audit.store import BULK_MIN_EVENTS, HashChainRecorder, link_hash
from shared.auth import Identity
from shared.clock import ManualClock
from shared.regions import load_regions
from tests.conftest import fresh_database
from tests.e2e.test_imports import sample_rows

KOTA, KAB = "32.73", "32.04"
ACTOR = {"sub": "op-bulk", "tenant": KOTA, "roles": ["operator"]}
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
N = BULK_MIN_EVENTS + 50


# Its own database: thousands of events would slow the shared database's projection tests.
@pytest.fixture(scope="module")
def url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_bulk") as database_url:
        migrate_all(database_url)
        yield database_url


@pytest.fixture(scope="module")
def app(url: str) -> Iterator[Registry]:
    registry = Registry(registry_env(url, pool_size=3), clock=ManualClock())
    yield registry
    registry.close()


@pytest.fixture()
def bulk_saves(app: Registry, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many events each save that took the bulk path carried."""
    recorder: HashChainRecorder = app.recorder  # type: ignore[assignment]
    real, real_packed, seen = recorder._copy_events, recorder._copy_packed, []

    def counting(stored_events: Any) -> Any:
        seen.append(len(stored_events))
        return real(stored_events)

    def counting_packed(packed: Any) -> Any:
        seen.append(len(packed.events))
        return real_packed(packed)

    monkeypatch.setattr(recorder, "_copy_events", counting)
    monkeypatch.setattr(recorder, "_copy_packed", counting_packed)
    return seen


def started(n: int, at: datetime = AT) -> list[Agreement]:
    regions = load_regions()
    return [
        Agreement.start(
            id=uuid4(), actor=ACTOR, at=at, form=Form.KSDD, category=Category.WAJIB,
            title=f"Pengelolaan sampah regional {i}", object="TPPAS Legok Nangka", urusan=["2.11"],
            initiator=KOTA, partners=[RegionParty(KAB)], value_idr=1_000_000_000, burdens_community=False,
            budgeted_in_apbd=True, adjacency=regions, drafted_on=date(2025, 1, 2),
        )
        for i in range(n)
    ]


def offered(app: Registry, ids: list[UUID], at: datetime) -> list[Agreement]:
    """Each agreement as stored, with its offer decided (not saved)."""
    out = []
    for i, agreement_id in enumerate(ids):
        agreement = app.repository.get(agreement_id)
        agreement.execute(SubmitOffer(reference=f"005/{i}/Pem", sent_on=date(2025, 2, 3)),
                          by=Caller(KOTA, ACTOR), at=at, policy=Policy())
        out.append(agreement)
    return out


def accepted(app: Registry, ids: list[UUID], at: datetime) -> list[Agreement]:
    """Each agreement as stored, with the partner's acceptance decided (not saved)."""
    out = []
    for i, agreement_id in enumerate(ids):
        agreement = app.repository.get(agreement_id)
        agreement.execute(RecordOfferResponse("accepted", f"006/{i}/Pem", date(2025, 2, 15)),
                          by=Caller(KAB, {**ACTOR, "tenant": KAB}), at=at, policy=Policy())
        out.append(agreement)
    return out


def events_of(aggregates: list[Agreement]) -> list[Any]:
    return [event for aggregate in aggregates for event in aggregate.collect_events()]


def append(app: Registry, events: list[Any]) -> None:
    """As an import appends a batch: packed, then written."""
    app.append_packed(app.pack_events(events))


def stored_rows(url: str, after: int) -> list[tuple[int, UUID, int]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT notification_id, originator_id, originator_version FROM registry.registry_events "
            "WHERE notification_id > %s ORDER BY notification_id", (after,)).fetchall()


def last_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(notification_id), 0) FROM registry.registry_events").fetchone()[0]


def counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM registry.registry_events), "
                            "(SELECT count(*) FROM registry.registry_events_chain)").fetchone()


def assert_chains_verify(app: Registry, ids: list[UUID], versions: int) -> None:
    recorder: HashChainRecorder = app.recorder  # type: ignore[assignment]
    for agreement_id in ids:
        check = check_chain(recorder.chain_entries(agreement_id))
        assert check.valid, (agreement_id, check)
        assert check.events == versions


# -- the hash, fast path against the reference ------------------------------------------------------


def reference(prev: bytes, originator: str, version: int, topic: str, state: bytes) -> tuple[bytes, str]:
    record = record_of(originator, version, topic, state, strict=False)
    return bytes.fromhex(chain_hash(prev.hex(), record)), record["recorded_at"]


STAMP = '{"_type_":"datetime_iso","_data_":"2026-03-02T08:00:00+00:00"}'


def code_point_states() -> list[bytes]:
    """States holding every code point (surrogates aside) in keys and values, 2,048 a state;
    the characters JSON must escape written as escapes."""
    states = []
    for start in range(0, 0x110000, 0x800):
        members = [
            f'"k{cp:x}{chr(cp)}":"{chr(cp)}"' if cp >= 0x20 and chr(cp) not in '"\\'
            else f'"k{cp:x}\\u{cp:04x}":"\\u{cp:04x}"'
            for cp in range(start, start + 0x800) if not 0xD800 <= cp <= 0xDFFF
        ]
        if members:
            states.append(('{"timestamp":' + STAMP + ',"actor":{"sub":"a"},' + ",".join(members) + "}").encode())
    return states


@pytest.mark.parametrize("state", [
    *code_point_states(),
    b'{"timestamp":"2026-03-02T08:00:00+00:00","actor":null,"n":-0,"big":123456789012345678901234567890}',
    ('{"timestamp":' + STAMP + ',"a":[1,[2,{"z":true,"y":false,"\u00e9":null,"\U0001F600":"x"}]],"b":{}}').encode(),
    ('{"timestamp":' + STAMP + ',"esc":"\\n\\t\\"\\\\\\/\\u0000\\u001f\\u007f\\u2028 \\ud83d\\ude00"}').encode(),
    ('{"timestamp":' + STAMP + ',"f":1.5,"g":1e16,"h":-0.0}').encode(),  # floats: the reference path
    ('{"timestamp":' + STAMP + ',"a":1,"a":2}').encode(),  # duplicate keys: the last wins, as json does
], ids=lambda state: f"{len(state)}-bytes")
def test_the_fast_link_hash_is_the_reference_chain_hash(state: bytes) -> None:
    prev = bytes(range(32))
    args = (str(uuid4()), 7, "services.registry.domain.agreement:Agreement.OfferSubmitted", state)
    assert link_hash(prev, *args) == reference(prev, *args)


@pytest.mark.parametrize("state", [
    b"not json", b"[1,2]", b'{"actor":{}}', b'{"timestamp":{"_type_":"other","_data_":"x"}}',
    b'{"timestamp":"2026-03-02T08:00:00+00:00","bad":"\xff"}', b'{"timestamp":"x","lone":"\\ud800"}',
    b'{"timestamp":"x","nan":NaN}',
])
def test_a_state_that_is_no_record_is_refused_as_the_reference_refuses_it(state: bytes) -> None:
    args = ("8c5d6f0e-1d1a-4a7e-9a57-2f7d9b0c1e2f", 1, "x:Y.Z", state)
    with pytest.raises(ValueError) as reference_error:  # RecordError, UnicodeError, NaN's ValueError
        reference(bytes.fromhex(GENESIS), *args)
    with pytest.raises(reference_error.type):
        link_hash(bytes.fromhex(GENESIS), *args)


def test_the_hashes_of_real_events_are_the_reference_hashes(app: Registry) -> None:
    aggregates = started(3)
    for agreement in aggregates:
        agreement.execute(SubmitOffer(reference="005/1/Pem", sent_on=date(2025, 2, 3)),
                          by=Caller(KOTA, ACTOR), at=AT, policy=Policy())
    prev = bytes.fromhex(GENESIS)
    for event in events_of(aggregates):
        stored = app.mapper.to_stored_event(event)
        args = (str(stored.originator_id), stored.originator_version, stored.topic, stored.state)
        assert link_hash(prev, *args) == reference(prev, *args)
        # The mapper writes exactly the bytes eventsourcing's transcoder writes.
        state = dict(vars(event))
        del state["originator_id"], state["originator_version"]
        state["class_version"] = getattr(type(event), "class_version", 1)
        assert stored.state == app.mapper.transcoder.encode(state)


# -- the bulk path in the event store ----------------------------------------------------------------


def test_a_bulk_save_takes_ids_in_order_without_gaps_and_every_link_verifies(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    aggregates = started(N)
    events = events_of(aggregates)
    before = last_id(url)
    recordings = app.save(*events)
    assert bulk_saves == [N]

    rows = stored_rows(url, before)
    ids = [r[0] for r in rows]
    assert ids == [r.notification.id for r in recordings]
    assert ids == list(range(ids[0], ids[0] + N))  # gap-free
    assert [(r[1], r[2]) for r in rows] == [(e.originator_id, e.originator_version) for e in events]  # in order
    assert_chains_verify(app, [a.id for a in aggregates], versions=1)

    # Next steps link to the heads just written (kept in the recorder's cache) ...
    at = AT + timedelta(days=1)
    app.save(*events_of(offered(app, [a.id for a in aggregates], at)))
    assert bulk_saves == [N, N]
    assert_chains_verify(app, [a.id for a in aggregates], versions=2)

    # ... and, from a recorder that never saw them, to the heads read from the chain table.
    other = Registry(registry_env(url, pool_size=1), clock=ManualClock())
    try:
        other.save(*events_of(accepted(other, [a.id for a in aggregates], at + timedelta(days=1))))
    finally:
        other.close()
    assert_chains_verify(app, [a.id for a in aggregates], versions=3)
    assert len(stored_rows(url, before)) == 3 * N


def test_appending_domain_events_maps_them_as_they_are_written_with_the_bytes_a_save_writes(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    """The import's path (`Registry.pack_events`, then `append_packed`) takes unmapped events: the
    stored rows, their order, ids and links are those of a save of the same events."""
    aggregates = started(N)
    events = events_of(aggregates)
    expected = [app.mapper.to_stored_event(e) for e in events]
    before = last_id(url)
    append(app, events)
    assert bulk_saves == [N]
    rows = stored_rows(url, before)
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[0][0] + N))  # gap-free
    assert [(r[1], r[2]) for r in rows] == [(e.originator_id, e.originator_version) for e in expected]
    with psycopg.connect(url) as conn:
        states = conn.execute("SELECT topic, state FROM registry.registry_events WHERE notification_id > %s"
                              " ORDER BY notification_id", (before,)).fetchall()
    assert states == [(e.topic, e.state) for e in expected]
    assert_chains_verify(app, [a.id for a in aggregates], versions=1)

    # A batch meeting a stored version writes nothing, and the rest is appended afterwards.
    stale = events_of(started(N))
    copy = app.repository.get(aggregates[0].id)
    copy.execute(SubmitOffer(reference="005/1/Pem", sent_on=date(2025, 2, 3)),
                 by=Caller(KOTA, ACTOR), at=AT, policy=Policy())
    (offer,) = copy.collect_events()
    app.save(offer)
    before = counts(url)
    with pytest.raises(IntegrityError):
        append(app, [*stale, offer])
    assert counts(url) == before
    append(app, stale)
    assert counts(url) == (before[0] + N, before[1] + N)
    assert_chains_verify(app, [e.originator_id for e in stale], versions=1)


def test_events_given_out_of_version_order_are_linked_in_version_order_and_stored_as_given(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    aggregates = started(N // 2 + 1)
    for i, agreement in enumerate(aggregates):
        agreement.execute(SubmitOffer(reference=f"005/{i}/Pem", sent_on=date(2025, 2, 3)),
                          by=Caller(KOTA, ACTOR), at=AT, policy=Policy())
    events = events_of(aggregates)[::-1]  # every offer before its start
    before = last_id(url)
    app.save(*events)
    assert bulk_saves == [len(events)]
    rows = stored_rows(url, before)
    assert [(r[1], r[2]) for r in rows] == [(e.originator_id, e.originator_version) for e in events]
    assert_chains_verify(app, [a.id for a in aggregates], versions=2)


def test_a_bulk_save_that_meets_a_stored_version_is_refused_and_writes_nothing(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    (existing,) = started(1)
    app.save(existing)
    copy_a, copy_b = app.repository.get(existing.id), app.repository.get(existing.id)
    for copy, minutes in ((copy_a, 1), (copy_b, 2)):  # two writers decide version 2, differently
        copy.execute(SubmitOffer(reference=f"005/{minutes}/Pem", sent_on=date(2025, 2, 3)),
                     by=Caller(KOTA, ACTOR), at=AT + timedelta(minutes=minutes), policy=Policy())
    app.save(copy_a)
    fresh = started(N)
    before = counts(url)

    with pytest.raises(IntegrityError):
        app.save(*events_of(fresh), *copy_b.collect_events())
    assert bulk_saves == [N + 1]
    assert counts(url) == before  # neither events nor links
    assert [e.originator_version for e in app.events.get(existing.id)] == [1, 2]
    assert check_chain(app.recorder.chain_entries(existing.id)).valid  # type: ignore[attr-defined]

    # The same batch without the stale event is saved, on the same pool.
    again = started(N)
    app.save(*events_of(again))
    assert counts(url) == (before[0] + N, before[1] + N)
    assert_chains_verify(app, [a.id for a in again], versions=1)


def test_concurrent_bulk_saves_never_interleave_their_notification_ids(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    batches = [events_of(started(N)) for _ in range(3)]
    before = last_id(url)
    errors: list[BaseException] = []

    def save(events: list[Any]) -> None:
        try:
            app.save(*events)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(bulk_saves) == [N, N, N]

    rows = stored_rows(url, before)
    assert len(rows) == 3 * N
    owner = {e.originator_id: k for k, batch in enumerate(batches) for e in batch}
    runs = [owner[rows[0][1]]]
    for row in rows[1:]:
        if owner[row[1]] != runs[-1]:
            runs.append(owner[row[1]])
    assert sorted(runs) == [0, 1, 2]  # each save's events form one block of ids
    for k, batch in enumerate(batches):
        ids = [r[0] for r in rows if owner[r[1]] == k]
        assert ids == list(range(ids[0], ids[0] + N))
        assert [(r[1], r[2]) for r in rows if owner[r[1]] == k] == [(e.originator_id, e.originator_version)
                                                                  for e in batch]


@pytest.mark.parametrize("path", ["save", "packed"])
def test_a_bulk_save_committed_just_before_its_connection_died_succeeds_once(
    app: Registry, url: str, bulk_saves: list[int], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The commit reaches the server, the acknowledgement is lost, eventsourcing's retry
    meets the events already stored: the save succeeded (as on the library's path). The
    import's path (`pack_events`, then `append_packed`) ends the same way."""
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    real_connection, lost = datastore.get_connection, []

    @contextmanager
    def connection() -> Iterator[psycopg.Connection]:
        with real_connection() as conn:
            yield conn
        if bulk_saves and not lost:
            lost.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    aggregates = started(N)
    events = events_of(aggregates)
    packed = app.pack_events(events) if path == "packed" else None
    monkeypatch.setattr(datastore, "get_connection", connection)
    before = counts(url)
    if packed is None:
        app.save(*events)
    else:
        app.append_packed(packed)
    monkeypatch.setattr(datastore, "get_connection", real_connection)

    assert lost and bulk_saves == [N]  # one save (its retry runs within), answered as a success
    assert counts(url) == (before[0] + N, before[1] + N)
    assert_chains_verify(app, [a.id for a in aggregates], versions=1)


def test_packing_needs_no_connection_and_an_uncached_head_is_looked_up_by_the_writer(
    app: Registry, url: str, bulk_saves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's writer thread may hold the pool's only connection (`ksd import` opens one)
    while the next batch is packed: packing takes none. A batch with an aggregate whose
    previous head is not cached (stored by another process) is left to the insert, which
    looks the head up in its own transaction."""
    stored = started(N)
    app.save(*stored)
    recorder: HashChainRecorder = app.recorder  # type: ignore[assignment]
    recorder._heads.clear()  # as in a new process
    fresh = started(N)
    events = [*events_of(offered(app, [stored[0].id], AT)), *events_of(fresh)]
    bulk_saves.clear()

    datastore = recorder.datastore
    real_connection = datastore.get_connection

    def no_connection() -> Any:
        raise AssertionError("packing took a connection")

    monkeypatch.setattr(datastore, "get_connection", no_connection)
    packed = app.pack_events(events)
    monkeypatch.setattr(datastore, "get_connection", real_connection)
    assert packed.rows is None  # not packed: the offer's previous head is not known here

    before = counts(url)
    app.append_packed(packed)
    assert bulk_saves == [N + 1]  # the insert's bulk path, the head looked up in its transaction
    assert counts(url) == (before[0] + N + 1, before[1] + N + 1)
    assert_chains_verify(app, [stored[0].id], versions=2)
    assert_chains_verify(app, [a.id for a in fresh], versions=1)


def import_csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(["" if row.get(h) is None else row.get(h) for h in HEADERS])
    return buffer.getvalue().encode()


def test_an_import_whose_middle_batch_meets_a_family_stored_meanwhile_stores_every_other_family(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    """An import packs each batch while the one before is written. When another import
    stores one family of the middle batch between this one's decision and its append, that
    batch fails whole, its families are saved one by one, and the batch after it (packed
    meanwhile) is appended: every other family stored with verifying chains, the family
    stored meanwhile reported present, and the report's count is what the store gained."""
    rows, _ = sample_rows("MID", 150)
    content = import_csv(rows)
    identity = Identity(sub="op-bulk", name="", tenant=KOTA, roles=("operator",))
    limits = {"max_bytes": 10_000_000, "max_rows": 10_000}
    importer = Importer(app, identity, batch_size=50)
    plan = importer.decide(content, "impor.csv", dry_run=False, **limits)
    families = [agreement for agreement, _, _ in plan.changed]
    assert len(families) == 150  # three batches of 50 families

    other = Importer(app, identity, batch_size=50)
    meanwhile = other.decide(content, "impor.csv", dry_run=False, **limits)
    taken, _, _ = meanwhile.changed[75]  # the middle batch's
    assert taken.id == families[75].id
    app.save(taken)

    before = counts(url)
    importer.save(plan)
    gained = counts(url)[0] - before[0]

    report = plan.report
    statuses = {r.agreement_id: r.status for r in report.rows if r.kind == "kesepakatan"}
    assert statuses[str(taken.id)] == PRESENT
    assert sum(1 for s in statuses.values() if s == IMPORTED) == len(families) - 1
    assert gained == report.saved_events == sum(r.events for r in report.rows if r.status == IMPORTED) > 0
    # Each batch was appended by the bulk path, the middle one refused there (its families then
    # saved one by one, each too small for the bulk path).
    assert len(bulk_saves) == 3
    recorder: HashChainRecorder = app.recorder  # type: ignore[assignment]
    for agreement in families:
        check = check_chain(recorder.chain_entries(agreement.id))
        assert check.valid and check.events == app.repository.get(agreement.id).version, (agreement.id, check)


def test_an_import_appends_by_the_bulk_path_and_the_projection_reads_every_event(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    from services.registry.setup import projection_lag
    from services.registry.worker import make_runner

    rows, _ = sample_rows("BULK", 120)
    identity = Identity(sub="op-bulk", name="", tenant=KOTA, roles=("operator",))
    report = Importer(app, identity, batch_size=500).run(
        import_csv(rows), "impor.csv", dry_run=False, max_bytes=10_000_000, max_rows=10_000)
    imported = {r.agreement_id for r in report.rows if r.status == IMPORTED and r.kind == "kesepakatan"}
    assert len(imported) == 120 and bulk_saves and sum(bulk_saves) == report.saved_events
    assert_each = [UUID(i) for i in imported]
    recorder: HashChainRecorder = app.recorder  # type: ignore[assignment]
    for agreement_id in assert_each:
        assert check_chain(recorder.chain_entries(agreement_id)).valid

    with make_runner(url) as runner, psycopg.connect(url) as conn:
        for _ in range(400):
            if projection_lag(conn) == 0:
                break
            runner.run_forever(timeout=0.05)
        assert projection_lag(conn) == 0
        found = conn.execute("SELECT id, version FROM registry.agreements WHERE id = ANY(%s)",
                             (assert_each,)).fetchall()
    assert {str(r[0]) for r in found} == imported
    assert all(r[1] == app.repository.get(r[0]).version for r in found)


# -- the mapper's fast path and the packed COPY rows ------------------------------------------------


class Probe:
    """A stand-in domain event: the mapper reads `vars()` and the class."""

    class_version = 3


class Colour(str, enum.Enum):  # noqa: UP042 - the str mixin, as older code declares it, is what is stored
    RED = "merah"


class Size(enum.IntEnum):
    BIG = 7


def probe(**fields: Any) -> Probe:
    event = Probe()
    vars(event).update({"originator_id": uuid4(), "originator_version": 4, "timestamp": AT, **fields})
    return event


def nested(depth: int) -> Any:
    """A value `depth` arrays and objects deep (the mapper's fast path takes 8)."""
    value: Any = "dasar"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


PLAIN = {
    "actor": dict(ACTOR, imported={"row": 2, "file_sha256": "ab" * 32}),
    "title": "Kerja sama \u00e9\U0001F600 \"kutip\" \\ \n\t\x00\x1f\x7f\u2028", "n": -0, "big": 2**80, "neg": -(2**70),
    "yes": True, "no": False, "none": None, "tuple": ("2.11", ("a", {"z": 1, "a": [None]})), "empty": {},
    "list": [], "enum": Colour.RED, "int_enum": Size.BIG, "deep": nested(8),
}


@pytest.mark.parametrize(("fields", "fast"), [
    (PLAIN, True),
    ({"actor": None, "reference": "005/1/Pem"}, True),
    ({"reference": "no actor"}, True),
    ({"agreement": uuid4(), "amount": Decimal("12.50"), "at": AT + timedelta(hours=7)}, True),  # top level
    ({"pair": (uuid4(),)}, False),  # a registered type deeper down: the json path transcodes it
    ({"moment": {"at": AT}}, False),
    ({"ratio": 1.5}, False),  # floats: the json module's own text
    ({"ratio": [1e16]}, False),
    ({"deep": nested(9)}, False),
    ({"keys": {1: "satu"}}, False),
], ids=lambda v: str(v)[:40] if not isinstance(v, bool) else str(v))
def test_the_mapper_writes_the_transcoders_bytes_and_the_reference_link(
    app: Registry, fields: dict[str, Any], fast: bool
) -> None:
    event = probe(**fields)
    stored = app.mapper.to_stored_event(event)
    state = dict(vars(event))
    del state["originator_id"], state["originator_version"]
    state["class_version"] = 3
    transcoder = app.mapper.transcoder
    assert stored.state == transcoder.encode(state)  # byte for byte
    assert transcoder.decode(stored.state) == json_like(state)  # and reads back the same
    assert (store_module._RECORD_PARTS in vars(stored)) is fast  # the path taken
    prev = bytes(range(32))
    args = (str(stored.originator_id), stored.originator_version, stored.topic, stored.state)
    assert store_module._link(prev, args[0], stored) == reference(prev, *args)


def json_like(value: Any) -> Any:
    """What the transcoder reads back: tuples as lists, enums as their values."""
    if isinstance(value, dict):
        return {(str(k) if not isinstance(k, str) else k): json_like(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_like(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def test_a_state_without_a_timestamp_is_refused_by_the_link_as_by_the_reference(app: Registry) -> None:
    event = probe(reference="x")
    del vars(event)["timestamp"]
    stored = app.mapper.to_stored_event(event)
    assert store_module._RECORD_PARTS not in vars(stored)
    with pytest.raises(RecordError):
        store_module._link(bytes(32), str(stored.originator_id), stored)


def test_the_packed_rows_store_the_events_links_and_log_leaves_the_reference_computes(
    app: Registry, url: str, bulk_saves: list[int]
) -> None:
    aggregates = started(N)
    for agreement in aggregates[: N // 2]:  # some aggregates with two events in the save
        agreement.execute(SubmitOffer(reference="005/9/Pem", sent_on=date(2025, 2, 3)),
                          by=Caller(KOTA, ACTOR), at=AT, policy=Policy())
    events = events_of(aggregates)
    before = last_id(url)
    app.save(*events)
    assert bulk_saves == [len(events)]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, c.recorded_at, c.prev_hash, c.hash "
            "FROM registry.registry_events e JOIN registry.registry_events_chain c "
            "USING (originator_id, originator_version) WHERE e.notification_id > %s ORDER BY e.notification_id",
            (before,)).fetchall()
        leaves = conn.execute(
            "SELECT seq, service, originator_id, originator_version, leaf_hash FROM audit.log_leaves "
            "WHERE (originator_id, originator_version) IN (SELECT originator_id, originator_version "
            "FROM registry.registry_events WHERE notification_id > %s) ORDER BY seq", (before,)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(e.originator_id, e.originator_version) for e in events]
    heads: dict[UUID, bytes] = {}
    for originator_id, version, topic, state, recorded_at, prev, digest in rows:
        expected_prev = heads.get(originator_id, bytes.fromhex(GENESIS))
        expected, stamp = reference(expected_prev, str(originator_id), version, topic, bytes(state))
        assert (bytes(prev), bytes(digest)) == (expected_prev, expected)
        assert recorded_at == datetime.fromisoformat(stamp)
        heads[originator_id] = expected
    # One leaf per event, at consecutive positions, in the events' order.
    assert [r[0] for r in leaves] == list(range(leaves[0][0], leaves[0][0] + len(events)))
    assert [(r[1], r[2], r[3]) for r in leaves] == [("registry", r[0], r[1]) for r in rows]
    assert [bytes(r[4]) for r in leaves] == [translog.event_leaf("registry", str(r[0]), r[1], bytes(r[6]))
                                             for r in rows]


# -- reading the notifications a feed pulls --------------------------------------------------------

def test_notifications_are_selected_as_eventsourcing_selects_them(app: Registry) -> None:
    """`HashChainRecorder.select_notifications` (tuple rows, no dataclass `__init__` per
    notification: a feed's pulling thread makes one per event) answers every combination of
    its arguments with the library's notifications, equal and of its class."""
    from eventsourcing.persistence import Notification
    from eventsourcing.postgres import PostgresApplicationRecorder

    for agreement in started(3):
        app.save(agreement)
    recorder = app.recorder
    top = recorder.max_notification_id()
    assert top is not None and top >= 3
    offer_topic = "services.registry.domain.agreement:Agreement.OfferSubmitted"
    topics = [next(iter({n.topic for n in recorder.select_notifications(start=1, limit=1)})), offer_topic]
    for start in (None, 1, top - 2, top, top + 1):
        for stop in (None, top - 1):
            for limit in (1, 2, 10_000):
                for inclusive in (True, False):
                    for picked in ((), topics, [offer_topic]):
                        args = {"start": start, "limit": limit, "stop": stop, "topics": picked,
                                "inclusive_of_start": inclusive}
                        ours = recorder.select_notifications(**args)
                        library = PostgresApplicationRecorder.select_notifications(recorder, **args)
                        assert ours == library, args
                        assert all(type(n) is Notification and type(n.state) is bytes for n in ours)
                        assert [hash(n) for n in ours] == [hash(n) for n in library]
