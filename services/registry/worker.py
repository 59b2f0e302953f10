"""The registry's projection worker: follows the event store and keeps the read model.

Runs in its own process (`ksd worker registry`). It resumes from the tracking position
committed with the last row it wrote, so a restart neither loses nor repeats an event.
"""

from __future__ import annotations

import signal
import threading
import time

import structlog
from eventsourcing.projection import ProjectionRunner

from services.registry.application import Registry
from services.registry.audit import Audit
from services.registry.projections.agreements import AgreementsProjection, PostgresAgreementsView
from services.registry.setup import registry_env
from shared.audit.signing import signing_key_from_settings
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
    key = signing_key_from_settings(settings)
    next_digest = 0.0  # at start, then every audit_digest_interval_seconds
    with make_runner(database_url) as runner:
        audit = Audit(runner.app, signing_key=key)  # the runner's own application and pool
        log.info("projection_started", projection=AgreementsProjection.name)
        while not stop.is_set() and not runner.is_interrupted.is_set():
            runner.run_forever(timeout=0.5)  # re-raises a projection error, ending the worker
            if time.monotonic() >= next_digest:
                next_digest = time.monotonic() + settings.audit_digest_interval_seconds
                _issue_digest(audit)
    log.info("projection_stopped", projection=AgreementsProjection.name)


def _issue_digest(audit: Audit) -> None:
    """Sign the national digest if anything was recorded since the last one. Several
    workers may try at once; the store lets one sign at a time and the rest find nothing new."""
    try:
        digest = audit.issue_digest()
    except Exception:  # noqa: BLE001 - a failed digest must not stop the projection; retried next interval
        log.exception("digest_failed")
        return
    if digest is not None:
        log.info("digest_signed", sequence=digest.sequence, agreements=digest.tree_size, root=digest.root)
