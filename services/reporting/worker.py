"""The reporting worker (`ksd worker reporting`): follows the registry's, the monitoring
service's and this service's events into the reporting read model, each feed in its own
thread. A restart resumes from the tracking positions: nothing is lost or applied twice. An
event the read model cannot hold becomes a dead letter; a lost database is waited for
(shared.worker, shared.projection).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from services.reporting.setup import FEEDS, LAG_QUERY, SCHEMA
from shared.projection import FeedRunner
from shared.settings import Settings
from shared.worker import FeedWorker, run_guarded


@contextmanager
def make_runners(database_url: str) -> Iterator[list[FeedRunner]]:
    """Every feed, as the worker runs them (tests drive them with `run_for`)."""
    with ExitStack() as stack:
        yield [stack.enter_context(FeedRunner(ReportingWorker.service, feed, database_url)) for feed in FEEDS]


def run_for(runners: list[FeedRunner], timeout: float) -> None:
    """Let every feed run for `timeout` in all; re-raise a feed's error."""
    for runner in runners:
        runner.run_forever(timeout=timeout / len(runners))


class ReportingWorker(FeedWorker):
    service = "reporting"
    schema = SCHEMA
    feeds = FEEDS
    lag_query = LAG_QUERY
    round_seconds = 0.6

    def after_round(self, runners: list[FeedRunner]) -> None:
        run_guarded("period_totals", lambda: count_stale(runners))


def count_stale(runners: list[FeedRunner]) -> bool:
    """When the registry feed has caught up, the period totals a catch-up left stale are
    counted again (services.reporting.totals): its last batch may have been a large one, after
    which no live batch came. The feed's position is looked up only when some are stale. True
    when it counted."""
    [runner] = [r for r in runners if r.feed.label == "registry_feed"]

    def caught_up() -> bool:
        position, head = runner.position()
        return position >= head

    return bool(runner.view.count_stale(caught_up))  # type: ignore[attr-defined]  # the agreements view


def run(settings: Settings, database_url: str, stop: threading.Event | None = None) -> None:
    ReportingWorker(settings, database_url, stop=stop).run()
