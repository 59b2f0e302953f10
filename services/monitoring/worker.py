"""The monitoring worker (`ksd worker monitoring`): follows the registry's events and this
service's own, keeps the read model and the alerts, re-evaluates every alert as time passes
(each new day in WIB, and every `alert_refresh_seconds`), and delivers the notification
outbox. A restart resumes from the tracking positions: nothing is lost or applied twice.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import structlog
from eventsourcing.projection import ProjectionRunner

from services.monitoring.application import Monitoring
from services.monitoring.notify import Notifier
from services.monitoring.setup import LAG_QUERY, monitoring_env, registry_feed_env
from services.monitoring.views import MonitoringFeed, MonitoringView, RegistryFeed
from services.registry.application import Registry
from shared.clock import Clock
from shared.settings import Settings

log = structlog.get_logger("ksd.worker")


@dataclass
class Runners:
    registry_feed: ProjectionRunner
    monitoring_feed: ProjectionRunner

    @property
    def view(self) -> MonitoringView:
        return self.registry_feed.view  # type: ignore[return-value]

    def run_for(self, timeout: float) -> None:
        """Let both feeds run (each in its own thread) for `timeout`; re-raise their errors."""
        self.registry_feed.run_forever(timeout=timeout / 2)
        self.monitoring_feed.run_forever(timeout=timeout / 2)


@contextmanager
def make_runners(database_url: str, settings: Settings, clock: Clock | None = None) -> Iterator[Runners]:
    view_class = MonitoringView.configured(settings, clock)  # configured before any event arrives
    with ExitStack() as stack:
        registry_feed = stack.enter_context(ProjectionRunner(
            application_class=Registry, projection_class=RegistryFeed, view_class=view_class,
            env=registry_feed_env(database_url),
        ))
        monitoring_feed = stack.enter_context(ProjectionRunner(
            application_class=Monitoring, projection_class=MonitoringFeed, view_class=view_class,
            env=monitoring_env(database_url, pool_size=2),
        ))
        yield Runners(registry_feed, monitoring_feed)


# Alerts are reviewed when the feeds are this close to the head (live), so a catch-up over
# old events evaluates each agreement once in its present state; at the latest every
# REVIEW_AT_LEAST_EVERY seconds even under sustained load.
LIVE_LAG = 1000
REVIEW_AT_LEAST_EVERY = 60.0


def _lag(view: MonitoringView) -> int:
    """Events not yet in the read model, both feeds, on the view's own pool (every round)."""
    with view.datastore.transaction(commit=False) as curs:
        curs.execute(LAG_QUERY)
        return sum(curs.fetchone().values())


def run(settings: Settings, database_url: str, stop: threading.Event | None = None, clock: Clock | None = None) -> None:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    next_full = 0.0
    last_review = time.monotonic()
    with make_runners(database_url, settings, clock) as runners, Notifier(database_url, settings, clock=clock) as notifier:
        log.info("monitoring_worker_started")
        while not stop.is_set():
            runners.run_for(0.5)  # re-raises a feed's error, ending the worker (restarted, it resumes)
            try:
                if _lag(runners.view) <= LIVE_LAG or time.monotonic() - last_review > REVIEW_AT_LEAST_EVERY:
                    while runners.view.review_due():
                        pass
                    last_review = time.monotonic()
                    force = time.monotonic() >= next_full
                    refreshed = runners.view.refresh_all(force=force)  # also whenever the date changes
                    if force:
                        next_full = time.monotonic() + settings.alert_refresh_seconds
                    if refreshed:
                        log.info("alerts_refreshed", evaluated=refreshed)
            except Exception:  # noqa: BLE001 - retried next round; the feeds keep running
                log.exception("alert_review_failed")
            try:
                notifier.deliver_due()
            except Exception:  # noqa: BLE001 - the outbox keeps it; retried next round
                log.exception("notification_delivery_failed")
    log.info("monitoring_worker_stopped")
