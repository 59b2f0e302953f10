"""The registry's projection worker: follows the event store and keeps the read model.

Runs in its own process (`ksd worker registry`). It resumes from the tracking position
committed with the last row it wrote, so a restart neither loses nor repeats an event.
"""

from __future__ import annotations

import signal
import threading

import structlog
from eventsourcing.projection import ProjectionRunner

from services.registry.application import Registry
from services.registry.projections.agreements import AgreementsProjection, PostgresAgreementsView
from services.registry.setup import registry_env
from shared.settings import Settings

log = structlog.get_logger("ksd.worker")


def make_runner(database_url: str) -> ProjectionRunner:
    return ProjectionRunner(
        application_class=Registry,
        projection_class=AgreementsProjection,
        view_class=PostgresAgreementsView,
        env=registry_env(database_url, pool_size=2),
    )


def run(settings: Settings, database_url: str, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with make_runner(database_url) as runner:
        log.info("projection_started", projection=AgreementsProjection.name)
        while not stop.is_set() and not runner.is_interrupted.is_set():
            runner.run_forever(timeout=0.5)  # re-raises a projection error, ending the worker
    log.info("projection_stopped", projection=AgreementsProjection.name)
