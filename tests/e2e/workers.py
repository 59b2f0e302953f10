"""Worker heartbeats for tests that build the HTTP apps without their worker processes:
`/ready` needs a live worker of the service (shared.readiness)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.worker import Heartbeat

SERVICES = ("registry", "monitoring", "reporting")


def heartbeat(database_url: str, service: str, interval: float = 1.0) -> Heartbeat:
    """The heartbeat `service`'s worker writes (not started)."""
    setup: Any = importlib.import_module(f"services.{service}.setup")
    return Heartbeat(database_url, service=service, schema=setup.SCHEMA, lag_query=setup.LAG_QUERY,
                     feeds=setup.FEEDS, interval=interval)


@contextmanager
def beating(database_url: str, *services: str) -> Iterator[list[Heartbeat]]:
    """Running workers' heartbeats for `services` (default: all three) while inside."""
    beats: list[Heartbeat] = []
    try:
        for name in services or SERVICES:
            beat = heartbeat(database_url, name)
            beat.set("running")
            assert beat.beat(), f"cannot write the {name} worker's heartbeat"  # before anyone reads it
            beats.append(beat.start())
        yield beats
    finally:
        for beat in beats:
            beat.stop()


class WorkerThread:
    """A service's worker as `ksd worker` runs it, in a thread (started at once)."""

    def __init__(self, service: str, settings: Any, url: str) -> None:
        self.stop = threading.Event()
        run = importlib.import_module(f"services.{service}.worker").run
        self.thread = threading.Thread(target=run, args=(settings, url, self.stop), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the worker did not stop"
