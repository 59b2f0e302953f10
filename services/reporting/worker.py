"""The reporting worker (`ksd worker reporting`): follows the registry's, the monitoring
service's and this service's events into the reporting read model, each feed in its own
thread. A restart resumes from the tracking positions: nothing is lost or applied twice.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import structlog
from eventsourcing.projection import ProjectionRunner

from services.reporting.setup import FEEDS
from shared.settings import Settings

log = structlog.get_logger("ksd.worker")


@contextmanager
def make_runners(database_url: str) -> Iterator[list[ProjectionRunner]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(ProjectionRunner(
                application_class=app, projection_class=projection, view_class=view, env=env_of(database_url),
            ))
            for app, projection, view, env_of in FEEDS
        ]


def run_for(runners: list[ProjectionRunner], timeout: float) -> None:
    """Let every feed run for `timeout` in all; re-raise a feed's error."""
    for runner in runners:
        runner.run_forever(timeout=timeout / len(runners))


def run(settings: Settings, database_url: str, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with make_runners(database_url) as runners:
        log.info("reporting_worker_started", feeds=[r.projection.name for r in runners])
        while not stop.is_set():
            run_for(runners, 0.6)  # re-raises a feed's error, ending the worker (restarted, it resumes)
    log.info("reporting_worker_stopped")
