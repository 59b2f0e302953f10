"""Tamper evidence in PostgreSQL: the hash chain written with every event, and the signed
national digests over every aggregate's head.

`HashChainRecorder` is eventsourcing's PostgreSQL application recorder plus one row per
event in `<events table>_chain` (version, recorded_at, prev_hash, hash), inserted in the
same transaction as the event: an event is never stored without its hash. Both tables
refuse UPDATE and DELETE (`shared.db.protect_events_table`); the chain exists to show
when someone with the power to bypass that (a superuser) rewrote history anyway.

Large saves (a legacy import's batches, `BULK_MIN_EVENTS` events or more) take a bulk path:
the same transaction protocol as eventsourcing's insert (table lock, NOTIFY, one commit),
with the events and their links written by binary `COPY` instead of array parameters.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from json import encoder as json_encoder
from operator import attrgetter
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg.types.string import BytesBinaryDumper

from shared.audit import merkle
from shared.audit.bundle import DIGEST_FORMAT, leaf_data
from shared.audit.chain import (
    GENESIS,
    RecordError,
    canonical_json,
    chain_hash,
    check_chain,
    event_type,
    record_of,
)
from shared.audit.log_store import LogWriter

# One writer of digests at a time, whichever instance runs the worker.
DIGEST_LOCK = 7_300_001

# A save of at least this many events is written by COPY (one round trip per table instead
# of adapting every row as an array parameter); smaller ones keep eventsourcing's pipeline.
BULK_MIN_EVENTS = 200


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


def _compact_json(transcoder: Any) -> Callable[[Any], bytes] | None:
    """eventsourcing's `JSONTranscoder.encode` without its set-up on every call (the json
    module builds a new C encoder per `encode`): the same C encoder with the same options,
    built once, so the same bytes. None when the transcoder is another kind."""
    make = json_encoder.c_make_encoder
    encoder = getattr(transcoder, "encoder", None)
    if type(transcoder) is not JSONTranscoder or make is None or type(encoder) is not json.JSONEncoder:
        return None
    if (encoder.indent, encoder.key_separator, encoder.item_separator, encoder.sort_keys, encoder.skipkeys,
            encoder.ensure_ascii) != (None, ":", ",", False, False, False):
        return None
    # No `markers` (circular check): event states are trees.
    iterencode = make(None, encoder.default, json_encoder.encode_basestring, None, ":", ",", False, False,
                      encoder.allow_nan)

    def encode(obj: Any) -> bytes:
        return "".join(iterencode(obj, 0)).encode("utf8")

    return encode


class RecordedVersionMapper(Mapper):
    """eventsourcing's mapper, but every stored event carries its `class_version` (the
    library writes it only from version 2): a record says which schema it was written in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encode = _compact_json(self.transcoder) or self.transcoder.encode

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state["class_version"] = getattr(cls, "class_version", 1)
        stored = self._encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(originator_id, originator_version, get_topic(cls), stored)


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
            "SELECT coalesce(e.originator_version, c.originator_version) AS version, e.topic, e.state, "
            "c.prev_hash, c.hash, c.recorded_at "
            "FROM (SELECT * FROM {schema}.{events} WHERE originator_id = %(id)s) e "
            "FULL JOIN (SELECT * FROM {schema}.{chain} WHERE originator_id = %(id)s) c "
            "USING (originator_id, originator_version) ORDER BY 1"
        ).format(**ident)
        self._select_version_at = SQL(
            "SELECT max(originator_version) AS version FROM {schema}.{chain} "
            "WHERE originator_id = %s AND recorded_at <= %s"
        ).format(**ident)
        self._select_heads = SQL(
            "SELECT DISTINCT ON (c.originator_id) c.originator_id, c.originator_version, c.hash "
            "FROM {schema}.{chain} c JOIN {schema}.{events} e USING (originator_id, originator_version) "
            "WHERE e.notification_id <= %s ORDER BY c.originator_id, c.originator_version DESC"
        ).format(**ident)
        self._heads: OrderedDict[UUID, tuple[int, bytes]] = OrderedDict()
        self._heads_lock = threading.Lock()
        # Per saving thread: the links computed before the lock, inserted after the events.
        self._pending: dict[int, tuple[list[tuple[UUID, int, bytes]], tuple[list, ...]]] = {}
        # Per saving thread: how many attempts of the current insert reached the database
        # (eventsourcing retries an insert whose connection failed, up to ten times).
        self._attempts: dict[int, int] = {}
        # The transparency log (shared.audit.log_store): every event's leaf, appended in its
        # transaction; per saving thread, the leaves computed before the lock.
        self._log = LogWriter(datastore.schema)
        self._log_pending: dict[int, tuple[list, list, list]] = {}
        self._max_notification_id = SQL(
            "SELECT coalesce(max(notification_id), 0) AS last FROM {schema}.{events}"
        ).format(**ident)
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
        self._select_stored = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.notification_id "
            "FROM {schema}.{events} e JOIN unnest(%s::uuid[], %s::bigint[]) AS w(id, version) "
            "ON e.originator_id = w.id AND e.originator_version = w.version"
        ).format(**ident)

    # -- writing -----------------------------------------------------------------------

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        me = threading.get_ident()
        self._attempts[me] = 0
        # (eventsourcing passes `tracking=None` for an application's own saves; a process
        # application's tracking record keeps the library's path.)
        bulk = len(stored_events) >= BULK_MIN_EVENTS and not any(v is not None for v in kwargs.values())
        try:
            try:
                ids = (self._copy_events(stored_events) if bulk
                       else super().insert_events(stored_events, **kwargs))
            except IntegrityError:
                # A retry after a connection lost at commit: the commit may have happened
                # (the server had it, the acknowledgement was lost). Then these very events
                # are stored, and the save succeeded; anything else is a real conflict.
                if self._attempts.get(me, 0) < 2 or (ids := self._already_stored(stored_events)) is None:
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
        is written, so the server stores rows while Python hashes the next ones. Under the
        lock no other writer takes notification ids: this save's ids are those above the
        highest before it, in COPY's row order (the order given, as eventsourcing's insert).
        A version already stored fails the COPY's primary key, which the datastore raises as
        eventsourcing's IntegrityError, and nothing is written."""
        me = threading.get_ident()
        self._attempts[me] = self._attempts.get(me, 0) + 1
        id_type = self.datastore.originator_id_type
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # bytea by psycopg's C dumper (the default for the oid is the DB-API `Binary`
            # wrapper's, in Python): this cursor only.
            curs.adapters.register_dumper(bytes, BytesBinaryDumper)
            by_aggregate, heads, in_order = self._previous_heads(curs, stored_events)
            if not in_order:  # an aggregate's events out of version order: link them sorted, first
                links, columns = self._links(curs, stored_events)
                chain_rows = list(zip(*columns, strict=True))
                leaves = self._log.leaves_in_store_order(stored_events, chain_rows)
            for statement in self.lock_table_statements:
                curs.execute(statement, prepare=False)
            self._notify_channel(curs)
            curs.execute(self._max_notification_id, prepare=False)
            last = curs.fetchone()["last"]
            with curs.copy(self._copy_stored) as copy:
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
                copy.set_types([id_type, "int8", "timestamptz", "bytea", "bytea"])
                write = copy.write_row
                for row in chain_rows:
                    write(row)
            # The events' leaves of the transparency log, in the order the events were stored.
            self._log.copy(curs, leaves, id_type)
            self._pending[me] = (links, ())
            # Every id above `last` is this COPY's, increasing in row order: when they are
            # consecutive numbers (nothing else advanced the sequence meanwhile), they need
            # not be read back.
            curs.execute(self._new_ids_range, (last,), prepare=False)
            span = curs.fetchone()
            n = len(stored_events)
            if span["n"] == n and span["last"] - span["first"] + 1 == n:
                return list(range(span["first"], span["last"] + 1))
            curs.execute(self._select_new_ids, (last,), prepare=False)
            ids = [r["notification_id"] for r in curs.fetchall()]
            if len(ids) != n:
                raise ProgrammingError(f"bulk insert: {len(ids)} notification ids for {n} events")
        return ids

    @staticmethod
    def _link_rows(
        stored_events: Sequence[StoredEvent], heads: dict[UUID, bytes], write: Callable[[tuple], Any]
    ) -> list[tuple]:
        """Hash each event's link in the order given (every aggregate's events in version
        order), handing each event to `write` as it goes; returns the chain rows, and leaves
        in `heads` each aggregate's new head."""
        rows = []
        names: dict[UUID, str] = {}
        parsed: dict[str, datetime] = {}  # a batch's events mostly share their moment
        for e in stored_events:
            originator_id, version = e.originator_id, e.originator_version
            prev = heads[originator_id]
            name = names.get(originator_id)
            if name is None:
                name = names[originator_id] = str(originator_id)
            digest, recorded_at = link_hash(prev, name, version, e.topic, e.state)
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
        ids, versions, _, _, digests = links[1]
        self._log_pending[me] = self._log.leaves_in_store_order(stored_events, zip(ids, versions, digests))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
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
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> tuple[dict[UUID, list[StoredEvent]], dict[UUID, bytes], bool]:
        """Each aggregate's events (in version order) and the hash its first new event links
        to, from the genesis, the cache or one query; and whether `stored_events` already
        gives every aggregate's events in version order."""
        by_aggregate: dict[UUID, list[StoredEvent]] = {}
        for e in stored_events:
            events = by_aggregate.get(e.originator_id)
            if events is None:
                by_aggregate[e.originator_id] = [e]
            else:
                events.append(e)
        in_order = True
        heads: dict[UUID, bytes] = {}
        wanted: list[tuple[UUID, int]] = []
        genesis = bytes.fromhex(GENESIS)
        with self._heads_lock:
            for originator_id, events in by_aggregate.items():
                if len(events) > 1 and any(a.originator_version > b.originator_version
                                           for a, b in zip(events, events[1:], strict=False)):
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
        if wanted:
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
    ) -> tuple[list[tuple[UUID, int, bytes]], tuple[list, ...]]:
        """Compute every new event's link; the previous head comes from the cache or one query.
        Returns each aggregate's new head (id, version, hash) and the chain rows' columns."""
        by_aggregate, heads, _ = self._previous_heads(curs, stored_events)
        columns: tuple[list, ...] = ([], [], [], [], [])
        ids, versions, moments, prevs, digests = columns
        links = []
        parsed: dict[str, datetime] = {}  # a batch's events mostly share their moment
        for originator_id, events in by_aggregate.items():
            name = str(originator_id)
            digest = heads[originator_id]
            for e in events:
                prev = digest
                digest, recorded_at = link_hash(prev, name, e.originator_version, e.topic, e.state)
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

    def chain_entries(self, originator_id: UUID, curs: Cursor[DictRow] | None = None) -> list[dict[str, Any]]:
        """Every stored event of one aggregate with its link, in version order, as
        `chain.check_chain` reads them. A damaged event becomes an entry with an error.
        `curs`: read in the caller's transaction (a second connection from a small pool may
        never come while the caller holds the first)."""
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self.chain_entries(originator_id, own)
        curs.execute(self._select_chain, {"id": originator_id})
        rows = curs.fetchall()
        entries = []
        for row in rows:
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
            entries.append(entry)
        return entries

    def version_at(self, originator_id: UUID, moment: datetime) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_version_at, (originator_id, moment))
            row = curs.fetchone()
        return row["version"] if row else None

    def heads(self, position: int, curs: Cursor[DictRow] | None = None) -> list[tuple[str, int, str]]:
        """Every aggregate's last (version, hash) among the events up to `position`, in
        the digest's leaf order (by id)."""
        if curs is None:
            with self.datastore.transaction(commit=False) as own:
                return self.heads(position, own)
        curs.execute(self._select_heads, (position,))
        rows = curs.fetchall()
        heads = [(str(r["originator_id"]), r["originator_version"], bytes(r["hash"]).hex()) for r in rows]
        heads.sort()
        return heads


def tree_leaves(heads: list[tuple[str, int, str]]) -> list[bytes]:
    """A digest's Merkle leaves: one per aggregate head, in the order `heads` gives."""
    return [merkle.leaf_hash(leaf_data(*h)) for h in heads]


class DigestRefused(RuntimeError):
    """The store changed behind the platform's back: no digest is signed over it."""


@dataclass(frozen=True)
class Digest:
    sequence: int
    issued_at: str
    position: int
    tree_size: int
    root: str
    key_id: str
    previous_root: str | None
    signature: str

    def payload(self) -> dict[str, Any]:
        """What the signature covers (canonical JSON of this): each digest names the root
        before it, so the digests form a chain of their own."""
        return {
            "format": DIGEST_FORMAT,
            "sequence": self.sequence,
            "previous_root": self.previous_root,
            "issued_at": self.issued_at,
            "position": self.position,
            "tree_size": self.tree_size,
            "root": self.root,
            "key_id": self.key_id,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.payload(), "signature": self.signature}


class DigestStore:
    """Signed national digests, one row each in `<schema>.audit_digests` (never updated)."""

    def __init__(self, recorder: HashChainRecorder) -> None:
        self.recorder = recorder
        self.datastore = recorder.datastore
        ident = {"schema": Identifier(self.datastore.schema), "events": Identifier(recorder.events_table_name)}
        self.table = "audit_digests"
        self._create = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.audit_digests ("
            "sequence bigint PRIMARY KEY, issued_at text NOT NULL, position bigint NOT NULL, "
            "tree_size integer NOT NULL, root text NOT NULL, previous_root text, key_id text NOT NULL, "
            "public_key bytea NOT NULL, signature text NOT NULL)"
        ).format(**ident)
        self._latest = SQL(
            "SELECT sequence, issued_at, position, tree_size, root, previous_root, key_id, public_key, signature "
            "FROM {schema}.audit_digests ORDER BY sequence DESC LIMIT 1"
        ).format(**ident)
        self._list = SQL(
            "SELECT sequence, issued_at, position, tree_size, root, previous_root, key_id, public_key, signature "
            "FROM {schema}.audit_digests WHERE (%(before)s::bigint IS NULL OR sequence < %(before)s) "
            "ORDER BY sequence DESC LIMIT %(limit)s"
        ).format(**ident)
        self._changed = SQL(
            "SELECT DISTINCT originator_id FROM {schema}.{events} WHERE notification_id > %s AND notification_id <= %s"
        ).format(**ident)
        self._max_position = SQL("SELECT coalesce(max(notification_id), 0) AS p FROM {schema}.{events}").format(**ident)
        self._insert = SQL(
            "INSERT INTO {schema}.audit_digests (sequence, issued_at, position, tree_size, root, previous_root, "
            "key_id, public_key, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(**ident)

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._create)

    @staticmethod
    def _digest(row: dict[str, Any]) -> tuple[Digest, bytes]:
        return (
            Digest(row["sequence"], row["issued_at"], row["position"], row["tree_size"], row["root"],
                   row["key_id"], row["previous_root"], row["signature"]),
            bytes(row["public_key"]),
        )

    def latest(self) -> tuple[Digest, bytes] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._latest)
            row = curs.fetchone()
        return self._digest(row) if row else None

    def page(self, limit: int, before: int | None = None) -> list[tuple[Digest, bytes]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._list, {"limit": limit, "before": before})
            return [self._digest(r) for r in curs.fetchall()]

    def issue(
        self, *, now: datetime, key_id: str, public_key: bytes, sign: Callable[[bytes], str], force: bool = False
    ) -> Digest | None:
        """Sign the Merkle root over every aggregate's head hash; None when nothing was
        recorded since the last digest (unless forced). One issuer at a time."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(%s)", (DIGEST_LOCK,))
            curs.execute(self._latest)
            last = curs.fetchone()
            curs.execute(self._max_position)
            position = curs.fetchone()["p"]
            if last is not None and last["position"] == position and not force:
                return None
            if last is not None:
                # Never bless a rewrite: the last signed tree must still rebuild from the
                # store, and every history changed since must still verify from its events.
                before = self.recorder.heads(last["position"], curs)
                if merkle.root(tree_leaves(before)).hex() != last["root"]:
                    raise DigestRefused(f"the store no longer matches digest #{last['sequence']}")
            curs.execute(self._changed, (last["position"] if last else 0, position))
            for (changed,) in [tuple(r.values()) for r in curs.fetchall()]:
                check = check_chain(self.recorder.chain_entries(changed, curs))
                if not check.valid:
                    raise DigestRefused(
                        f"agreement {changed} fails its chain at version {check.first_invalid_version} ({check.reason})"
                    )
            heads = self.recorder.heads(position, curs)
            root = merkle.root(tree_leaves(heads)).hex()
            unsigned = Digest((last["sequence"] + 1) if last else 1, now.isoformat(), position, len(heads), root,
                              key_id, last["root"] if last else None, "")
            digest = replace(unsigned, signature=sign(canonical_json(unsigned.payload())))
            curs.execute(self._insert, (digest.sequence, digest.issued_at, position, len(heads), root,
                                        digest.previous_root, key_id, public_key, digest.signature))
        return digest
