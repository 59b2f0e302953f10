"""What every projection worker does around its feeds: heal, beat, and be measured.

`FeedWorker.run()` is a worker process's life (`ksd worker <service>`):

- it builds a guarded `FeedRunner` per feed (shared.projection) and lets them run; when the
  database goes away (a restart, a failover, a dropped connection, a pool timeout) the runners
  fail, are closed, and are built again after an exponential backoff with jitter, capped at
  `KSD_WORKER_RETRY_MAX_SECONDS`. Each resumes from its tracking position. No database error
  ends the process; SIGTERM or SIGINT does, within a round (half a second).
- a `Heartbeat` thread writes the instance's row in `<schema>.worker_heartbeats` every
  `KSD_WORKER_HEARTBEAT_SECONDS` (status, last error, lag per feed, open dead letters): what
  `/ready` and `ksd status` read.
- its Prometheus metrics are served on `KSD_WORKER_METRICS_PORT` (+1 monitoring, +2
  reporting; 0: none).
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, ClassVar
from uuid import uuid4

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.db import database_outage, feed_lag
from shared.metrics import DEAD_LETTERS_OPEN, PROJECTION_LAG, WORKER_BATCHES, WORKER_ERRORS
from shared.projection import (
    APPLIED,
    BesideView,
    Feed,
    FeedRunner,
        dead_letters_by_feed,
    next_build_pending,
    open_dead_letters_query,
    short_error,
    switch_over,
)
from shared.supervise import Backoff

log = structlog.get_logger("ksd.worker")

# Each worker's metrics port: KSD_WORKER_METRICS_PORT plus this offset.
METRICS_PORT_OFFSETS = {"registry": 0, "monitoring": 1, "reporting": 2}
# How often a view built beside the live one is looked at for having caught up (two small
# queries), so that its switch-over follows promptly.
BUILT_CHECK_SECONDS = 0.05


def metrics_port(settings: Any, service: str) -> int | None:
    base = settings.worker_metrics_port
    return base + METRICS_PORT_OFFSETS[service] if base else None


def start_metrics_server(settings: Any, service: str) -> Any:
    """Serve this process's Prometheus registry on the worker's port, behind the same rule as
    the services' /metrics (`KSD_METRICS_TOKEN` as a bearer token when set; closed in
    production unless `KSD_METRICS_PUBLIC`). None when disabled or the port is taken: the
    worker's job matters more than its metrics, it logs and goes on."""
    port = metrics_port(settings, service)
    if port is None:
        return None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    metrics = make_wsgi_app()
    token = getattr(settings, "metrics_token", None)
    closed = settings.environment == "production" and not token and not getattr(settings, "metrics_public", False)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if closed or (token and not (scheme.lower() == "bearer"
                                     and hmac.compare_digest(given.strip().encode(), token.encode()))):
            start_response("403 Forbidden" if closed else "401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"metrics: KSD_METRICS_TOKEN required\n"]
        return metrics(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the library's name
            pass

    try:
        server = make_server(settings.host, port, app, ThreadingWSGIServer, handler_class=Quiet)
    except OSError as exc:
        log.warning("metrics_port_unavailable", port=port, error=str(exc))
        return None
    threading.Thread(target=server.serve_forever, name=f"ksd-{service}-metrics", daemon=True).start()
    log.info("metrics_serving", port=port)
    return server


def tune_gc() -> None:
    """A projection worker allocates a few dozen containers per event (decoded JSON, the
    domain event, the aggregate's state), so the cyclic collector's default first threshold
    (700 allocations) runs it every few events, a fifth of a rebuild's time. What the process
    loaded at start is frozen out of its reach, and it runs every 50,000 allocations; the
    garbage that waits meanwhile is a batch's at most."""
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set `stop` (only the main thread may install handlers)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())


_HEARTBEAT_UPSERT = """
INSERT INTO {schema}.worker_heartbeats AS h (instance, worker, host, pid, started_at, beat_at, status,
    last_error, last_error_at, projection_lag, details)
VALUES (%(instance)s, %(worker)s, %(host)s, %(pid)s, now(), now(), %(status)s, %(error)s,
    CASE WHEN %(error)s::text IS NULL THEN NULL ELSE now() END, %(lag)s, %(details)s)
ON CONFLICT (instance) DO UPDATE SET beat_at = now(), status = excluded.status,
    last_error = coalesce(excluded.last_error, h.last_error),
    last_error_at = CASE WHEN excluded.last_error IS NULL OR excluded.last_error = h.last_error
        THEN h.last_error_at ELSE now() END,
    projection_lag = excluded.projection_lag, details = excluded.details
"""


class Heartbeat:
    """A worker instance's liveness row, written from its own thread and connection every
    `interval` seconds (and at once when the status changes), with the lag of each feed and
    the open dead letters, which it also sets as this process's gauges."""

    def __init__(
        self, database_url: str, *, service: str, schema: str, lag_query: str, feeds: Sequence[Feed],
        interval: float, details: Callable[[psycopg.Connection], dict[str, Any]] | None = None,
    ) -> None:
        self.database_url, self.service, self.schema = database_url, service, schema
        self.lag_query, self.feeds, self.interval, self.details = lag_query, feeds, interval, details
        self.host = socket.gethostname()
        self.instance = f"{self.host}:{os.getpid()}:{uuid4().hex[:8]}"
        self.status = "starting"
        self.error: str | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._loop, name=f"ksd-{service}-heartbeat", daemon=True)
        self._upsert = sql.SQL(_HEARTBEAT_UPSERT).format(schema=sql.Identifier(schema))
        self._dead = open_dead_letters_query(schema)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def set(self, status: str, error: str | None = None) -> None:
        changed = status != self.status or (error is not None and error != self.error)
        self.status = status
        if error is not None:
            self.error = error
        if changed:
            self._wake.set()

    def stop(self, status: str = "stopped") -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.status = status
        self.beat()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _loop(self) -> None:
        with self._lock:
            self._prune()
        while not self._stop.is_set():
            self.beat()
            self._wake.wait(self.interval)
            self._wake.clear()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = psycopg.connect(
                self.database_url, autocommit=True, row_factory=dict_row, connect_timeout=3,
                application_name=f"ksd-{self.service}-worker-heartbeat",
            )
        return self._conn

    def _prune(self) -> None:
        """Rows of worker runs gone for a day are history nobody reads."""
        with contextlib.suppress(psycopg.Error):  # the first beat reports the trouble
            self._connection().execute(sql.SQL(
                "DELETE FROM {}.worker_heartbeats WHERE beat_at < now() - interval '1 day'"
            ).format(sql.Identifier(self.schema)))

    def beat(self) -> bool:
        """Write the row now; False when the database could not be reached."""
        with self._lock:
            try:
                conn = self._connection()
                lag = feed_lag(conn, self.lag_query)
                dead = dead_letters_by_feed(conn.execute(self._dead).fetchall(), self.feeds)
                details = {"dead_letters": dead, **(self.details(conn) if self.details else {})}
                conn.execute(self._upsert, {
                    "instance": self.instance, "worker": self.service, "host": self.host, "pid": os.getpid(),
                    "status": self.status, "error": self.error, "lag": Jsonb(lag), "details": Jsonb(details),
                })
            except psycopg.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                if not self._failing:
                    log.warning("heartbeat_failed", error=short_error(exc, 300))
                self._failing = True
                return False
        if self._failing:
            log.info("heartbeat_restored")
        self._failing = False
        for label, value in lag.items():
            PROJECTION_LAG.labels(service=self.service, projection=label).set(value)
        for label, value in dead.items():
            DEAD_LETTERS_OPEN.labels(service=self.service, projection=label).set(value)
        return True


class FeedWorker:
    """A service's worker: its feeds (`feeds`, in `schema`), kept running whatever the
    database does. Subclasses add their periodic work in `start_session` and `after_round`."""

    service: ClassVar[str]
    schema: ClassVar[str]
    feeds: ClassVar[Sequence[Feed]]
    lag_query: ClassVar[str]
    round_seconds: ClassVar[float] = 0.5

    def __init__(
        self, settings: Any, database_url: str, *, stop: threading.Event | None = None, clock: Any = None,
    ) -> None:
        self.settings, self.database_url, self.clock = settings, database_url, clock
        self.stop = stop or threading.Event()
        self.heartbeat: Heartbeat | None = None
        self._next_progress_log = 0.0

    # -- hooks ---------------------------------------------------------------------------------

    def view_class(self, feed: Feed) -> type:
        return feed.view_class(self.settings, self.clock)

    def start_session(self, stack: ExitStack, runners: list[FeedRunner]) -> None:
        """After the runners are built (again): open what the periodic work needs."""

    def after_round(self, runners: list[FeedRunner]) -> None:
        """After each round of the feeds (about every `round_seconds`)."""

    def heartbeat_details(self, conn: psycopg.Connection) -> dict[str, Any]:
        """More for the heartbeat row (and this process's gauges), on the heartbeat's connection."""
        return {}

    # -- the loop ------------------------------------------------------------------------------

    def open_runners(self, stack: ExitStack) -> list[FeedRunner]:
        """A runner per feed; a feed whose view has a new shape being built beside the live one
        (shared.projection.BesideView) fills that one instead."""
        views = [self.view_class(feed) for feed in self.feeds]
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            beside = [issubclass(view, BesideView) and next_build_pending(conn, self.schema, view) for view in views]
        return [
            stack.enter_context(FeedRunner(self.service, feed, self.database_url, view_class=view, beside=building))
            for feed, view, building in zip(self.feeds, views, beside, strict=True)
        ]

    def _run_round(self, runners: list[FeedRunner]) -> FeedRunner | None:
        """Let the feeds run for a round (`round_seconds`; raises a feed's error). While one
        fills a new shape beside the live view, it is looked at every `BUILT_CHECK_SECONDS` of
        the round, and the round ends as soon as it has caught up (answered: to switch over), or
        when the worker is told to stop.
        Looked at once a round, a build finished in the first milliseconds of one waited for its
        end: measured, 0.35-0.41 s of a 2.5 s build of 48,806 events."""
        building = any(runner.beside for runner in runners)
        end = time.monotonic() + self.round_seconds
        while True:
            left = max(0.0, end - time.monotonic())
            step = min(left, BUILT_CHECK_SECONDS) if building else left
            for runner in runners:
                runner.run_forever(timeout=step / len(runners))
            if building and (built := self._built(runners)) is not None:
                return built
            if time.monotonic() >= end or self.stop.is_set():
                return None

    def _built(self, runners: list[FeedRunner]) -> FeedRunner | None:
        """A runner filling a new shape beside the live view that has caught up (to switch)."""
        for runner in runners:
            if runner.beside:
                position, head = runner.position()
                if time.monotonic() >= self._next_progress_log:
                    self._next_progress_log = time.monotonic() + 10
                    log.info("view_building_beside", worker=self.service, feed=runner.feed.label,
                             position=position, head=head)
                if position >= head:
                    return runner
        return None

    def _switch_over(self, feed: Feed) -> None:
        switch_over(feed, self.database_url, self.view_class(feed))
        log.info("view_switched_over", worker=self.service, feed=feed.label)

    def run(self) -> None:
        stop_on_signals(self.stop)
        tune_gc()
        server = start_metrics_server(self.settings, self.service)
        self.heartbeat = Heartbeat(
            self.database_url, service=self.service, schema=self.schema, lag_query=self.lag_query,
            feeds=self.feeds, interval=self.settings.worker_heartbeat_seconds, details=self.heartbeat_details,
        ).start()
        backoff = Backoff(self.settings.worker_retry_max_seconds, 0.5, jitter=True)
        log.info("worker_started", worker=self.service, instance=self.heartbeat.instance)
        try:
            while not self.stop.is_set():
                try:
                    self._session(backoff)
                except Exception as exc:  # noqa: BLE001 - any failure: logged, then the worker retries
                    if self.stop.is_set():
                        log.info("worker_stopping_after_error", error=short_error(exc, 300))
                        break
                    self._recover(exc, backoff)
        finally:
            self.heartbeat.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
            log.info("worker_stopped", worker=self.service)

    def _recover(self, exc: Exception, backoff: Backoff) -> None:
        delay = backoff.next()
        transient = database_outage(exc) is not None
        error = f"{type(exc).__name__}: {short_error(exc, 300)}"
        WORKER_ERRORS.labels(service=self.service, kind="database" if transient else "unexpected").inc()
        assert self.heartbeat is not None  # noqa: S101 - narrows the type; never checks input
        self.heartbeat.set("retrying", error)
        fields = {"worker": self.service, "attempt": backoff.attempt, "retry_in_seconds": round(delay, 2)}
        if transient:
            log.warning("worker_database_unavailable", error=error, **fields)
        elif backoff.attempt == 1:
            log.error("worker_failed", exc_info=exc, **fields)  # a bug: its traceback, once
        else:
            log.warning("worker_failed", error=error, **fields)
        self.stop.wait(delay)

    def _session(self, backoff: Backoff) -> None:
        """Build the runners, run them until stopped or until one fails (raises)."""
        assert self.heartbeat is not None  # noqa: S101 - narrows the type; never checks input
        # A cheap look first: while the server is away, do not build pools that would each
        # retry for many seconds before failing.
        psycopg.connect(self.database_url, connect_timeout=3).close()
        built: FeedRunner | None = None
        with ExitStack() as stack:
            runners = self.open_runners(stack)
            self.start_session(stack, runners)
            self.heartbeat.set("running")
            if backoff.attempt:
                log.info("worker_resumed", worker=self.service, after_attempts=backoff.attempt)
            batches = WORKER_BATCHES.labels(service=self.service)
            while not self.stop.is_set():
                applied = APPLIED.get(self.service)
                built = self._run_round(runners)
                backoff.reset()
                if APPLIED.get(self.service) > applied:
                    batches.inc()
                if built is not None:
                    break  # every runner stops; the next session follows the switched view
                self.after_round(runners)
        if built is not None and not self.stop.is_set():
            self._switch_over(built.feed)


def run_guarded(label: str, action: Callable[[], Any]) -> Any:
    """Periodic work beside the feeds (alerts, digests, notifications): a failure is logged
    (without a traceback when it is the database's) and retried at the next round."""
    try:
        return action()
    except Exception as exc:  # retried next round; the feeds keep running
        event = f"{label}_failed"  # a structlog event name, e.g. alerts_failed
        if database_outage(exc) is not None:
            log.warning(event, error=short_error(exc, 300))
        else:
            log.exception(event)
        return None

