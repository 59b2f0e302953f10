"""The monitoring worker (`ksd worker monitoring`): follows the registry's events and this
service's own, keeps the read model and the alerts, re-evaluates every alert as time passes
(each new day in WIB, and every `alert_refresh_seconds`), and delivers the notification
outbox. A restart resumes from the tracking positions: nothing is lost or applied twice. An
event the read model cannot hold becomes a dead letter; a lost database is waited for
(shared.worker, shared.projection).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from services.monitoring.notify import Notifier
from services.monitoring.setup import BACKLOG_QUERY, FEEDS, LAG_QUERY
from services.monitoring.views import SCHEMA, RecordsView
from shared.clock import Clock
from shared.metrics import NOTIFICATION_BACKLOG
from shared.projection import FeedRunner
from shared.settings import Settings
from shared.worker import FeedWorker, run_guarded

log = structlog.get_logger("ksd.worker")


@dataclass
class Runners:
    registry_feed: FeedRunner
    monitoring_feed: FeedRunner

    @property
    def view(self) -> RecordsView:
        """The monitoring feed's view: its alert store reviews the live tables."""
        return self.monitoring_feed.view  # type: ignore[return-value]

    def run_for(self, timeout: float) -> None:
        """Let both feeds run (each in its own thread) for `timeout`; re-raise their errors."""
        self.registry_feed.run_forever(timeout=timeout / 2)
        self.monitoring_feed.run_forever(timeout=timeout / 2)


@contextmanager
def make_runners(database_url: str, settings: Settings, clock: Clock | None = None) -> Iterator[Runners]:
    """Both feeds, as the worker runs them (tests drive them with `run_for`)."""
    with ExitStack() as stack:
        registry_feed, monitoring_feed = (
            # configured before any event arrives
            stack.enter_context(FeedRunner(MonitoringWorker.service, feed, database_url,
                                           view_class=feed.view_class(settings, clock)))
            for feed in FEEDS
        )
        yield Runners(registry_feed, monitoring_feed)


# Alerts are reviewed when the feeds are this close to the head (live), so a catch-up over
# old events evaluates each agreement once in its present state; at the latest every
# REVIEW_AT_LEAST_EVERY seconds even under sustained load.
LIVE_LAG = 1000
REVIEW_AT_LEAST_EVERY = 60.0


def _lag(view: RecordsView) -> int:
    """Events not yet in the read model, both feeds, on the view's own pool (every round)."""
    with view.datastore.transaction(commit=False) as curs:
        curs.execute(LAG_QUERY)
        row = curs.fetchone()
    if row is None:  # not reached: the lag query (scalar subqueries) answers one row
        raise LookupError("the lag query answered no row")
    return sum(row.values())


class MonitoringWorker(FeedWorker):
    service = "monitoring"
    schema = SCHEMA
    feeds = FEEDS
    lag_query = LAG_QUERY

    def __init__(
        self, settings: Settings, database_url: str, *, stop: threading.Event | None = None, clock: Clock | None = None,
    ) -> None:
        super().__init__(settings, database_url, stop=stop, clock=clock)
        self._view_classes = {feed.label: feed.view_class(settings, clock) for feed in FEEDS}  # built once
        self.next_full = 0.0
        self.last_review = time.monotonic()

    def view_class(self, feed: Any) -> type:
        return self._view_classes[feed.label]

    def start_session(self, stack: ExitStack, runners: list[FeedRunner]) -> None:
        # The monitoring feed's view: its alert store reviews the live tables (the registry
        # feed may be filling a new shape beside them).
        self.view: RecordsView = runners[1].view  # type: ignore[assignment]
        self.notifier = stack.enter_context(Notifier(self.database_url, self.settings, clock=self.clock))

    def after_round(self, runners: list[FeedRunner]) -> None:
        run_guarded("alert_review", self._review)  # retried next round; the feeds keep running
        run_guarded("notification_delivery", self.notifier.deliver_due)  # the outbox keeps it

    def _review(self) -> None:
        view = self.view
        if _lag(view) > LIVE_LAG and time.monotonic() - self.last_review <= REVIEW_AT_LEAST_EVERY:
            return
        while view.alerts.review_due() and not self.stop.is_set():
            pass
        self.last_review = time.monotonic()
        force = time.monotonic() >= self.next_full
        refreshed = view.alerts.refresh_all(force=force)  # also whenever the date changes
        if force:
            self.next_full = time.monotonic() + self.settings.alert_refresh_seconds
        if refreshed:
            log.info("alerts_refreshed", evaluated=refreshed)

    def heartbeat_details(self, conn: psycopg.Connection) -> dict[str, Any]:
        backlog = {k: int(v) for k, v in conn.execute(BACKLOG_QUERY).fetchone().items()}  # type: ignore[union-attr]
        for state, value in backlog.items():
            NOTIFICATION_BACKLOG.labels(service=self.service, state=state).set(value)
        return {"notification_backlog": backlog}


def run(settings: Settings, database_url: str, stop: threading.Event | None = None, clock: Clock | None = None) -> None:
    MonitoringWorker(settings, database_url, stop=stop, clock=clock).run()
