"""Tamper evidence in PostgreSQL: the hash chain written with every event (and, through
`LogWriter`, the event's leaf in the transparency log).

`HashChainRecorder` is eventsourcing's PostgreSQL application recorder plus one row per
event in `<events table>_chain` (version, recorded_at, prev_hash, hash), inserted in the
same transaction as the event: an event is never stored without its hash. Both tables
refuse UPDATE and DELETE (`shared.db.protect_events_table`); the chain exists to show
when someone with the power to bypass that (a superuser) rewrote history anyway.

Large saves (a legacy import's batches, `BULK_MIN_EVENTS` events or more) take a bulk path:
the same transaction protocol as eventsourcing's insert (table lock, NOTIFY, one commit),
with the events and their links written by binary `COPY` instead of array parameters (rows
packed here with `struct` when the ids are uuids and each aggregate's events come in version
order, the import's case). The mapper (`RecordedVersionMapper`) hands each stored event the
parts of its chain record, so a link is hashed without decoding the bytes just encoded. An
import packs each batch before its transaction (`pack_domain_events`) and has a writer
thread write it (`insert_packed`) while it packs the next.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from json import encoder as json_encoder
from operator import attrgetter
from typing import Any, TypeVar
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    Mapper,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import Cursor
from psycopg.pq import Format
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier
from psycopg.types.string import BytesBinaryDumper

from shared.audit.chain import (
    GENESIS,
    RecordError,
    chain_hash,
    event_type,
    record_of,
)
from shared.audit.log_store import COPY_HEADER, COPY_TRAILER, Columns, LogWriter
from shared.audit.translog import trusted_leaf

# A save of at least this many events is written by COPY (one round trip per table instead
# of adapting every row as an array parameter); smaller ones keep eventsourcing's pipeline.
BULK_MIN_EVENTS = 200
# ... and so is a save whose states together hold this many bytes or more: eventsourcing's
# pipeline (psycopg pipeline mode) can wait forever on a large batch (psycopg#685: here 50
# states of 200 KB hung every time), holding the events table's lock; COPY streams them.
BULK_MIN_BYTES = 256 * 1024

# Binary COPY rows (`_pack_linked`): an event's first two fields (uuid, int8), a length, a
# chain row (uuid, int8, timestamptz, bytea(32), bytea(32)); events sent in blocks of this size.
_EVENT_HEAD = struct.Struct(">hi16siq")
_LENGTH = struct.Struct(">i")
_CHAIN_ROW = struct.Struct(">hi16siqi8si32si32s")
_COPY_BLOCK = 128 * 1024

# An originator id: a uuid, or text (eventsourcing's `originator_id_type`).
_Id = UUID | str
# A chain row (originator id, version, recorded_at, previous hash, hash), and the rows' columns.
_ChainRow = tuple[_Id, int, datetime, bytes, bytes]
_ChainColumns = tuple[list[_Id], list[int], list[datetime], list[bytes], list[bytes]]
# What an insert returns: eventsourcing's notification ids (`insert_events`), or a list.
_Ids = TypeVar("_Ids", bound=Sequence[int] | None)


class _NotPlain(ValueError):
    """A stored state the fast hashing path leaves to the reference one (it holds a float)."""


def _refuse_float(_: str) -> Any:
    raise _NotPlain


_DECODE_STATE = msgspec.json.Decoder(float_hook=_refuse_float)
_EVENT_TYPES: dict[str, str] = {}  # topic -> its short name (a few dozen event classes)
_ENCODE_CANONICAL = msgspec.json.Encoder(order="sorted")


def link_hash(prev: bytes, originator: str, version: int, topic: str, state: bytes) -> tuple[bytes, str]:
    """One new event's hash and its `recorded_at`: exactly `chain_hash(prev, record_of(...,
    strict=False))` (`shared.audit.chain`), computed with msgspec, several times faster than
    the json module. msgspec's sorted compact JSON is byte for byte `canonical_json` for the
    values decoded here (strings, integers, booleans, null, arrays, objects; tests check it
    over every code point); a state with a float, or anything else out of the ordinary,
    takes the reference path (which also raises its `RecordError`s)."""
    try:
        stored = _DECODE_STATE.decode(state)
    except (msgspec.MsgspecError, ValueError):
        stored = None
    stamp = stored.pop("timestamp", None) if type(stored) is dict else None
    if type(stamp) is dict and stamp.get("_type_") == "datetime_iso" and stamp.keys() == {"_type_", "_data_"}:
        stamp = stamp["_data_"]
    if type(stamp) is not str:
        record = record_of(originator, version, topic, state, strict=False)
        return bytes.fromhex(chain_hash(prev.hex(), record)), record["recorded_at"]
    kind = _EVENT_TYPES.get(topic)
    if kind is None:
        kind = _EVENT_TYPES[topic] = event_type(topic)
    record = {
        "originator": originator,
        "version": int(version),
        "type": kind,
        "topic": topic,
        "recorded_at": stamp,
        "actor": stored.pop("actor", None),
        "data": stored,
        "state_sha256": hashlib.sha256(state).hexdigest(),
    }
    return hashlib.sha256(prev + _ENCODE_CANONICAL.encode(record)).digest(), stamp


def _link(prev: bytes, name: str, event: StoredEvent) -> tuple[bytes, str]:
    """`link_hash` of a stored event; from the record's parts the mapper kept when it has
    them (the same record: they are the values `json.loads` reads from the stored bytes)."""
    parts = event.__dict__.get(_RECORD_PARTS)
    if parts is None:
        return link_hash(prev, name, event.originator_version, event.topic, event.state)
    stamp, actor, data = parts
    topic = event.topic
    kind = _EVENT_TYPES.get(topic)
    if kind is None:
        kind = _EVENT_TYPES[topic] = event_type(topic)
    record = {"originator": name, "version": int(event.originator_version), "type": kind, "topic": topic,
              "recorded_at": stamp, "actor": actor, "data": data,
              "state_sha256": hashlib.sha256(event.state).hexdigest()}
    return hashlib.sha256(prev + _ENCODE_CANONICAL.encode(record)).digest(), stamp


def _compact_json(transcoder: Any) -> Callable[[Any], bytes] | None:
    """eventsourcing's `JSONTranscoder.encode` without its set-up on every call (the json
    module builds a new C encoder per `encode`): the same C encoder with the same options,
    built once, so the same bytes. None when the transcoder is another kind."""
    make = getattr(json_encoder, "c_make_encoder", None)  # (None without the C accelerator)
    encoder = getattr(transcoder, "encoder", None)
    if type(transcoder) is not JSONTranscoder or make is None or type(encoder) is not json.JSONEncoder:
        return None
    indent: int | str | None = encoder.indent  # (typeshed leaves out its default, None)
    if (indent, encoder.key_separator, encoder.item_separator, encoder.sort_keys, encoder.skipkeys,
            encoder.ensure_ascii) != (None, ":", ",", False, False, False):
        return None
    # No `markers` (circular check): event states are trees.
    iterencode = make(None, encoder.default, json_encoder.encode_basestring, None, ":", ",", False, False,
                      encoder.allow_nan)

    def encode(obj: Any) -> bytes:
        return "".join(iterencode(obj, 0)).encode("utf8")

    return encode


# What the mapper's fast path accepts once the top-level values of registered types are
# transcoded: JSON's own values (strings, integers, booleans, null; no float, whose text
# msgspec may write differently), in arrays and objects with string keys, 8 levels deep.
# msgspec checks it in C (`msgspec.convert`, strict) and returns a copy with arrays as lists:
# the very values `json.loads` reads back from the stored bytes.
_JSONValue: Any = str | int | bool | None
for _ in range(8):
    _JSONValue = str | int | bool | None | list[_JSONValue] | dict[str, _JSONValue]


class _PlainState(msgspec.Struct):
    state: dict[str, _JSONValue]


_PLAIN_TOP = frozenset({str, int, bool, type(None), dict, list, tuple})
_ENCODE_STORED = msgspec.json.Encoder()
_ENCODE_FAILED = (msgspec.MsgspecError, TypeError, ValueError, OverflowError)
# Set by the mapper on a StoredEvent it encoded by the fast path: (recorded_at, actor, data),
# the parts of the event's chain record (`shared.audit.chain.record_of`) taken from the
# values just encoded, so that hashing the link needs no decoding of the stored bytes.
_RECORD_PARTS = "_ksd_record_parts"
_RecordParts = tuple[str, Any, dict[str, Any]]
# An event as the bulk path packs it: originator id, version, topic, state, record parts.
_StoredParts = tuple[Any, int, str, bytes, _RecordParts | None]


class RecordedVersionMapper(Mapper[_Id]):
    """eventsourcing's mapper, but every stored event carries its `class_version` (the
    library writes it only from version 2): a record says which schema it was written in.

    Fast path (the library's JSON transcoder, no compression, no cipher): the values of
    registered types at the top level are transcoded here (`{"_type_", "_data_"}`, as the
    transcoder does), msgspec checks everything else is plain JSON and encodes it, byte for
    byte what the transcoder's json encoder writes (msgspec escapes strings as json does with
    `ensure_ascii=False`; tests compare every code point). Anything else (a float, a value of a
    registered type deeper down, an unregistered type) takes the json module's path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encode = _compact_json(self.transcoder) or self.transcoder.encode
        transcoder = self.transcoder
        self._transcodings = (transcoder.types if type(transcoder) is JSONTranscoder and not self.compressor
                              and not self.cipher else None)
        self._stamp: tuple[Any, Any] = (object(), None)  # the last timestamp seen, transcoded

    def _plain(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """`state` as plain JSON values (a copy) once its top-level values of registered types
        are transcoded in place; None when it is not plain JSON then (the json path's case)."""
        # Every event has its timestamp (a batch's events mostly the same object): transcoded
        # first, then the rest is checked in C; only a state with other values to transcode
        # pays for a look at each of its values.
        transcodings = self._transcodings
        if transcodings is None:  # (not the fast path's mapper)
            return None
        stamp = state.get("timestamp")
        cached = self._stamp
        if cached[0] is stamp:
            state["timestamp"] = cached[1]
        else:
            transcoding = transcodings.get(type(stamp))
            if transcoding is not None:
                state["timestamp"] = encoded = {"_type_": transcoding.name, "_data_": transcoding.encode(stamp)}
                self._stamp = (stamp, encoded)
        try:
            return msgspec.convert({"state": state}, _PlainState, strict=True).state
        except msgspec.ValidationError:
            pass
        except _ENCODE_FAILED:
            return None
        for key, value in state.items():
            kind = type(value)
            if kind in _PLAIN_TOP:
                continue
            transcoding = transcodings.get(kind)
            if transcoding is None:
                return None
            state[key] = {"_type_": transcoding.name, "_data_": transcoding.encode(value)}
        try:
            return msgspec.convert({"state": state}, _PlainState, strict=True).state
        except _ENCODE_FAILED:
            return None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        originator_id, originator_version, topic, stored, parts = self.stored_parts(domain_event)
        event = StoredEvent(originator_id, originator_version, topic, stored)
        if parts is not None:
            # A frozen dataclass, with a __dict__: the record's parts ride along.
            object.__setattr__(event, _RECORD_PARTS, parts)
        return event

    def stored_parts(self, domain_event: Any) -> _StoredParts:
        """What `to_stored_event` stores, as a tuple: the originator id, version, topic and
        state, and the parts of the event's chain record (`recorded_at`, actor, data) when
        the fast path encoded it (else None). The bulk path packs these, no `StoredEvent`."""
        cls = type(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state["class_version"] = getattr(cls, "class_version", 1)
        plain = None if self._transcodings is None else self._plain(state)
        if plain is not None:
            try:
                stored = _ENCODE_STORED.encode(plain)
            except _ENCODE_FAILED:
                stored = None
            if stored is not None:
                stamp = plain.pop("timestamp", None)
                if type(stamp) is dict and len(stamp) == 2 and stamp.get("_type_") == "datetime_iso":
                    stamp = stamp.get("_data_")
                # (without a string `recorded_at`, `link_hash` reads the bytes, and refuses them)
                parts = (stamp, plain.pop("actor", None), plain) if type(stamp) is str else None
                return originator_id, originator_version, get_topic(cls), stored, parts
        stored = self._encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return originator_id, originator_version, get_topic(cls), stored, None


_TIMESTAMPTZ = psycopg.adapters.get_dumper_by_oid(psycopg.adapters.types["timestamptz"].oid, Format.BINARY)(datetime)


def _moment_bytes(recorded_at: str) -> bytes:
    """A `recorded_at` as COPY's binary `timestamptz`, by psycopg's own dumper (it needs no
    connection: the value is microseconds since 2000-01-01 UTC)."""
    dumped = _TIMESTAMPTZ.dump(datetime.fromisoformat(recorded_at))
    if dumped is None:  # (a dumper's None is SQL NULL: never for a datetime)
        raise ProgrammingError(f"recorded_at {recorded_at!r} dumped as NULL")
    return bytes(dumped)


@dataclass(frozen=True)
class PackedEvents:
    """Domain events ready to append (`HashChainRecorder.pack_domain_events`): with `rows`,
    their COPY data (the events' blocks, the chain's rows, the log's leaves) and each
    aggregate's new head; without, they take `insert_events` when inserted."""

    events: Sequence[Any]
    mapper: Mapper[Any]
    rows: tuple[list[bytearray], bytearray, list[tuple[bytes, int, bytes]], list[tuple[_Id, int, bytes]]] | None

    def stored(self) -> list[StoredEvent]:
        return [self.mapper.to_stored_event(e) for e in self.events]


def _parts_of(stored_events: Iterable[StoredEvent]) -> Iterator[_StoredParts]:
    """Stored events as the bulk path packs them (with the record parts the mapper kept)."""
    for e in stored_events:
        yield e.originator_id, e.originator_version, e.topic, e.state, e.__dict__.get(_RECORD_PARTS)


class HashChainRecorder(PostgresApplicationRecorder):
    """Writes each event's link of the hash chain in the event's own transaction."""

    _HEADS_CACHED = 20_000

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(self.chain_table_name)
        ident = {"schema": Identifier(datastore.schema), "chain": Identifier(self.chain_table_name),
                 "events": Identifier(events_table_name)}
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "recorded_at timestamptz NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL, "
                "PRIMARY KEY (originator_id, originator_version))"
            ).format(**ident)
        )
        self._insert_chain = SQL(
            "INSERT INTO {schema}.{chain} (originator_id, originator_version, recorded_at, prev_hash, hash) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[], %s::bytea[], %s::bytea[])"
        ).format(**ident)
        self._select_prev = SQL(
            "SELECT c.originator_id, c.hash FROM {schema}.{chain} c "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS w(id, version) "
            "ON c.originator_id = w.id AND c.originator_version = w.version"
        ).format(**ident)
        self._select_chain = SQL(
            "SELECT originator_id, coalesce(e.originator_version, c.originator_version) AS version, e.topic, "
            "e.state, c.prev_hash, c.hash, c.recorded_at "
            "FROM (SELECT * FROM {schema}.{events} WHERE originator_id = ANY(%(ids)s)) e "
            "FULL JOIN (SELECT * FROM {schema}.{chain} WHERE originator_id = ANY(%(ids)s)) c "
            "USING (originator_id, originator_version) ORDER BY 1, 2"
        ).format(**ident)
        self._select_version_at = SQL(
            "SELECT max(originator_version) AS version FROM {schema}.{chain} "
            "WHERE originator_id = %s AND recorded_at <= %s"
        ).format(**ident)
        self._heads: OrderedDict[_Id, tuple[int, bytes]] = OrderedDict()
        self._heads_lock = threading.Lock()
        # Per saving thread: the links computed before the lock, inserted after the events.
        self._pending: dict[int, tuple[list[tuple[_Id, int, bytes]], _ChainColumns | tuple[()]]] = {}
        # Per saving thread: how many attempts of the current insert reached the database
        # (eventsourcing retries an insert whose connection failed, up to ten times).
        self._attempts: dict[int, int] = {}
        # The transparency log (shared.audit.log_store): every event's leaf, appended in its
        # transaction; per saving thread, the leaves computed before the lock.
        self._log = LogWriter(datastore.schema)
        self._log_pending: dict[int, Columns] = {}
        self._max_notification_id = SQL(
            "SELECT coalesce(max(notification_id), 0) AS last FROM {schema}.{events}"
        ).format(**ident)
        # eventsourcing's table lock (with its timeout) and NOTIFY: one simple query, one
        # round trip (it has no parameters).
        self._lock_and_notify = SQL("; ").join([*self.lock_table_statements,
                                                SQL("NOTIFY {0}").format(Identifier(self.channel_name))])
        self._copy_stored = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(**ident)
        self._copy_chain = SQL(
            "COPY {schema}.{chain} (originator_id, originator_version, recorded_at, prev_hash, hash) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**ident)
        self._new_ids_range = SQL(
            "SELECT count(*) AS n, min(notification_id) AS first, max(notification_id) AS last "
            "FROM {schema}.{events} WHERE notification_id > %s"
        ).format(**ident)
        self._select_new_ids = SQL(
            "SELECT notification_id FROM {schema}.{events} WHERE notification_id > %s ORDER BY notification_id"
        ).format(**ident)
        self._select_events_of = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{events}"
            " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(**ident)
        self._select_stored = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.notification_id "
            "FROM {schema}.{events} e JOIN unnest(%s::uuid[], %s::bigint[]) AS w(id, version) "
            "ON e.originator_id = w.id AND e.originator_version = w.version"
        ).format(**ident)

    # -- writing -----------------------------------------------------------------------

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # (eventsourcing passes `tracking=None` for an application's own saves; a process
        # application's tracking record keeps the library's path.)
        bulk = (len(stored_events) >= BULK_MIN_EVENTS or sum(len(e.state) for e in stored_events) >= BULK_MIN_BYTES
                ) and not any(v is not None for v in kwargs.values())
        if bulk:
            return self._inserted(lambda: self._copy_events(stored_events), lambda: stored_events)
        return self._inserted(lambda: super(HashChainRecorder, self).insert_events(stored_events, **kwargs),
                              lambda: stored_events)

    def pack_domain_events(self, domain_events: Sequence[Any], mapper: Mapper[Any]) -> PackedEvents:
        """The CPU work of appending domain events not yet mapped (a legacy import's batch),
        done before and outside their transaction: each event mapped by `mapper`, its link
        hashed and its rows packed in COPY's binary format (`_pack_linked`). `insert_packed`
        then writes them; meanwhile the caller may pack its next batch (the server stores one
        batch while Python packs the next). Events the packed path does not take (a small
        batch, text ids, an aggregate's events out of version order, an aggregate whose
        previous head is neither the genesis nor cached) are mapped at the insert, which takes
        the other paths: packing needs no connection (the caller's writer may hold the only
        one). A cached head that moves before the insert (another save of the same aggregate)
        makes the insert fail on its version, as any conflict."""
        if len(domain_events) >= BULK_MIN_EVENTS and self.datastore.originator_id_type == "uuid":
            by_aggregate, heads, in_order = self._previous_heads(None, domain_events)
            if in_order and len(heads) == len(by_aggregate):
                blocks: list[bytearray] = []
                if isinstance(mapper, RecordedVersionMapper):
                    parts: Iterable[_StoredParts] = map(mapper.stored_parts, domain_events)
                else:
                    parts = _parts_of(map(mapper.to_stored_event, domain_events))
                chain, leaf_rows = self._pack_linked(parts, heads, blocks.append, _moment_bytes)
                links = [(i, events[-1].originator_version, heads[i]) for i, events in by_aggregate.items()]
                return PackedEvents(domain_events, mapper, (blocks, chain, leaf_rows, links))
        return PackedEvents(domain_events, mapper, None)

    def insert_packed(self, packed: PackedEvents) -> None:
        """Write what `pack_domain_events` packed, in one transaction (otherwise exactly
        `insert_events`, but the notification ids are not read back). A version already
        stored raises eventsourcing's IntegrityError and nothing is written."""
        if packed.rows is None:
            self.insert_events(packed.stored())
        else:
            self._inserted(lambda: self._copy_packed(packed), packed.stored)

    def _inserted(self, insert: Callable[[], _Ids],
                  stored: Callable[[], Sequence[StoredEvent]]) -> _Ids | list[int]:
        me = threading.get_ident()
        self._attempts[me] = 0
        ids: _Ids | list[int] | None
        links: list[tuple[_Id, int, bytes]]
        try:
            try:
                ids = insert()
            except IntegrityError:
                # A retry after a connection lost at commit: the commit may have happened
                # (the server had it, the acknowledgement was lost). Then these very events
                # are stored, and the save succeeded; anything else is a real conflict.
                if self._attempts.get(me, 0) < 2 or (ids := self._already_stored(stored())) is None:
                    raise
                links = []  # the heads are looked up at the next save
            else:
                links = self._pending.get(me, ([], ()))[0]
        finally:
            self._pending.pop(me, None)
            self._log_pending.pop(me, None)
            self._attempts.pop(me, None)
        # Committed: remember each aggregate's head, so its next save needs no lookup.
        with self._heads_lock:
            for originator_id, version, digest in links:
                self._heads[originator_id] = (version, digest)
                self._heads.move_to_end(originator_id)
            while len(self._heads) > self._HEADS_CACHED:
                self._heads.popitem(last=False)
        return ids

    def _already_stored(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of `stored_events` when exactly they (same topic and state) are
        in the store already, else None."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_stored, ([e.originator_id for e in stored_events],
                                               [e.originator_version for e in stored_events]), prepare=False)
            found = {(r["originator_id"], r["originator_version"]): r for r in curs.fetchall()}
        ids = []
        for e in stored_events:
            row = found.get((e.originator_id, e.originator_version))
            if row is None or row["topic"] != e.topic or bytes(row["state"]) != bytes(e.state):
                return None
            ids.append(row["notification_id"])
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _copy_events(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The bulk path: eventsourcing's protocol (previous hashes looked up first, then
        `LOCK TABLE ... IN EXCLUSIVE MODE` with its lock timeout, NOTIFY, insert, one commit),
        the events and their links written by binary COPY. Each link is hashed as its event
        is written, so the server stores rows while Python hashes the next ones. A version
        already stored fails the COPY's primary key, which the datastore raises as
        eventsourcing's IntegrityError, and nothing is written."""
        me = threading.get_ident()
        self._attempts[me] = self._attempts.get(me, 0) + 1
        id_type = self.datastore.originator_id_type
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # bytea by psycopg's C dumper (the default for the oid is the DB-API `Binary`
            # wrapper's, in Python): this cursor only.
            curs.adapters.register_dumper(bytes, BytesBinaryDumper)
            by_aggregate, heads, in_order = self._previous_heads(curs, stored_events)
            packed = in_order and id_type == "uuid"
            if not in_order:  # an aggregate's events out of version order: link them sorted, first
                links, columns = self._links(curs, stored_events)
                chain_rows = list(zip(*columns, strict=True))
                leaves = self._log.leaves_in_store_order(stored_events, chain_rows)
            last = self._lock_for_copy(curs)
            # The usual case (uuid ids, each aggregate's events in version order): the rows
            # packed in COPY's binary format here, each link hashed as its event is packed.
            with curs.copy(self._copy_stored) as copy:
                if packed:
                    chain, leaf_rows = self._pack_linked(_parts_of(stored_events), heads, copy.write, _moment_bytes)
                    links = [(i, events[-1].originator_version, heads[i]) for i, events in by_aggregate.items()]
                else:
                    copy.set_types([id_type, "int8", "text", "bytea"])
                    write = copy.write_row
                    if in_order:
                        chain_rows = self._link_rows(stored_events, heads, write)
                        links = [(i, events[-1].originator_version, heads[i]) for i, events in by_aggregate.items()]
                        leaves = self._log.leaves(chain_rows)  # the log's, while the server stores the events
                    else:
                        for e in stored_events:
                            write((e.originator_id, e.originator_version, e.topic, e.state))
            with curs.copy(self._copy_chain) as copy:
                if packed:
                    copy.write(chain)
                else:
                    copy.set_types([id_type, "int8", "timestamptz", "bytea", "bytea"])
                    write = copy.write_row
                    for row in chain_rows:
                        write(row)
            # The events' leaves of the transparency log, in the order the events were stored.
            if packed:
                self._log.copy_packed(curs, leaf_rows)
            else:
                self._log.copy(curs, leaves, id_type)
            self._pending[me] = (links, ())
            return self._new_ids(curs, last, len(stored_events))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _copy_packed(self, packed: PackedEvents) -> None:
        """`_copy_events` for rows `pack_domain_events` packed: under the lock only the
        writing of the bytes, in as few round trips as it takes (the caller packs its next
        batch meanwhile, and each answer waits for the GIL)."""
        if packed.rows is None:
            raise ProgrammingError("these events were not packed")
        blocks, chain, leaf_rows, links = packed.rows
        me = threading.get_ident()
        self._attempts[me] = self._attempts.get(me, 0) + 1
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(self._lock_and_notify, prepare=False)
            with curs.copy(self._copy_stored) as copy:
                for block in blocks:
                    copy.write(block)
            with curs.copy(self._copy_chain) as copy:
                copy.write(chain)
            self._log.copy_packed(curs, leaf_rows)
            self._pending[me] = (links, ())

    def _lock_for_copy(self, curs: Cursor[DictRow]) -> int:
        """eventsourcing's table lock and NOTIFY, then the highest notification id: under the
        lock no other writer takes notification ids, so this save's ids are those above it, in
        COPY's row order (the order given, as eventsourcing's insert)."""
        curs.execute(self._lock_and_notify, prepare=False)
        curs.execute(self._max_notification_id, prepare=False)
        top = curs.fetchone()
        if top is None:  # (max() answers one row, even over no rows)
            raise ProgrammingError("bulk insert: no highest notification id")
        last: int = top["last"]
        return last

    def _new_ids(self, curs: Cursor[DictRow], last: int, n: int) -> list[int]:
        """The notification ids of the `n` events just copied, all above `last`, in row order:
        when they are consecutive numbers (nothing else advanced the sequence meanwhile), they
        need not be read back."""
        curs.execute(self._new_ids_range, (last,), prepare=False)
        span = curs.fetchone()
        if span is not None and span["n"] == n and span["last"] - span["first"] + 1 == n:
            return list(range(span["first"], span["last"] + 1))
        curs.execute(self._select_new_ids, (last,), prepare=False)
        ids = [r["notification_id"] for r in curs.fetchall()]
        if len(ids) != n:
            raise ProgrammingError(f"bulk insert: {len(ids)} notification ids for {n} events")
        return ids

    def _pack_linked(
        self, stored_events: Iterable[_StoredParts], heads: dict[_Id, bytes], write: Callable[[bytearray], Any],
        moment_bytes: Callable[[str], bytes],
    ) -> tuple[bytearray, list[tuple[bytes, int, bytes]]]:
        """`_link_rows` for uuid ids, in PostgreSQL's binary COPY format (header, rows of
        (field count, then each field's length and bytes), trailer), built with `struct`
        rather than psycopg's per-row adaptation: the events' rows are handed to `write` in
        blocks as they are packed, and the server stores them while the next are hashed.
        Returns the chain table's whole COPY data and the transparency log's rows for
        `LogWriter.copy_packed`; leaves in `heads` each aggregate's new head. The events come
        as the mapper's `stored_parts` (`_parts_of` makes them of stored events)."""
        pack_event, pack_length, pack_chain = _EVENT_HEAD.pack, _LENGTH.pack, _CHAIN_ROW.pack
        service, leaf = self._log.service, trusted_leaf
        keys: dict[_Id, tuple[str, bytes]] = {}
        stamps: dict[str, bytes] = {}  # a batch's events mostly share their moment
        topics: dict[str, tuple[bytes, str]] = {}  # topic -> its COPY field, its event type
        events = bytearray(COPY_HEADER)
        chain = bytearray(COPY_HEADER)
        leaf_rows: list[tuple[bytes, int, bytes]] = []
        sha256, canonical = hashlib.sha256, _ENCODE_CANONICAL.encode
        last: Any = None
        digest = b""
        for originator_id, version, topic, state, parts in stored_events:
            if originator_id is not last:  # an aggregate's events mostly come together
                if last is not None:
                    heads[last] = digest
                last, digest = originator_id, heads[originator_id]
                key = keys.get(originator_id)
                if key is None:
                    if len(digest) != 32:  # (`struct` would pad or cut it without a word)
                        raise ProgrammingError(f"hash chain head of {originator_id} is not a SHA-256 hash")
                    name = str(originator_id)
                    key = keys[originator_id] = (name, UUID(name).bytes)
                name, raw_id = key
            prev = digest
            known = topics.get(topic)
            if known is None:
                encoded = topic.encode()
                known = topics[topic] = (pack_length(len(encoded)) + encoded, event_type(topic))
            field, kind = known
            # `_link`, inline (the loop's largest share of work).
            if parts is None:
                digest, recorded_at = link_hash(prev, name, version, topic, state)
            else:
                recorded_at, actor, data = parts
                digest = sha256(prev + canonical({
                    "originator": name, "version": int(version), "type": kind, "topic": topic,
                    "recorded_at": recorded_at, "actor": actor, "data": data,
                    "state_sha256": sha256(state).hexdigest()})).digest()
            moment = stamps.get(recorded_at)
            if moment is None:
                moment = stamps[recorded_at] = moment_bytes(recorded_at)
            events += pack_event(4, 16, raw_id, 8, version)
            events += field
            events += pack_length(len(state))
            events += state
            if len(events) > _COPY_BLOCK:
                write(events)
                events = bytearray()
            chain += pack_chain(5, 16, raw_id, 8, version, 8, moment, 32, prev, 32, digest)
            # The event's leaf of the transparency log (its position comes after the COPY).
            leaf_rows.append((raw_id, version, leaf(service, name, version, digest)))
        if last is not None:
            heads[last] = digest
        events += COPY_TRAILER
        write(events)
        chain += COPY_TRAILER
        return chain, leaf_rows

    @staticmethod
    def _link_rows(
        stored_events: Sequence[StoredEvent], heads: dict[_Id, bytes], write: Callable[[tuple[Any, ...]], Any]
    ) -> list[_ChainRow]:
        """Hash each event's link in the order given (every aggregate's events in version
        order), handing each event to `write` as it goes; returns the chain rows, and leaves
        in `heads` each aggregate's new head."""
        rows: list[_ChainRow] = []
        names: dict[_Id, str] = {}
        parsed: dict[str, datetime] = {}  # a batch's events mostly share their moment
        for e in stored_events:
            originator_id, version = e.originator_id, e.originator_version
            prev = heads[originator_id]
            name = names.get(originator_id)
            if name is None:
                name = names[originator_id] = str(originator_id)
            digest, recorded_at = _link(prev, name, e)
            heads[originator_id] = digest
            moment = parsed.get(recorded_at)
            if moment is None:
                moment = parsed[recorded_at] = datetime.fromisoformat(recorded_at)
            rows.append((originator_id, version, moment, prev, digest))
            write((originator_id, version, e.topic, e.state))
        return rows

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        me = threading.get_ident()
        self._attempts[me] = self._attempts.get(me, 0) + 1
        # In the insert's transaction, before the table lock: previous hashes are
        # committed and never change, so looking them up need not hold other writers.
        self._pending[me] = links = self._links(curs, stored_events)
        ids, versions, _moments, _prevs, digests = links[1]
        self._log_pending[me] = self._log.leaves_in_store_order(stored_events,
                                                                zip(ids, versions, digests, strict=True))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # A nested pipeline block syncs when it ends: a version already stored is raised here
        # as the events' unique violation (eventsourcing's IntegrityError: a 409), before the
        # statements below are queued. Queued behind a failed insert, they would be skipped by
        # the server and could surface first as "pipeline aborted", an OperationalError that
        # eventsourcing retries ten times and a caller answers with 503.
        with curs.connection.pipeline():
            super()._insert_stored_events(curs, stored_events, **kwargs)
        # Its own cursor: the events' cursor still holds their notification ids. Never a
        # prepared statement: when the events' insert fails (a version conflict), the
        # pipeline skips this statement's PREPARE, yet psycopg would count it as prepared
        # and the connection's next save would fail ("prepared statement does not exist").
        with curs.connection.cursor() as chain:
            chain.execute(self._insert_chain, self._pending[threading.get_ident()][1], prepare=False)
            # The events' leaves, at the log's next positions (one statement, same transaction).
            self._log.append(chain, self._log_pending[threading.get_ident()])

    def _previous_heads(
        self, curs: Cursor[DictRow] | None, stored_events: Sequence[StoredEvent]
    ) -> tuple[dict[_Id, list[StoredEvent]], dict[_Id, bytes], bool]:
        """Each aggregate's events (in version order) and the hash its first new event links
        to, from the genesis, the cache or one query; and whether `stored_events` already
        gives every aggregate's events in version order. Without a cursor, no query: the heads
        neither the genesis nor the cache gives are left out."""
        by_aggregate: dict[_Id, list[StoredEvent]] = {}
        last: Any = None
        events: list[StoredEvent] = []
        for e in stored_events:
            if e.originator_id is not last:  # an aggregate's events mostly come together
                last = e.originator_id
                known = by_aggregate.get(last)
                if known is None:
                    known = by_aggregate[last] = []
                events = known
            events.append(e)
        in_order = True
        heads: dict[_Id, bytes] = {}
        wanted: list[tuple[_Id, int]] = []
        genesis = bytes.fromhex(GENESIS)
        with self._heads_lock:
            for originator_id, events in by_aggregate.items():
                if len(events) > 1 and any(a.originator_version > b.originator_version
                                           for a, b in pairwise(events)):
                    events.sort(key=attrgetter("originator_version"))
                    in_order = False
                first = events[0].originator_version
                if first == 1:
                    heads[originator_id] = genesis
                    continue
                cached = self._heads.get(originator_id)
                if cached is not None and cached[0] == first - 1:
                    heads[originator_id] = cached[1]
                else:
                    wanted.append((originator_id, first - 1))
        if wanted and curs is not None:
            curs.execute(self._select_prev, ([w[0] for w in wanted], [w[1] for w in wanted]), prepare=False)
            for row in curs.fetchall():
                heads[row["originator_id"]] = bytes(row["hash"])
            lost = [w for w in wanted if w[0] not in heads]
            if lost:
                raise ProgrammingError(
                    f"hash chain has no link for {lost[0][0]} version {lost[0][1]}: run `ksd migrate`"
                )
        return by_aggregate, heads, in_order

    def _links(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> tuple[list[tuple[_Id, int, bytes]], _ChainColumns]:
        """Compute every new event's link; the previous head comes from the cache or one query.
        Returns each aggregate's new head (id, version, hash) and the chain rows' columns."""
        by_aggregate, heads, _ = self._previous_heads(curs, stored_events)
        columns: _ChainColumns = ([], [], [], [], [])
        ids, versions, moments, prevs, digests = columns
        links: list[tuple[_Id, int, bytes]] = []
        parsed: dict[str, datetime] = {}  # a batch's events mostly share their moment
        for originator_id, events in by_aggregate.items():
            name = str(originator_id)
            digest = heads[originator_id]
            for e in events:
                prev = digest
                digest, recorded_at = _link(prev, name, e)
                moment = parsed.get(recorded_at)
                if moment is None:
                    moment = parsed[recorded_at] = datetime.fromisoformat(recorded_at)
                ids.append(originator_id)
                versions.append(e.originator_version)
                moments.append(moment)
                prevs.append(prev)
                digests.append(digest)
            links.append((originator_id, events[-1].originator_version, digest))
        return links, columns

    def backfill(self) -> int:
        """Link events stored before the chain existed (a migration; idempotent). Returns
        how many were linked. Events recorded since are linked as they are written."""
        ident = {"schema": Identifier(self.datastore.schema), "chain": Identifier(self.chain_table_name),
                 "events": Identifier(self.events_table_name)}
        unlinked = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {schema}.{events} e "
            "LEFT JOIN {schema}.{chain} c USING (originator_id, originator_version) "
            "WHERE c.originator_id IS NULL ORDER BY e.originator_id, e.originator_version"
        ).format(**ident)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE").format(**ident))
            curs.execute(unlinked)
            events = [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                      for r in curs.fetchall()]
            if events:
                _, columns = self._links(curs, events)
                curs.execute(self._insert_chain, columns)
        return len(events)

    # -- reading -----------------------------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        """eventsourcing's query (a feed's subscription pulls 500 at a time with it), its rows
        read as tuples and each notification made without the frozen dataclass's `__init__`
        (an `object.__setattr__` a field): the library's way was a sixth of a rebuild's Python
        time, in the pulling thread."""
        where: list[SQL] = []
        params: list[Any] = []
        if start is not None:
            where.append(SQL("notification_id >= %s" if inclusive_of_start else "notification_id > %s"))
            params.append(start)
        if stop is not None:
            where.append(SQL("notification_id <= %s"))
            params.append(stop)
        if topics:
            where.append(SQL("topic = ANY(%s)"))
            params.append(list(topics))
        params.append(limit)
        statement = SQL("SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}{}"
                        " ORDER BY notification_id LIMIT %s").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name),
            SQL(" WHERE ") + SQL(" AND ").join(where) if where else SQL(""))
        new, cls = object.__new__, Notification
        notifications: list[Notification] = []
        keep = notifications.append
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            for notification_id, originator_id, version, topic, state in curs.fetchall():
                notification = new(cls)
                notification.__dict__.update(id=notification_id, originator_id=originator_id,
                                             originator_version=version, topic=topic, state=state)
                keep(notification)
        return notifications


    def chain_entries(self, originator_id: UUID, curs: Cursor[DictRow] | None = None) -> list[dict[str, Any]]:
        """Every stored event of one aggregate with its link, in version order, as
        `chain.check_chain` reads them. A damaged event becomes an entry with an error.
        `curs`: read in the caller's transaction (a second connection from a small pool may
        never come while the caller holds the first)."""
        return self.chain_entries_of([originator_id], curs).get(originator_id, [])

    def stored_events_of(self, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """The stored events of several aggregates, each's in version order, in one query (a
        page of a list read as on a past day); an aggregate without any is absent."""
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_events_of, (list(originator_ids),))
            for row in curs.fetchall():
                found.setdefault(row["originator_id"], []).append(StoredEvent(
                    originator_id=row["originator_id"], originator_version=row["originator_version"],
                    topic=row["topic"], state=bytes(row["state"])))
        return found

    def chain_entries_of(self, originator_ids: Sequence[UUID],
                         curs: Cursor[DictRow] | None = None) -> dict[UUID, list[dict[str, Any]]]:
        """`chain_entries` of several aggregates, in one query (a page of a list asking for
        each one's history); an aggregate without any is absent."""
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self._chain_entries_of(originator_ids, own)
        return self._chain_entries_of(originator_ids, curs)

    def _chain_entries_of(self, originator_ids: Sequence[UUID],
                          curs: Cursor[DictRow]) -> dict[UUID, list[dict[str, Any]]]:
        curs.execute(self._select_chain, {"ids": list(originator_ids)})
        found: dict[UUID, list[dict[str, Any]]] = {}
        for row in curs.fetchall():
            originator_id = row["originator_id"]
            entry: dict[str, Any] = {
                "version": row["version"],
                "prev_hash": bytes(row["prev_hash"]).hex() if row["prev_hash"] is not None else None,
                "hash": bytes(row["hash"]).hex() if row["hash"] is not None else None,
                "recorded_at": row["recorded_at"],
            }
            if row["state"] is None:
                entry["error"] = "event missing: its hash is recorded, the event is gone"
                entry["reason"] = "missing"
            elif row["hash"] is None:
                entry["error"] = "no hash was recorded for this event"
            else:
                try:
                    record = record_of(str(originator_id), row["version"], row["topic"], bytes(row["state"]))
                    if datetime.fromisoformat(record["recorded_at"]) != row["recorded_at"]:
                        # as_of reads the chain's time: it must be the event's own.
                        raise RecordError("the chain's recorded_at differs from the event's timestamp")
                    entry["record"] = record
                except (RecordError, ValueError) as exc:
                    entry["error"] = str(exc)
            found.setdefault(originator_id, []).append(entry)
        return found

    def version_at(self, originator_id: UUID, moment: datetime) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_version_at, (originator_id, moment))
            row = curs.fetchone()
        return row["version"] if row else None
