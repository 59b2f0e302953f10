"""Worker heartbeats for tests that build the HTTP apps without their worker processes:
`/ready` needs a live worker of the service (shared.readiness)."""

from __future__ import annotations

import importlib
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
