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

`replay_dead_letters` (`ksd replay-dead-letters`) re-applies open dead letters with the
current code, in notification order; each one that applies is marked replayed in the
transaction that writes it (exactly once, like the feed itself).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.utils import Environment, get_topic
from psycopg import sql

from shared.db import FEED_POOL_SIZE, database_outage
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
    return event.topic if isinstance(event, Undecodable) else get_topic(type(event))


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

    def add(self, service: str) -> None:
        with self._lock:
            self._counts[service] = self._counts.get(service, 0) + 1

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

    def _is_blocked(self, key: tuple[str, UUID]) -> bool:
        if self._blocked is None:
            self._blocked = {(r["application_name"], r["originator_id"])
                             for r in self._query(_OPEN_ORIGINATORS, (self.name,))}
        if key not in self._blocked:
            return False
        # Replayed meanwhile (`ksd replay-dead-letters` runs in another process)?
        if self._query(_STILL_OPEN, (self.name, *key))[0]["open"]:
            return True
        self._blocked.discard(key)
        return False

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
    ) -> None:
        self.feed = feed
        try:
            super().__init__(
                application_class=tolerant(feed.application),  # type: ignore[arg-type]  # a class is hashable
                projection_class=guarded(feed.projection, service, feed.label),
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
