"""A worker's rounds (`shared.worker.FeedWorker._run_round`): a view built beside the live one
is switched over as soon as it has caught up, not at the end of the round it caught up in."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.worker import BUILT_CHECK_SECONDS, FeedWorker


class Runner:
    """A feed runner as the worker sees it: `run_forever` lets its threads run for `timeout`
    (here: sleeps, counted), `position` answers (its tracking position, the source's head)."""

    def __init__(self, *, beside: bool, caught_up_after: int) -> None:
        self.beside = beside
        self.waits: list[float] = []
        self.caught_up_after = caught_up_after  # calls of run_forever
        self.feed: Any = type("Feed", (), {"label": "agreements"})()

    def run_forever(self, timeout: float) -> None:
        self.waits.append(timeout)
        time.sleep(timeout)

    def position(self) -> tuple[int, int]:
        return (10 if len(self.waits) >= self.caught_up_after else 3), 10


class Worker(FeedWorker):
    service = "registry"
    schema = "registry"
    feeds = ()
    lag_query = ""
    round_seconds = 3600.0  # a round that never ends by itself in a test


def test_a_build_beside_ends_the_round_as_soon_as_it_has_caught_up() -> None:
    worker = Worker(settings=None, database_url="")
    live, build = Runner(beside=False, caught_up_after=0), Runner(beside=True, caught_up_after=3)
    assert worker._run_round([live, build]) is build  # noqa: SLF001 - the loop's step under test
    # Looked at after each short wait: three waits, not a round of an hour.
    assert len(build.waits) == len(live.waits) == 3
    assert all(wait <= BUILT_CHECK_SECONDS for wait in build.waits)


def test_without_a_build_a_round_is_one_wait_of_its_length() -> None:
    worker = Worker(settings=None, database_url="")
    worker.round_seconds = 0.02
    runners = [Runner(beside=False, caught_up_after=0), Runner(beside=False, caught_up_after=0)]
    assert worker._run_round(runners) is None  # noqa: SLF001
    for runner in runners:
        assert runner.waits == [pytest.approx(0.01, abs=0.002)]


def test_a_worker_told_to_stop_ends_a_build_round_at_its_next_look() -> None:
    worker = Worker(settings=None, database_url="")
    build = Runner(beside=True, caught_up_after=10**9)  # never caught up
    worker.stop.set()
    assert worker._run_round([build]) is None  # noqa: SLF001
    assert len(build.waits) == 1
