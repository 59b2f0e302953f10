"""Projections a stored event can never stop: dead letters, guarded runners and replay.

Every worker feed runs eventsourcing's `ProjectionRunner` with two wrappers made here:

- the projection class is wrapped by `guarded`: when the view cannot apply an event (any
  error that is not a lost connection or another operational failure: a NUL character a text
  column refuses, a number beyond a numeric column, a bug), the event is recorded in the
  consuming service's `dead_letters` table in the same transaction that moves the feed's
  tracking position past it, counted (`ksd_dead_letters_total`), logged once, and the feed
  goes on. Later events of the same aggregate wait behind it (dead letters too), so a read
  model never holds an aggregate with a hole in its history. Operational failures are
  re-raised: the worker reconnects and resumes from the tracking position (shared.worker).
- the source application class is wrapped by `tolerant`: a stored event the current code
  cannot even decode (an unknown topic, a broken upcaster) reaches the guard as
  `Undecodable` and becomes a dead letter instead of ending the subscription.

Events are applied in batches (`BatchedView`): the runner hands the guard every event that is
ready, up to `BATCH_MAX`, and the view writes them in one transaction that ends with the
tracking position of the last (a rebuild commits once per batch, not once per event; live,
a batch is whatever arrived since the last one, often a single event). A batch in which any
event fails is rolled back and applied again in halves, down to one event per transaction
around the failing one, which alone becomes a dead letter.

`replay_dead_letters` (`ksd replay-dead-letters`) re-applies open dead letters with the
current code, in notification order; each one that applies is marked replayed in the
transaction that writes it (exactly once, like the feed itself).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import ApplicationSubscription, Projection, ProjectionRunner
from eventsourcing.utils import Environment, get_topic
from psycopg import sql

from shared.db import FEED_POOL_SIZE, READERS_INDEX, database_outage
from shared.metrics import DEAD_LETTERS, PROJECTION_EVENTS

log = structlog.get_logger("ksd.projection")

# -- tables (each service's migration creates them in its schema) -----------------------------

WORKER_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
        projection text NOT NULL,
        application_name text NOT NULL,
        notification_id bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version bigint NOT NULL,
        topic text NOT NULL,
        error_type text NOT NULL,
        error_message text NOT NULL,
        first_failed_at timestamptz NOT NULL DEFAULT now(),
        last_failed_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 1,
        replayed_at timestamptz,
        PRIMARY KEY (projection, application_name, notification_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS dead_letters_open ON {schema}.dead_letters"
    " (projection, application_name, originator_id) WHERE replayed_at IS NULL",
    """
    CREATE TABLE IF NOT EXISTS {schema}.worker_heartbeats (
        instance text PRIMARY KEY,          -- host:pid:random, one row per worker process run
        worker text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL,
        beat_at timestamptz NOT NULL,       -- the database's clock, as /ready compares it
        status text NOT NULL,               -- starting | running | retrying | stopped
        last_error text,
        last_error_at timestamptz,
        projection_lag jsonb NOT NULL DEFAULT '{{}}',
        details jsonb NOT NULL DEFAULT '{{}}'
    )
    """,
]


def install_worker_tables(database_url: str, schema: str) -> None:
    """Create (idempotently) the dead letters and heartbeats of a service's workers."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in WORKER_TABLES:
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


def clear_dead_letters(datastore: Any, projection: str) -> None:
    """Forget a projection's dead letters (its view is dropped to be rebuilt from the events:
    each event is then tried again, and fails again if it still cannot be applied)."""
    with datastore.transaction(commit=True) as curs:
        curs.execute(
            sql.SQL("DELETE FROM {}.dead_letters WHERE projection = %s").format(sql.Identifier(datastore.schema)),
            (projection,),
        )


# -- failures ----------------------------------------------------------------------------------


def short_error(exc: BaseException, limit: int = 1000) -> str:
    """`exc`'s message as the database can store and a log line can show it: no NUL, no lone
    surrogate, bounded."""
    text = str(exc).strip() or type(exc).__name__
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_type(exc: BaseException) -> str:
    """The most telling class name: psycopg's own (`NumericValueOutOfRange`) rather than
    eventsourcing's wrapper (`DataError`)."""
    current: BaseException | None = exc
    name = type(exc).__name__
    while current is not None:
        if isinstance(current, psycopg.Error):
            name = type(current).__name__
        current = current.__cause__
    return name


class BlockedByEarlierDeadLetter(Exception):  # a reason recorded, not raised to a caller
    """An event whose aggregate has an earlier event waiting as a dead letter."""

    def __init__(self) -> None:
        super().__init__(
            "Peristiwa sebelumnya dari agregat yang sama belum diterapkan (dead letter terbuka); "
            "peristiwa ini menunggu dan diterapkan bersamanya oleh `ksd replay-dead-letters`."
        )


# -- decoding that cannot stop a subscription ----------------------------------------------------


@dataclass(frozen=True)
class Undecodable:
    """A stored event the current code could not turn into a domain event."""

    originator_id: UUID
    originator_version: int
    topic: str
    error: Exception

    def __getattr__(self, name: str) -> Any:
        """Anyone else reading it (the runner's application serves the worker's periodic work
        too) meets the decoding error itself, at the first attribute a real event would have."""
        raise self.error


@functools.cache
def tolerant(application_class: type[Application[Any]]) -> type[Application[Any]]:
    """`application_class`, whose mapper hands an event it cannot decode on as `Undecodable`
    instead of raising in the subscription's thread (which would end the feed)."""

    def construct_mapper(self: Application[Any]) -> Any:
        mapper = application_class.construct_mapper(self)
        decode = mapper.to_domain_event

        def to_domain_event(stored_event: Any) -> Any:
            try:
                return decode(stored_event)
            except Exception as exc:  # noqa: BLE001 - any decoding failure becomes a dead letter
                return Undecodable(stored_event.originator_id, stored_event.originator_version,
                                   stored_event.topic, exc)

        mapper.to_domain_event = to_domain_event  # type: ignore[method-assign]
        return mapper

    return type(application_class.__name__, (application_class,), {
        "name": application_class.name,  # the same event tables and tracking rows
        "construct_mapper": construct_mapper,
        "__module__": application_class.__module__,
    })


# -- batches -------------------------------------------------------------------------------------

# Events applied in one transaction at most (a rebuild's batches; live ones are smaller).
# Measured on the registry's rebuild (48,806 events, 2 cores): 1,000 a batch ran at 22,300-24,900
# events/s, 5,000 at 26,300-27,500 (a batch's fixed work, its statements and its rows of
# aggregates that span two batches, a fifth as often).
BATCH_MAX = 5000
# A batch spanning this many positions or more is a catch-up's (`BatchedView.catching_up`).
CATCH_UP_SPAN = 500
# A failed batch is applied again in halves; one smaller than this, one event per transaction.
ONE_BY_ONE_BELOW = 16


class BatchedView(PostgresTrackingRecorder):
    """A view whose writes a batch of events shares: one transaction, opened by recording the
    first event's position (which also takes the feed's tracking row: a second worker of the
    same projection waits, or fails on a position recorded already) and closed by `flush`
    (rows the view kept in memory across the batch) and the last event's position.

    A view method writes an event's rows under `writing(tracking)`: the open batch's cursor,
    or, called on its own (replay, tests), a batch of that one event."""

    _curs: Any = None
    _settings: str | None = None
    # How many positions the open batch spans: a catch-up's batches are large (up to
    # BATCH_MAX), a live feed's small (`catching_up`: CATCH_UP_SPAN or more).
    batch_span: int = 1

    @property
    def catching_up(self) -> bool:
        return self.batch_span >= CATCH_UP_SPAN

    @contextlib.contextmanager
    def batch(self, first: Tracking, last: Tracking) -> Iterator[Any]:
        if self._curs is not None:
            raise RuntimeError("a batch is open already")
        self.batch_span = last.notification_id - first.notification_id + 1
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._batch_settings(curs))
            self._insert_tracking(curs, first)
            self._curs = curs
            try:
                yield curs
                self.flush(curs)
            finally:
                self._curs = None
                self.batch_span = 1
                self.discard()
            if last.notification_id != first.notification_id:
                self._insert_tracking(curs, last)

    def _batch_settings(self, curs: Any) -> str:
        """What a batch's transaction sets first:
        - `synchronous_commit = off`: a view is derived data, and its rows commit atomically
          with their position, so a crash loses only whole batches, which the worker applies
          again from the position before them; no batch waits for the disk.
        - `default_toast_compression = lz4` where the server has it: wide values (the stored
          state, the API's JSON) are compressed several times faster than with pglz."""
        if self._settings is None:
            settings = "SET LOCAL synchronous_commit = off"
            try:
                with curs.connection.transaction():  # a savepoint: a server without lz4 refuses it
                    curs.execute("SET LOCAL default_toast_compression = lz4")
                settings += "; SET LOCAL default_toast_compression = lz4"
            except psycopg.Error:
                pass
            self._settings = settings
        return self._settings

    @contextlib.contextmanager
    def writing(self, tracking: Tracking) -> Iterator[Any]:
        """The cursor to write `tracking`'s event with."""
        if self._curs is not None:
            yield self._curs
        else:
            with self.batch(tracking, tracking) as curs:
                yield curs

    def skip(self, tracking: Tracking) -> None:
        """An event this view does not use: its position still counts (keeps lag honest)."""
        if self._curs is None:
            self.insert_tracking(tracking)

    def prepare(self, curs: Any, events: Sequence[Any]) -> None:
        """Before a batch's events apply: read at once what they will need (one round trip,
        not one per event)."""

    def flush(self, curs: Any) -> None:
        """Write what the batch kept in memory (before its last position is recorded)."""

    def discard(self) -> None:
        """Forget what the batch kept in memory (after its commit, or its rollback)."""


# -- built beside: a new shape filled next to the live one, then switched over ----------------------

NEXT = "_next"

_VERSION_OF = ("SELECT to_regclass(%(t)s) IS NOT NULL AS present,"
               " obj_description(to_regclass(%(t)s), 'pg_class') AS comment")


_PLAIN_ELEMENT = re.compile(r"[0-9A-Za-z._-]+")


def copy_array(values: Sequence[Any]) -> Any:
    """A list of codes (urusan, regions, provinces) as PostgreSQL's array literal for a text
    `COPY`, where psycopg's list dumper costs about 3 µs a row more (a rebuild writes hundreds
    of thousands). Anything else (an element to quote or escape, `NULL`, not a string) stays a
    list, for psycopg to dump."""
    for value in values:
        if type(value) is not str or not _PLAIN_ELEMENT.fullmatch(value) or value.upper() == "NULL":
            return values if type(values) is list else list(values)
    return "{" + ",".join(values) + "}"


class FoldedRows(BatchedView):
    """A view of one row per aggregate, kept from a contract's events by its pure `fold`
    (record, event) -> record (e.g. `services.registry.contract.fold`). Within a batch each
    aggregate's record is read once (`prepare`: one query for the batch's later events), its
    events fold into it in memory, and its row is written once when the batch ends (`flush`:
    new rows by `COPY`, the others by one pipelined `UPDATE` each): a rebuild renders a row
    per aggregate per batch, not per event. The table keeps the record in its `state` column.

    A subclass gives `fold`, the contract's base event class (`event_base`) and creating one
    (`creating_event`; `FoldingProjection` feeds it), calls
    `fold_into(table, columns)` once built, renders a row with `row`, and may act in the same
    transaction when a record is created or changed (`created`, `changed`)."""

    fold: Callable[[dict[str, Any] | None, Any], dict[str, Any]]
    event_base: ClassVar[type[Any]] = object  # the contract's events (e.g. registry.Event)
    creating_event: ClassVar[type[Any]] = object  # the one that creates an aggregate (registry.Started)

    def fold_into(self, table: sql.Composable, columns: Sequence[str]) -> None:
        """Write rows of `columns` (`id` among them; `position`, the creating event's, only
        into new rows) into `table`."""
        self._columns = tuple(columns)
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
        updated = [c for c in columns if c not in ("id", "position")]
        sets = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in updated)
        self._update = sql.SQL("UPDATE {} SET {} WHERE id = %(id)s").format(table, sets)
        self._select_states = sql.SQL("SELECT id, state FROM {} WHERE id = ANY(%s) FOR UPDATE").format(table)
        # The batch's aggregates: id -> (record, position of its creating event if it is new here).
        self._touched: dict[UUID, tuple[dict[str, Any], int | None]] = {}
        # Their rows as `flush` wrote them (what a subclass's `flush` may go on from).
        self.rendered: dict[UUID, dict[str, Any]] = {}

    # Both write into the open batch (`_curs`), or into a batch of their own event. (The check,
    # not `with self.writing(...)` every time: a context manager per event is a twentieth of a
    # rebuild.)
    def start(self, event: Any, tracking: Tracking) -> None:
        """An aggregate's creating event: its new record."""
        if self._curs is None:
            with self.writing(tracking):
                return self.start(event, tracking)
        if event.originator_id in self._touched:
            raise LookupError(f"{event.originator_id} was created already")
        record = self.fold(None, event)
        self._touched[event.originator_id] = (record, tracking.notification_id)
        self.created(self._curs, record, event)
        return None

    def apply_event(self, event: Any, tracking: Tracking) -> None:
        """A later event, folded into the aggregate's record (`fold` refuses a version out of
        sequence), in the transaction that records its position."""
        if self._curs is None:
            with self.writing(tracking):
                return self.apply_event(event, tracking)
        touched = self._touched.get(event.originator_id)
        if touched is None:
            self._curs.execute(self._select_states, ([event.originator_id],))
            row = self._curs.fetchone()
            if row is None:
                raise LookupError(f"{event.originator_id} is not in the read model")
            touched = self._touched[event.originator_id] = (row["state"], None)
        record = touched[0]
        stage = record.get("stage")
        self.fold(record, event)
        self.changed(self._curs, record, event, stage)
        return None

    def prepare(self, curs: Any, events: Sequence[Any]) -> None:
        """The stored records the batch's later events apply to, in one query."""
        wanted = {e.originator_id for e in events if e.originator_version > 1 and isinstance(e, self.event_base)}
        if wanted:
            curs.execute(self._select_states, (list(wanted),))
            for row in curs.fetchall():
                self._touched[row["id"]] = (row["state"], None)

    def flush(self, curs: Any) -> None:
        if not self._touched:
            return
        new, old = [], []
        for aggregate_id, (record, position) in self._touched.items():
            row = self.rendered[aggregate_id] = self.row(record)
            if position is None:
                old.append(row)
            else:
                new.append({**row, "position": position})
        if new:
            self.write_new(curs, new)
        if old:
            curs.executemany(self._update, old)

    def write_new(self, curs: Any, rows: list[dict[str, Any]]) -> None:
        """The batch's new rows: by `COPY` (lists of codes as array literals, `copy_array`)."""
        with curs.copy(self._copy) as copy:
            for row in rows:
                copy.write_row([copy_array(v) if type(v) is list else v for v in map(row.__getitem__, self._columns)])

    def discard(self) -> None:
        self._touched = {}
        self.rendered = {}

    # -- the subclass's ------------------------------------------------------------------------

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        """The columns of a record's row (all but `position`): each view's own."""
        raise TypeError(f"{type(self).__name__} renders no row: a FoldedRows view defines `row`")

    def created(self, curs: Any, record: dict[str, Any], event: Any) -> None:
        """After a record was created (its row is written when the batch ends)."""

    def changed(self, curs: Any, record: dict[str, Any], event: Any, stage_before: Any) -> None:
        """After a later event folded into a record (`stage_before`: its `stage` before)."""


class FoldingProjection(Projection[Any]):
    """Feeds a `FoldedRows` view: an aggregate's creating event starts its record, a later one
    folds into it, any other event only moves the position. A subclass names the projection."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        # isinstance, not functools.singledispatchmethod: that builds a wrapper per call (a
        # twentieth of a rebuild's time).
        view = self.view
        if isinstance(domain_event, view.creating_event):
            view.start(domain_event, tracking)
        elif isinstance(domain_event, view.event_base):
            view.apply_event(domain_event, tracking)
        else:
            view.skip(tracking)


def composite_version(*versions: int) -> int:
    """The versions of a `BesideView`'s tables, in `beside_tables` order, as one number (three
    digits each after the first): what `BesideView.built_version` reads back."""
    found = 0
    for version in versions:
        found = found * 1000 + version
    return found


class BesideView(BatchedView):
    """A view that is rebuilt beside itself when its shape changes (a new `version`):

    - `ksd migrate` leaves the live tables alone and creates the new shape's, named with the
      suffix `_next`, and their own tracking table (`prepare_beside`);
    - the worker fills them from the event store with the same projection under the name
      `<name>_next`, while readers keep reading the live tables, complete though no longer
      followed (its lag grows; /ready and `ksd status` show it);
    - once the new tables have caught up, the worker stops their feed and `switch_over`
      drops the live tables and renames the new ones (with their indexes, policies and
      tracking table) into their place, in one transaction; then the feed resumes on them
      from where the build stopped. A reader sees the old tables or the new, never a part.

    `beside_tables`: the base names of the view's tables, the first named as the projection and
    carrying the version in its comment (`ksd view version N`)."""

    beside_tables: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[int] = 1

    @property
    def projection_name(self) -> str:
        return self.tracking_table_name.removesuffix("_tracking")

    @property
    def suffix(self) -> str:
        """`_next` while this view writes the new shape beside the live one, else ``."""
        return NEXT if self.projection_name.endswith(NEXT) else ""

    @property
    def base_name(self) -> str:
        return self.projection_name.removesuffix(self.suffix)

    def table(self, base: str) -> str:
        """The name of the table `base` that this view writes."""
        return base + self.suffix

    def built_version(self, suffix: str) -> int | None:
        """The version of the shape built under `suffix`: None without its first table, whose
        version counts 1 when its comment carries none (a first shape). With more tables, each
        further table's version is three more digits (`agreements * 1000 + stages`), 0 when it
        is missing or carries none: `version` is written the same way."""
        found: int | None = None
        with self.datastore.transaction(commit=False) as curs:
            for k, base in enumerate(self.beside_tables):
                curs.execute(_VERSION_OF, {"t": f"{self.datastore.schema}.{base}{suffix}"})
                row = curs.fetchone()
                match = re.fullmatch(r"ksd view version (\d+)", (row or {}).get("comment") or "")
                if k == 0:
                    if row is None or not row["present"]:
                        return None
                    found = int(match.group(1)) if match else 1
                else:
                    found = (found or 0) * 1000 + (int(match.group(1)) if match else 0)
        return found

    def drop_build(self, suffix: str) -> None:
        """Drop the tables built under `suffix`, their positions and their dead letters."""
        schema = sql.Identifier(self.datastore.schema)
        with self.datastore.transaction(commit=True) as curs:
            for base in self.beside_tables:
                table = sql.Identifier(base + suffix)
                curs.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(schema, table))
            name = self.base_name + suffix
            curs.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(schema, sql.Identifier(f"{name}_tracking")))
            curs.execute(sql.SQL("DELETE FROM {}.dead_letters WHERE projection = %s").format(schema), (name,))

    def create_table(self) -> None:
        """The view's tables; built beside the live ones (`_next`), without the readers'
        indexes (`shared.db.READERS_INDEX`): `switch_over` makes those once the build has
        caught up. Kept row by row, they were a tenth of a rebuild (4,000 agreements: a median
        22,800 events/s with them, 25,400 without; made afterwards in 0.07 s)."""
        if self.suffix != NEXT:
            super().create_table()
            return
        every = self.sql_create_statements
        self.sql_create_statements = [s for s in every if not _readers_index(s)]
        try:
            super().create_table()
        finally:
            self.sql_create_statements = every

    def switch_over(self, lock_timeout_seconds: float = 10) -> None:
        """Put the new tables (this view's, suffix `_next`) in the live ones' place, in one
        transaction: readers wait for the locks at most `lock_timeout_seconds` (then this
        fails, changing nothing, and the worker tries again later). Their readers' indexes are
        made first (no reader reads the new tables yet; the build has stopped writing them)."""
        if self.suffix != NEXT:
            raise RuntimeError("switch_over is the new build's to call")
        schema = self.datastore.schema
        s = sql.Identifier(schema)
        live, built = self.base_name, self.projection_name
        readers_indexes = [statement for statement in self.sql_create_statements if _readers_index(statement)]
        if readers_indexes:
            with self.datastore.transaction(commit=True) as curs:
                for statement in readers_indexes:
                    curs.execute(statement, prepare=False)
        with self.datastore.transaction(commit=True) as curs:
            # Planner statistics first (a table never analysed is planned as if empty: a list
            # read that takes 0.06 ms took 17 ms): it locks only the new tables, against writes.
            for base in self.beside_tables:
                curs.execute(sql.SQL("ANALYZE {}.{}").format(s, sql.Identifier(base + NEXT)))
            timeout = sql.Literal(f"{int(lock_timeout_seconds * 1000)}ms")
            curs.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(timeout))
            for base in self.beside_tables:
                curs.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(s, sql.Identifier(base)))
                curs.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                    s, sql.Identifier(base + NEXT), sql.Identifier(base)))
                self._rename_dependents(curs, schema, base)
            curs.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(s, sql.Identifier(f"{live}_tracking")))
            curs.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                s, sql.Identifier(f"{built}_tracking"), sql.Identifier(f"{live}_tracking")))
            curs.execute(sql.SQL("DELETE FROM {}.dead_letters WHERE projection = %s").format(s), (live,))
            curs.execute(sql.SQL("UPDATE {}.dead_letters SET projection = %s WHERE projection = %s").format(s),
                         (live, built))
            self.switched(curs)

    @staticmethod
    def _rename_dependents(curs: Any, schema: str, base: str) -> None:
        """The indexes (and so their constraints) and policies of table `base`, named after the
        build (`<base>_next_...`), renamed after it."""
        prefix = base + NEXT
        curs.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (schema, base))
        for (name,) in [tuple(r.values()) for r in curs.fetchall()]:
            if name.startswith(prefix):
                curs.execute(sql.SQL("ALTER INDEX {}.{} RENAME TO {}").format(
                    sql.Identifier(schema), sql.Identifier(name), sql.Identifier(base + name[len(prefix):])))
        curs.execute("SELECT policyname FROM pg_policies WHERE schemaname = %s AND tablename = %s", (schema, base))
        for (name,) in [tuple(r.values()) for r in curs.fetchall()]:
            if name.startswith(prefix):
                curs.execute(sql.SQL("ALTER POLICY {} ON {}.{} RENAME TO {}").format(
                    sql.Identifier(name), sql.Identifier(schema), sql.Identifier(base),
                    sql.Identifier(base + name[len(prefix):])))

    def switched(self, curs: Any) -> None:
        """After the switch, in its transaction: what depended on the dropped tables (a
        policy of another table reading them) is created again."""


def _readers_index(statement: sql.Composable) -> bool:
    return statement.as_string(None).startswith(READERS_INDEX)


def prepare_beside(view: BesideView) -> str:
    """`ksd migrate`'s step for a view built beside itself (`view`: the live-named one).
    Answers what it found: `current` (the live shape is this code's; a build left from
    another release is dropped), `new` (no live table yet: the caller creates it in place),
    or `beside` (the live shape is older: the new one is created beside it, or kept if a build
    of this version is under way)."""
    live = view.built_version("")
    if live is None:
        view.drop_build(NEXT)
        return "new"
    if live == view.version:
        view.drop_build(NEXT)
        return "current"
    if view.built_version(NEXT) != view.version:
        view.drop_build(NEXT)
    return "beside"


def next_build_pending(conn: psycopg.Connection[Any], schema: str, view_class: type[BesideView]) -> bool:
    """Whether tables of a new shape are being built beside the live ones."""
    table = f"{schema}.{view_class.beside_tables[0]}{NEXT}"
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def switch_over(feed: Feed, database_url: str, view_class: type[PostgresTrackingRecorder] | None = None) -> None:
    """Put the new shape of `feed`'s view, built beside the live one, in its place (the feed's
    runners stopped: the next one follows the switched view from where the build stopped)."""
    env = Environment(built_beside(feed.projection).name,
                      {**feed.env(database_url, pool_size=1), "POSTGRES_CONNECT_TIMEOUT": "5"})
    view = cast(BesideView, InfrastructureFactory.construct(env=env).tracking_recorder(view_class or feed.view))
    try:
        view.switch_over()
    finally:
        view.datastore.close()


@functools.cache
def built_beside(projection_class: type[Projection[Any]]) -> type[Projection[Any]]:
    """`projection_class` under the name of its build beside the live view (`<name>_next`):
    its own tracking table, the view's `_next` tables."""
    return type(projection_class.__name__, (projection_class,), {
        "name": projection_class.name + NEXT,
        "__module__": projection_class.__module__,
    })


def _more_ready(subscription: ApplicationSubscription[Any]) -> bool:
    """Whether the subscription holds another event already pulled from the store (its next
    `next()` will not wait). eventsourcing keeps pulled notifications in lists of up to 500 and
    a queue of such lists; nothing public says whether one is waiting."""
    inner = subscription.subscription
    index, pulled = getattr(inner, "_notifications_index", 0), getattr(inner, "_notifications", ())
    queue = getattr(inner, "_notifications_queue", None)
    return index < len(pulled) or (queue is not None and not queue.empty())


# -- the guard -----------------------------------------------------------------------------------

_DEAD_LETTER_INSERT = """
INSERT INTO {schema}.dead_letters AS d (projection, application_name, notification_id, originator_id,
    originator_version, topic, error_type, error_message)
VALUES (%(projection)s, %(application)s, %(notification_id)s, %(originator_id)s, %(originator_version)s,
    %(topic)s, %(error_type)s, %(error_message)s)
ON CONFLICT (projection, application_name, notification_id) DO UPDATE SET
    error_type = excluded.error_type, error_message = excluded.error_message, last_failed_at = now(),
    attempts = d.attempts + 1, replayed_at = NULL
"""

_OPEN_ORIGINATORS = """
SELECT application_name, originator_id FROM {schema}.dead_letters
WHERE projection = %s AND replayed_at IS NULL
"""

_STILL_OPEN = """
SELECT EXISTS (SELECT 1 FROM {schema}.dead_letters WHERE projection = %s AND application_name = %s
    AND originator_id = %s AND replayed_at IS NULL) AS open
"""


class _AlreadyTracked(Exception):  # internal signal
    """Another worker of the same projection has recorded this position already."""


def _topic_of(event: Any) -> str:
    """The topic the event was stored under (a contract's class names it: `stored_topic`)."""
    if isinstance(event, Undecodable):
        return event.topic
    return getattr(type(event), "stored_topic", "") or get_topic(type(event))


def record_dead_letter(
    view: PostgresTrackingRecorder, projection: str, event: Any, tracking: Tracking, exc: BaseException
) -> bool:
    """Record `event` as a dead letter of `projection` and move the tracking position past it,
    in one transaction. False when the position was recorded already (another worker of this
    projection got there first: the event is not lost, it was applied there)."""
    schema = sql.Identifier(view.datastore.schema)
    try:
        with view.datastore.transaction(commit=True) as curs:
            try:
                view._insert_tracking(curs, tracking)  # noqa: SLF001 - eventsourcing's documented way
            except IntegrityError as already:
                raise _AlreadyTracked from already
            curs.execute(sql.SQL(_DEAD_LETTER_INSERT).format(schema=schema), {
                "projection": projection,
                "application": tracking.application_name,
                "notification_id": tracking.notification_id,
                "originator_id": event.originator_id,
                "originator_version": event.originator_version,
                "topic": _topic_of(event),
                "error_type": error_type(exc),
                "error_message": short_error(exc),
            })
    except _AlreadyTracked:
        return False
    return True


class _Counter:
    """Events applied per service (for the worker's "batches" metric)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, service: str, n: int = 1) -> None:
        with self._lock:
            self._counts[service] = self._counts.get(service, 0) + n

    def get(self, service: str) -> int:
        return self._counts.get(service, 0)


APPLIED = _Counter()


class _DeadLetterGuard:
    """Mixed in before a projection class by `guarded`."""

    service: str = ""
    label: str = ""
    name: str
    view: PostgresTrackingRecorder

    def __init__(self, view: PostgresTrackingRecorder) -> None:
        super().__init__(view)  # type: ignore[call-arg]
        # Aggregates (source application, originator id) with an open dead letter here;
        # loaded with the first event, in the runner's processing thread.
        self._blocked: set[tuple[str, UUID]] | None = None
        self._applied = PROJECTION_EVENTS.labels(service=self.service, projection=self.label)

    def _query(self, statement: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        query = sql.SQL(statement).format(schema=sql.Identifier(self.view.datastore.schema))
        with self.view.datastore.transaction(commit=False) as curs:
            curs.execute(query, params)
            return curs.fetchall()

    def _blocked_keys(self) -> set[tuple[str, UUID]]:
        if self._blocked is None:
            self._blocked = {(r["application_name"], r["originator_id"])
                             for r in self._query(_OPEN_ORIGINATORS, (self.name,))}
        return self._blocked

    def _has_blocked(self) -> bool:
        return bool(self._blocked_keys())

    def _is_blocked(self, key: tuple[str, UUID]) -> bool:
        blocked = self._blocked_keys()
        if key not in blocked:
            return False
        # Replayed meanwhile (`ksd replay-dead-letters` runs in another process)?
        if self._query(_STILL_OPEN, (self.name, *key))[0]["open"]:
            return True
        blocked.discard(key)
        return False

    def process_batch(self, batch: Sequence[tuple[Any, Tracking]]) -> None:
        """Apply `batch` in one transaction; if any of it fails, in halves (`_in_parts`), down
        to one event at a time around the failing one (which becomes a dead letter; the others
        are applied, in order). A batch holding an event that cannot be decoded, or one of an
        aggregate blocked by a dead letter, goes the same way without trying it whole."""
        view = self.view
        if len(batch) == 1 or not isinstance(view, BatchedView):
            for event, tracking in batch:
                self.process_event(event, tracking)
            return
        if any(isinstance(event, Undecodable) for event, _ in batch) or (self._has_blocked() and any(
            self._is_blocked((tracking.application_name, event.originator_id)) for event, tracking in batch
        )):
            self._in_parts(batch)
            return
        try:
            with view.batch(batch[0][1], batch[-1][1]) as curs:
                view.prepare(curs, [event for event, _ in batch])
                for event, tracking in batch:
                    super().process_event(event, tracking)  # type: ignore[misc]
        except Exception as exc:  # any failure but the database's: the batch again, in parts
            if database_outage(exc, follow_context=False) is not None:
                raise
            log.info("batch_applied_in_parts", service=self.service, projection=self.name, events=len(batch),
                     first=batch[0][1].notification_id, error_type=error_type(exc), error=short_error(exc, 300))
            self._in_parts(batch)
        else:
            self._applied.inc(len(batch))
            APPLIED.add(self.service, len(batch))

    def _in_parts(self, batch: Sequence[tuple[Any, Tracking]]) -> None:
        """`batch` as two batches, the first half first, each split again if it fails; below
        `ONE_BY_ONE_BELOW` events, one event per transaction. A failing event in a batch of
        5,000 so costs a few dozen transactions, not 5,000."""
        if len(batch) < ONE_BY_ONE_BELOW:
            for event, tracking in batch:
                self.process_event(event, tracking)
            return
        half = len(batch) // 2
        self.process_batch(batch[:half])
        self.process_batch(batch[half:])

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        key = (tracking.application_name, domain_event.originator_id)
        failure: BaseException
        if isinstance(domain_event, Undecodable):
            failure = domain_event.error
        elif self._is_blocked(key):
            failure = BlockedByEarlierDeadLetter()
        else:
            try:
                super().process_event(domain_event, tracking)  # type: ignore[misc]
            except Exception as exc:
                if database_outage(exc, follow_context=False) is not None:
                    raise  # the connection's fault, not the event's: the worker reconnects and resumes
                failure = exc
            else:
                self._applied.inc()
                APPLIED.add(self.service)
                return
        if not record_dead_letter(self.view, self.name, domain_event, tracking, failure):
            return
        if self._blocked is not None:
            self._blocked.add(key)
        DEAD_LETTERS.labels(service=self.service, projection=self.label).inc()
        log.warning(
            "dead_letter_recorded",
            service=self.service, projection=self.name, application=tracking.application_name,
            notification_id=tracking.notification_id, originator_id=str(domain_event.originator_id),
            originator_version=domain_event.originator_version, topic=_topic_of(domain_event),
            error_type=error_type(failure), error=short_error(failure, 300),
        )


@functools.cache
def guarded(projection_class: type[Projection[Any]], service: str, label: str) -> type[Projection[Any]]:
    """`projection_class`, recording what it cannot apply as dead letters instead of raising."""
    return type(projection_class.__name__, (_DeadLetterGuard, projection_class), {
        "name": projection_class.name,  # the same tracking table and environment prefix
        "service": service,
        "label": label,
        "__module__": projection_class.__module__,
    })


# -- feeds and their runners ---------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """One projection of a service's worker: the application whose events it follows, the
    projection and view that write the read model, and the eventsourcing environment
    (`env(database_url, pool_size)`). `label` names it in /ready, metrics and `ksd status`."""

    label: str
    application: type[Application[Any]]
    projection: type[Projection[Any]]
    view: type[PostgresTrackingRecorder]
    env: Callable[..., dict[str, str]]

    def view_class(self, settings: Any = None, clock: Any = None) -> type[PostgresTrackingRecorder]:
        """The view class to build: one needing settings offers `configured(settings, clock)`."""
        configured = getattr(self.view, "configured", None)
        return configured(settings, clock) if configured is not None and settings is not None else self.view


class FeedRunner(ProjectionRunner):  # type: ignore[type-arg]
    """eventsourcing's runner for one feed, guarded (dead letters) and tolerant (undecodable
    events); closes its view's pool too, so a worker may build runners again and again."""

    def __init__(
        self, service: str, feed: Feed, database_url: str, *,
        view_class: type[PostgresTrackingRecorder] | None = None, pool_size: int = FEED_POOL_SIZE,
        beside: bool = False,
    ) -> None:
        self.feed = feed
        self.beside = beside  # filling the view's new shape beside the live one (BesideView)
        projection = built_beside(feed.projection) if beside else feed.projection
        try:
            super().__init__(
                application_class=tolerant(feed.application),  # type: ignore[arg-type]  # a class is hashable
                projection_class=guarded(projection, service, feed.label),
                view_class=view_class or feed.view,
                # Waiting for a pooled connection ends after 5 s (eventsourcing's default is
                # 30, retried ten times): a worker whose database went away notices, rebuilds
                # and still stops promptly when told to.
                env={**feed.env(database_url, pool_size=pool_size), "POSTGRES_CONNECT_TIMEOUT": "5"},
            )
        except BaseException:
            view = self.__dict__.get("view")
            if view is not None:
                view.datastore.close()
            raise

    @staticmethod
    def _process_events_loop(
        subscription: ApplicationSubscription[Any],
        projection: Any,
        is_stopping: threading.Event,
        runner: weakref.ReferenceType[Any],
    ) -> None:
        """eventsourcing's loop, handing the guard batches: every event already pulled, up to
        `BATCH_MAX` (the runner's thread calls this in place of its own one-event loop)."""
        try:
            batch: list[tuple[Any, Tracking]] = []
            for item in subscription:
                batch.append(item)
                if len(batch) >= BATCH_MAX or not _more_ready(subscription):
                    projection.process_batch(batch)
                    batch = []
        except BaseException as exc:  # noqa: BLE001 - handed to run_forever, as eventsourcing does
            this = runner()
            if this is not None:
                this._thread_error = exc  # noqa: SLF001 - eventsourcing's own field
        finally:
            is_stopping.set()

    def position(self) -> tuple[int, int]:
        """(this feed's tracking position, the source's last notification id)."""
        view = cast(PostgresTrackingRecorder, self.view)
        return view.max_tracking_id(self.app_name) or 0, self.app.recorder.max_notification_id() or 0

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        finally:  # even when a dead subscription fails to stop cleanly: no pool left reconnecting
            self.app.close()
            cast(PostgresTrackingRecorder, self.view).datastore.close()


# -- replay ------------------------------------------------------------------------------------


class _ReplayMarks:
    """Mixed into a view for replay: instead of moving the tracking position (long past the
    event), each write marks its dead letter replayed, in the same transaction."""

    projection_name: str = ""

    def _insert_tracking(self, curs: Any, tracking: Tracking) -> None:
        curs.execute(
            sql.SQL(
                "UPDATE {}.dead_letters SET replayed_at = now() WHERE projection = %s AND application_name = %s"
                " AND notification_id = %s AND replayed_at IS NULL RETURNING notification_id"
            ).format(sql.Identifier(self.datastore.schema)),  # type: ignore[attr-defined]
            (self.projection_name, tracking.application_name, tracking.notification_id),
        )
        if curs.fetchone() is None:
            raise IntegrityError(f"dead letter {tracking.notification_id} was replayed already")


@dataclass
class ReplayOutcome:
    feed: str
    projection: str
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    applied: bool
    error: str | None = None


@dataclass
class ReplayReport:
    service: str
    outcomes: list[ReplayOutcome] = field(default_factory=list)

    @property
    def applied(self) -> list[ReplayOutcome]:
        return [o for o in self.outcomes if o.applied]

    @property
    def failing(self) -> list[ReplayOutcome]:
        return [o for o in self.outcomes if not o.applied]


_OPEN_LETTERS = """
SELECT notification_id, originator_id, originator_version, topic FROM {schema}.dead_letters
WHERE projection = %s AND application_name = %s AND replayed_at IS NULL AND notification_id > %s
ORDER BY notification_id LIMIT 500
"""

_STILL_FAILING = """
UPDATE {schema}.dead_letters SET attempts = attempts + 1, last_failed_at = now(), error_type = %s,
    error_message = %s WHERE projection = %s AND application_name = %s AND notification_id = %s
"""


def replay_dead_letters(
    service: str, feeds: Iterable[Feed], database_url: str, *, settings: Any = None, clock: Any = None,
) -> ReplayReport:
    """Apply every open dead letter of `service` again with the current code, in notification
    order per feed. An aggregate whose dead letter still fails keeps its later ones waiting."""
    report = ReplayReport(service)
    for feed in feeds:
        _replay_feed(feed, database_url, settings, clock, report)
    return report


def _replay_feed(feed: Feed, database_url: str, settings: Any, clock: Any, report: ReplayReport) -> None:
    env = feed.env(database_url, pool_size=1)
    name = feed.projection.name
    base = feed.view_class(settings, clock)
    view_class = type(base.__name__, (_ReplayMarks, base), {"projection_name": name})
    view = cast(PostgresTrackingRecorder,
                InfrastructureFactory.construct(env=Environment(name, env)).tracking_recorder(view_class))
    app: Application[Any] | None = None
    try:
        schema = sql.Identifier(view.datastore.schema)
        after, failed = 0, set[UUID]()
        while True:
            with view.datastore.transaction(commit=False) as curs:
                curs.execute(sql.SQL(_OPEN_LETTERS).format(schema=schema),
                             (name, feed.application.name, after))
                letters = curs.fetchall()
            if not letters:
                return
            if app is None:
                app = feed.application(env)  # decodes with the current code
            projection = feed.projection(view=view)
            for letter in letters:
                after = letter["notification_id"]
                outcome = ReplayOutcome(feed.label, name, after, letter["originator_id"],
                                        letter["originator_version"], letter["topic"], applied=False)
                report.outcomes.append(outcome)
                try:
                    if letter["originator_id"] in failed:
                        raise BlockedByEarlierDeadLetter
                    (stored,) = app.recorder.select_notifications(start=after, limit=1)
                    event = app.mapper.to_domain_event(stored)
                    projection.process_event(event, Tracking(feed.application.name, after))
                except IntegrityError as exc:
                    if "replayed already" not in str(exc):
                        _still_failing(view, feed, after, exc, outcome, failed)
                    else:
                        outcome.applied = True  # another replay applied it meanwhile
                except Exception as exc:
                    if database_outage(exc, follow_context=False) is not None:
                        raise
                    _still_failing(view, feed, after, exc, outcome, failed)
                else:
                    outcome.applied = True
    finally:
        view.datastore.close()
        if app is not None:
            app.close()


def _still_failing(
    view: PostgresTrackingRecorder, feed: Feed, notification_id: int, exc: BaseException,
    outcome: ReplayOutcome, failed: set[UUID],
) -> None:
    failed.add(outcome.originator_id)
    outcome.error = f"{error_type(exc)}: {short_error(exc, 300)}"
    with view.datastore.transaction(commit=True) as curs:
        curs.execute(
            sql.SQL(_STILL_FAILING).format(schema=sql.Identifier(view.datastore.schema)),
            (error_type(exc), short_error(exc), feed.projection.name, feed.application.name, notification_id),
        )


# -- what is open (readiness, `ksd status`) --------------------------------------------------------

OPEN_DEAD_LETTERS = """
SELECT projection, application_name, count(*) AS open, min(first_failed_at) AS oldest
FROM {schema}.dead_letters WHERE replayed_at IS NULL GROUP BY projection, application_name
"""


def open_dead_letters_query(schema: str) -> str:
    """Open dead letters per (projection, source application); `schema` is the code's own constant."""
    return OPEN_DEAD_LETTERS.format(schema=schema)


def dead_letters_by_feed(rows: Iterable[dict[str, Any]], feeds: Sequence[Feed]) -> dict[str, int]:
    """Rows of `open_dead_letters_query` (as dicts) as {feed label: open dead letters}, every
    feed named."""
    labels = {(f.projection.name, f.application.name): f.label for f in feeds}
    counts = {f.label: 0 for f in feeds}
    for row in rows:
        label = labels.get((row["projection"], row["application_name"]), row["projection"])
        counts[label] = counts.get(label, 0) + int(row["open"])
    return counts
