"""`ksd run` keeps the platform up: a process that dies is reported in one line and started
again with backoff while the others keep running; under the embedded default a PostgreSQL that
dies is started again; every process stays within its connection budget; the budget is checked
before anything starts; SIGTERM still stops everything cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from shared.db import connection_budget
from shared.settings import Settings
from tests.conftest import cluster_dir, free_port, fresh_database, live_children
from tests.e2e.test_platform_processes import PORTS, SERVICES, call
from tests.e2e.test_registry_http import BANDUNG

POOL_MAX = 2


def child_processes(parent: int) -> dict[str, int]:
    """{process name as `ksd run` calls it: pid} of `parent`'s live children, from /proc."""
    found: dict[str, int] = {}
    for pid, words in live_children(parent).items():
        if "worker" in words:
            found[f"{words[words.index('worker') + 1]}-worker"] = pid
        for service in PORTS:
            if f"services.{service}.app:create_app" in words:
                found[service] = pid
    return found


class Run:
    """One `ksd run`, its output read by a thread (so the pipe never fills)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.ports = {name: int(env[f"KSD_{name.upper()}_PORT"]) for name in PORTS}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ksd.cli", "run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(lambda: any("Ctrl-C" in line for line in self.lines), 120, "the banner")
        self.token = next(line.split()[-1] for line in self.lines if line.strip().startswith("32.73 "))
        self.registry = f"http://127.0.0.1:{self.ports['registry']}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {what} within {timeout:.0f} s:\n{self.output[-4000:]}")
            time.sleep(0.2)

    def children(self) -> dict[str, int]:
        return child_processes(self.proc.pid)

    def create(self, title: str, timeout: float = 60) -> dict:
        """POST /agreements, retried while the service is coming back."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, created = call("POST", f"{self.registry}/agreements", self.token, {**BANDUNG, "title": title})
                assert status == 201
                return created
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def find(self, words: str, timeout: float = 60) -> list[dict]:
        """GraphQL search, retried while the worker catches up."""
        query = {"query": f'{{ agreements(filter: {{q: "{words}"}}) {{ edges {{ node {{ id }} }} }} }}'}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, body = call("POST", f"{self.registry}/graphql", self.token, query)
                if (body.get("data") or {}).get("agreements", {}).get("edges"):
                    return body["data"]["agreements"]["edges"]
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        return []

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.proc.returncode == 0, self.output[-4000:]
        assert "selesai / done" in self.output
        assert self.children() == {}
        return self.output


def run_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSD_") and k != "DATABASE_URL"}
    env.update({f"KSD_{name.upper()}_PORT": str(free_port()) for name in PORTS})
    env.update({"KSD_LOG_LEVEL": "warning", "KSD_DB_POOL_MAX": str(POOL_MAX), "KSD_WORKER_METRICS_PORT": "0", **extra})
    return env


@pytest.fixture
def own_database(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_supervised") as url:
        yield url


def connections_by_process(url: str) -> dict[str, int]:
    """Connections to `url`'s database now, by the process `ksd run` named them after
    (PGAPPNAME; a worker's heartbeat connection counts as the worker's)."""
    budget_names = sorted(connection_budget(Settings()), key=len, reverse=True)
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
        ).fetchall()
    for app_name, n in rows:
        name = next((b for b in budget_names if app_name == f"ksd-{b}" or app_name.startswith(f"ksd-{b}-")), app_name)
        counts[name] = counts.get(name, 0) + n
    return counts


def test_a_killed_worker_is_restarted_alone_and_every_process_stays_within_its_budget(
    own_database: str, tmp_path: Path
) -> None:
    run = Run(run_env(DATABASE_URL=own_database, KSD_DATA_DIR=str(tmp_path)))
    try:
        before = run.children()
        assert set(before) == {*PORTS, *(f"{s}-worker" for s in SERVICES)}, before
        assert run.find("x-nothing-yet", timeout=0.5) == []

        os.kill(before["registry-worker"], signal.SIGKILL)
        run.wait_for(lambda: "! registry-worker berhenti / stopped (sinyal / signal SIGKILL)" in run.output,
                     10, "report of the death")
        run.wait_for(lambda: run.children().get("registry-worker") not in (None, before["registry-worker"]),
                     15, "new registry worker")
        after = run.children()
        assert {k: v for k, v in after.items() if k != "registry-worker"} == \
               {k: v for k, v in before.items() if k != "registry-worker"}, "the others were touched"
        assert run.proc.poll() is None

        # The new worker projects: a write is found through the read model.
        created = run.create("Setelah worker mati")
        assert run.find("setelah worker mati") == [{"node": {"id": created["id"]}}]

        budget = connection_budget(Settings(db_pool_max=POOL_MAX))
        used = connections_by_process(own_database)
        assert set(used) <= set(budget), used
        assert all(used[name] <= budget[name] for name in used), (used, budget)
    finally:
        run.stop()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with cluster_dir("ksd-supervised-") as path:
        yield path


def test_under_the_embedded_default_a_dead_postgresql_is_started_again(data_dir: Path) -> None:
    run = Run(run_env(KSD_DATA_DIR=str(data_dir)))
    pid_file = data_dir / "pg" / "postmaster.pid"
    try:
        assert "(embedded, " in run.output
        # The platform connects as the ordinary role; the superuser is shown for administration.
        assert "postgresql://ksd_app@127.0.0.1:" in run.output and "admin       psql postgresql://ksd@" in run.output
        first = run.create("Sebelum PostgreSQL mati")
        assert run.find("sebelum postgresql mati")
        postmaster = int(pid_file.read_text().splitlines()[0])

        os.kill(postmaster, signal.SIGKILL)
        run.wait_for(lambda: "! PostgreSQL berhenti / stopped" in run.output, 10, "report of PostgreSQL's death")
        run.wait_for(lambda: "PostgreSQL berjalan lagi / is running again" in run.output, 90, "PostgreSQL again")
        assert int(pid_file.read_text().splitlines()[0]) != postmaster

        # The services and workers come back on their own: a new write is stored and projected.
        created = run.create("Setelah PostgreSQL mati", timeout=90)
        assert run.find("setelah postgresql mati", timeout=90) == [{"node": {"id": created["id"]}}]
        assert run.find("sebelum postgresql mati") == [{"node": {"id": first["id"]}}]
    finally:
        output = run.stop()
    assert "menghentikan PostgreSQL" in output
    assert not pid_file.exists(), "embedded PostgreSQL still running"


def test_run_refuses_a_connection_budget_the_server_cannot_hold(database_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.ksd.cli", "run"],
        env=run_env(DATABASE_URL=database_url, KSD_DATA_DIR=str(tmp_path), KSD_DB_POOL_MAX="40"),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    refusal = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(refusal) == 1 and "exceeds the server's limit" in refusal[0] and "KSD_DB_POOL_MAX" in refusal[0]
    assert "menyiapkan skema" not in result.stdout  # refused before migrating or starting anything
