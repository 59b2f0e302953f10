"""Faults under `ksd run`, as an unlucky operator meets them: workers SIGKILLed in the middle
of their work and PostgreSQL restarted while officials keep writing. Afterwards every write
the platform acknowledged is in the event store and in every read model (the registry's,
the monitoring service's and the reporting service's), with no manual step: the supervisor
restarts what died and the workers resume from their tracking positions.

The database is a private cluster of this test (it is restarted, so never the shared
server); the figures of a run are printed (`-s`) and recorded in tests/README.md.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared import pgembed
from tests.conftest import cluster_dir, live_children
from tests.e2e.test_platform_processes import Platform, call, platform_env
from tests.e2e.test_registry_http import BANDUNG

WORKERS = ("registry", "monitoring", "reporting")


def worker_pids(parent: int) -> dict[str, set[int]]:
    """The pids of the `ksd worker NAME` processes that `parent` (one `ksd run`) started, by
    worker name: never another platform's on the same machine (a developer's `make run`)."""
    found: dict[str, set[int]] = {name: set() for name in WORKERS}
    for pid, args in live_children(parent).items():
        if len(args) >= 2 and args[-2] == "worker" and args[-1] in found:
            found[args[-1]].add(pid)
    return found


class Writers:
    """Officials creating agreements as fast as the platform answers, on a few threads; an
    agreement counts as acknowledged only when the answer was 201 with its id."""

    def __init__(self, platform: Platform, threads: int = 4) -> None:
        self.platform = platform
        self.acknowledged: list[str] = []
        self.refused: dict[str, int] = {}
        self.tried = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _write(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            body = json.dumps({**BANDUNG, "title": f"Ketahanan {n}-{i}"}).encode()
            request = urllib.request.Request(
                f"{self.platform.registry}/agreements", method="POST", data=body,
                headers={"Authorization": f"Bearer {self.platform.token}", "Content-Type": "application/json"},
            )
            outcome = "ok"
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # loopback
                    created = json.loads(response.read())
                    if response.status == 201:
                        with self._lock:
                            self.acknowledged.append(created["id"])
            except urllib.error.HTTPError as exc:
                outcome = str(exc.code)
            except OSError as exc:
                outcome = type(exc).__name__
            with self._lock:
                self.tried += 1
                if outcome != "ok":
                    self.refused[outcome] = self.refused.get(outcome, 0) + 1
            if outcome != "ok":
                time.sleep(0.05)


@pytest.fixture()
def private_cluster() -> Iterator[Path]:
    with cluster_dir("ksd-faults-") as base:
        yield base


def _missing(conn: psycopg.Connection, table: str, ids: list[str]) -> list[str]:
    rows = conn.execute(f"SELECT id::text FROM {table} WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
    return sorted(set(ids) - {r[0] for r in rows})


def test_acknowledged_writes_survive_killed_workers_and_a_restarted_database(private_cluster: Path) -> None:
    server = pgembed.ensure_server(private_cluster, dbname="ksd")
    platform = Platform(platform_env(DATABASE_URL=server.url, KSD_DATA_DIR=str(private_cluster / "state")))
    kills = 0
    try:
        before = worker_pids(platform.proc.pid)
        assert all(before[name] for name in WORKERS), before
        with Writers(platform) as writers:
            time.sleep(3)
            # Every worker killed in the middle of its work (writes are flowing), twice.
            for _round in range(2):
                for name in WORKERS:
                    for pid in worker_pids(platform.proc.pid)[name]:
                        os.kill(pid, signal.SIGKILL)
                        kills += 1
                time.sleep(3)
            # PostgreSQL restarted under load: fast shutdown, then started again on its port.
            pgembed.stop_server(private_cluster)
            time.sleep(1)
            pgembed.ensure_server(private_cluster, dbname="ksd")
            time.sleep(6)
        acknowledged = list(writers.acknowledged)
        assert len(acknowledged) > 50, (writers.tried, writers.refused)
        # While the database was down, the answer was 503 (retry later), never a 500.
        assert not [code for code in writers.refused if code.startswith("5") and code != "503"], writers.refused

        # Every acknowledged write is in the event store at once, and in every read model
        # once the restarted workers have caught up, with nobody doing anything.
        deadline = time.monotonic() + 120
        with psycopg.connect(server.url, autocommit=True) as conn:
            stored = conn.execute(
                "SELECT count(DISTINCT originator_id) FROM registry.registry_events"
                " WHERE originator_id = ANY(%s::uuid[])",
                (acknowledged,),
            ).fetchone()[0]
            assert stored == len(acknowledged)
            while True:
                missing = {
                    table: _missing(conn, table, acknowledged)
                    for table in ("registry.agreements", "monitoring.agreements", "reporting.agreements")
                }
                if not any(missing.values()) or time.monotonic() > deadline:
                    break
                time.sleep(1)
        assert {t: len(m) for t, m in missing.items()} == dict.fromkeys(missing, 0)

        after = worker_pids(platform.proc.pid)
        for name in WORKERS:
            assert after[name] and not (after[name] & before[name]), f"{name} worker was not restarted"
        # And the services answer again: a new write is acknowledged and listed.
        status, created = call("POST", f"{platform.registry}/agreements", platform.token,
                               {**BANDUNG, "title": "Sesudah gangguan"})
        assert status == 201
        assert platform.find("sesudah gangguan") == [{"node": {"id": created["id"]}}]
        print(  # noqa: T201 - the figures for tests/README.md
            f"\nfaults: {writers.tried} requests tried, {kills} workers SIGKILLed, 1 PostgreSQL restart, "
            f"{len(acknowledged)} writes acknowledged, {len(acknowledged)} found in the event store and in 3 read "
            f"models; refused or failed while down: {writers.refused}"
        )
    finally:
        platform.stop()
