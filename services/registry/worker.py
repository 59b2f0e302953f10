"""The registry's projection worker: follows the event store and keeps the read model.

Runs in its own process (`ksd worker registry`). It resumes from the tracking position
committed with the last row it wrote, so a restart neither loses nor repeats an event; an
event the read model cannot hold becomes a dead letter instead of stopping it, and a lost
database is waited for (shared.worker, shared.projection). Beside the feed it signs the
transparency log's tree heads (every KSD_AUDIT_HEAD_INTERVAL_SECONDS; the hourly national
digest it signed before is retired) and sweeps orphan documents.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from typing import Any

import structlog

from services.registry.audit import Audit
from services.registry.setup import FEEDS, LAG_QUERY, SCHEMA
from shared.audit.log_store import LogInconsistent
from shared.audit.signing import signing_key_from_settings
from shared.metrics import AUDIT_HEAD_REFUSED
from shared.projection import FeedRunner
from shared.settings import Settings
from shared.worker import FeedWorker, run_guarded

log = structlog.get_logger("ksd.worker")


def make_runner(database_url: str) -> FeedRunner:
    """The agreements feed, as the worker runs it (tests drive it with `run_forever`)."""
    return FeedRunner(RegistryWorker.service, FEEDS[0], database_url)


class RegistryWorker(FeedWorker):
    service = "registry"
    schema = SCHEMA
    feeds = FEEDS
    lag_query = LAG_QUERY

    def __init__(self, settings: Settings, database_url: str, *, stop: threading.Event | None = None) -> None:
        super().__init__(settings, database_url, stop=stop)
        self.key = signing_key_from_settings(settings)
        self.next_head = 0.0  # at start, then every audit_head_interval_seconds
        self.next_sweep = 0.0  # at start, then every blob_sweep_interval_seconds
        self.blobs: Any = None

    def start_session(self, stack: ExitStack, runners: list[FeedRunner]) -> None:
        self.audit = Audit(runners[0].app, signing_key=self.key)  # the runner's own application and pool

    def after_round(self, runners: list[FeedRunner]) -> None:
        if time.monotonic() >= self.next_head:
            self.next_head = time.monotonic() + self.settings.audit_head_interval_seconds
            run_guarded("tree_head", self._sign_heads)
        if time.monotonic() >= self.next_sweep:
            self.next_sweep = time.monotonic() + self.settings.blob_sweep_interval_seconds
            run_guarded("blob_sweep", self._sweep_blobs)

    def _sign_heads(self) -> None:
        """Sign tree heads of the transparency log if it grew (bounded work per round). A log
        edited behind the platform's back is never signed over: a critical alert and a
        metric, and the worker keeps serving."""
        try:
            heads = self.audit.sign_heads(budget_seconds=max(1.0, self.settings.audit_head_interval_seconds / 2))
        except LogInconsistent as exc:
            AUDIT_HEAD_REFUSED.inc()
            log.critical("audit_head_refused", error=str(exc))
            return
        if heads:
            log.info("tree_head_signed", size=heads[-1].size, root=heads[-1].root.hex(), heads=len(heads))

    def _sweep_blobs(self) -> None:
        """Delete documents no event references and abandoned uploads (`ksd sweep-blobs`)."""
        from services.registry.application import sweep_orphan_blobs
        from shared.blobs import make_blob_store

        if self.blobs is None:
            self.blobs = make_blob_store(self.settings)
        swept = sweep_orphan_blobs(self.audit.registry, self.blobs, self.settings.blob_sweep_grace_seconds)
        if swept.deleted or swept.staged_deleted or swept.staged_promoted or swept.missing:
            log.info("blobs_swept", **swept.as_dict())


def run(settings: Settings, database_url: str, stop: threading.Event | None = None) -> None:
    RegistryWorker(settings, database_url, stop=stop).run()
