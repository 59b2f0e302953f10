"""Group commit: concurrent commands share one event-store transaction.

eventsourcing's PostgreSQL recorder takes `LOCK TABLE ... IN EXCLUSIVE MODE` on the events
table for every save, so saves are serialised behind each other's commit: one command per
transaction caps a service at a few hundred durable writes a second, however many requests
wait. Here request threads hand over their decided commands (an aggregate's pending events)
and wait; one writer thread per application takes everything queued (up to `max_batch`
commands, with no waiting beyond what queued while the previous batch committed: classic
group commit) and stores it with one `events.put` (one transaction, one lock, one fsync).

Every command is all or nothing and answered only after its transaction commits:
- a version conflict (`IntegrityError`: a writer saved the same version first) fails only its
  own command. Two commands of one batch on the same version: the later fails (answered after
  the earlier one). When a
  batch fails, one query of the aggregates' stored versions names the stale commands, which
  fail, and the rest is saved again; a conflict it cannot name (a race with a writer outside
  this committer) or an error of one command's own (an event the mapper cannot encode) is
  found by saving the batch's halves apart, down to the command(s) concerned;
- an outage (`OperationalError` or `InterfaceError` once eventsourcing's retries are spent)
  fails every command of the batch, none of which committed.

A command's events are collected once, by the caller (a failed save has already emptied an
aggregate's pending events, so a retry saves the collected events, as the legacy import does).
The writer does what `Application.save` does after recording (snapshots, the `_notify` and
`notify` hooks) before it answers; the recorder's per-thread state (`HashChainRecorder`) is
the writer thread's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import structlog
from eventsourcing.application import Application, ProcessingEvent, Recording
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Identifier

log = structlog.get_logger("ksd.group_commit")

# Most commands per transaction. A lifecycle action is one event; 256 keep a batch's
# transaction short (tens of milliseconds) while amortising the lock and the fsync.
DEFAULT_MAX_BATCH = 256


class GroupCommitterClosed(RuntimeError):
    """The application is closing: the command was not saved."""


class _Command:
    __slots__ = ("aggregates", "events", "future")

    def __init__(self, aggregates: dict[Any, Any], events: list[Any]) -> None:
        self.aggregates = aggregates
        self.events = events
        self.future: Future[list[Recording[Any]]] = Future()


class GroupCommitter:
    """One writer thread saving queued commands of `app` in shared transactions.

    `commit(*aggregates)` blocks until the command's transaction committed (and returns its
    recordings) or failed (and raises what the store raised). The writer starts on the first
    command; `close()` saves what is queued, then stops it."""

    def __init__(self, app: Application[Any], *, max_batch: int = DEFAULT_MAX_BATCH, name: str | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.app = app
        self.max_batch = max_batch
        self.name = name or f"ksd-group-commit-{app.name}"
        self._queue: deque[_Command] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        # What the last batches looked like (a benchmark reads them; nothing depends on them).
        self.batches = 0
        self.commands = 0

    # -- callers -------------------------------------------------------------------------

    def commit(self, *aggregates: Any) -> list[Recording[Any]]:
        """Save one command (these aggregates' pending events, in order) in the next batch."""
        events: list[Any] = []
        by_id: dict[Any, Any] = {}
        for aggregate in aggregates:
            if aggregate is None:
                continue
            events.extend(aggregate.collect_events())
            by_id[aggregate.id] = aggregate
        if not events:
            return []
        command = _Command(by_id, events)
        with self._ready:
            if self._closed:
                raise GroupCommitterClosed(f"{self.app.name} is closing; nothing was saved")
            self._queue.append(command)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._ready.notify()
        return command.future.result()

    def close(self, timeout: float | None = 30.0) -> None:
        """Save what is queued, then stop the writer (new commands are refused)."""
        with self._ready:
            self._closed = True
            thread = self._thread
            self._ready.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            log.info("group_commit_stopped", application=self.app.name, batches=self.batches, commands=self.commands)
        with self._ready:  # a writer that did not stop in time: its callers are not left waiting
            left = list(self._queue)
            self._queue.clear()
        for command in left:
            _fail(command, GroupCommitterClosed(f"{self.app.name} closed; nothing was saved"))

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- the writer ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return  # closed and drained
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
            kept, later = _claimed_once(batch)
            try:
                self._save(kept)
            except BaseException as exc:  # noqa: BLE001 - every waiting caller gets the error
                for command in batch:
                    _fail(command, exc)
            for command in later:  # answered once the earlier command on their version is
                _fail(command, IntegrityError("version written by an earlier command of the same batch"))
            self.batches += 1
            self.commands += len(batch)

    def _save(self, batch: Sequence[_Command], *, checked: bool = False) -> None:
        """Save `batch` in one transaction. When that fails, the commands whose versions are
        stored already (stale, by one query of the stored versions) fail with a conflict and the
        rest are saved again; when that query cannot name one (it failed), the conflict is found
        by saving the halves apart. Any other error is the whole batch's (nothing committed)."""
        if not batch:
            return
        processing = ProcessingEvent[Any]()
        for command in batch:
            processing.events.extend(command.events)
            processing.aggregates.update(command.aggregates)
        try:
            recordings = self.app._record(processing)  # noqa: SLF001 - Application.save's own steps
        except IntegrityError as exc:  # a version already stored; an outage fails the whole batch
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            if not checked and (stale := self._stale(batch)):
                self._fail_stale(batch, stale, exc)
                return
            middle = len(batch) // 2
            self._save(batch[:middle], checked=True)
            self._save(batch[middle:], checked=True)
            return
        # Committed. What Application.save does next; a failure here loses no event (a
        # snapshot is only a shortcut for loading), so it is logged, not answered.
        app = self.app
        try:
            app._take_snapshots(processing)  # noqa: SLF001
            app._notify(recordings)  # noqa: SLF001
            app.notify(processing.events)
        except Exception:
            log.warning("after_commit_step_failed", application=app.name, exc_info=True)
        start = 0
        for command in batch:
            end = start + len(command.events)
            if not command.future.done():
                command.future.set_result(recordings[start:end])
            start = end

    def _fail_stale(self, batch: Sequence[_Command], stale: set[int], exc: BaseException) -> None:
        for i in stale:
            _fail(batch[i], IntegrityError(f"version already stored: {exc}"))
        self._save([c for i, c in enumerate(batch) if i not in stale], checked=True)

    def _stale(self, batch: Sequence[_Command]) -> set[int]:
        """Positions in `batch` of the commands with an event at a version already stored
        (one query of each aggregate's last version); empty when that cannot be asked."""
        recorder = self.app.recorder
        datastore = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", None)
        if datastore is None or table is None or not hasattr(datastore, "transaction"):
            return set()
        ids = list({e.originator_id for c in batch for e in c.events})
        query = SQL(
            "SELECT originator_id, max(originator_version) AS version FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(schema=Identifier(datastore.schema), table=Identifier(table))
        try:
            with datastore.transaction(commit=False) as curs:
                curs.execute(query, (ids,), prepare=False)
                last = {row["originator_id"]: row["version"] for row in curs.fetchall()}
        except Exception:  # unknown: the caller's error stands
            log.warning("group_commit_version_check_failed", application=self.app.name, exc_info=True)
            return set()
        return {
            i for i, command in enumerate(batch)
            if any(e.originator_version <= last.get(e.originator_id, 0) for e in command.events)
        }


def _claimed_once(batch: list[_Command]) -> tuple[list[_Command], list[_Command]]:
    """The batch split in the commands to save and those that write a version an earlier
    command of the batch writes (two requests that decided on the same version): whatever
    becomes of the earlier one, that version is not theirs, so they fail with a conflict."""
    claimed: set[tuple[Any, int]] = set()
    kept, later = [], []
    for command in batch:
        versions = {(e.originator_id, e.originator_version) for e in command.events}
        if claimed.isdisjoint(versions):
            claimed |= versions
            kept.append(command)
        else:
            later.append(command)
    return kept, later


def _fail(command: _Command, exc: BaseException) -> None:
    if not command.future.done():
        command.future.set_exception(exc)
