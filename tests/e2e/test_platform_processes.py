"""`ksd run` (what `make run` calls) as a new user meets it: real granian servers, the real
worker process, a printed token that works, a clean stop on Ctrl-C (SIGINT), and, on the
embedded database, a second run that keeps the first run's data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cluster_dir, free_port
from tests.e2e.test_registry_http import BANDUNG

SERVICES = ("registry", "monitoring", "reporting")
# Every HTTP process `ksd run` starts: the services and the web application.
PORTS = (*SERVICES, "web")


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback
        return response.status, json.loads(response.read())


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Platform:
    """One `ksd run` process, read up to its banner; `stop()` is Ctrl-C."""

    def __init__(self, env: dict[str, str]) -> None:
        self.ports = {name: int(env[f"KSD_{name.upper()}_PORT"]) for name in PORTS}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ksd.cli", "run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (line := self.proc.stdout.readline()):
            lines.append(line)
            if "Ctrl-C" in line:
                break
        self.banner = "".join(lines)
        assert "Sinergi KSD berjalan" in self.banner, self.banner
        self.token = next(line.split()[-1] for line in lines if line.strip().startswith("32.73 "))
        self.registry = f"http://127.0.0.1:{self.ports['registry']}"

    def find(self, words: str) -> list[dict]:
        """GraphQL search, retried while the worker process catches up."""
        query = {"query": f'{{ agreements(filter: {{q: "{words}"}}) {{ edges {{ node {{ id }} }} }} }}'}
        for _ in range(100):
            _, body = call("POST", f"{self.registry}/graphql", self.token, query)
            if edges := body["data"]["agreements"]["edges"]:
                return edges
            time.sleep(0.1)
        return []

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, rest
        assert "selesai / done" in rest
        for port in self.ports.values():
            assert not port_open(port), f"port {port} still open after stop"
        return rest


def platform_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({f"KSD_{name.upper()}_PORT": str(free_port()) for name in PORTS})
    # Small pools: the suite's connections stay bounded (tests/README.md).
    env.update(KSD_LOG_LEVEL="warning", KSD_DB_POOL_MAX="2", **extra)
    return env


def test_ksd_run_serves_the_platform_and_stops_cleanly_on_ctrl_c(migrated_url: str, tmp_path: Path) -> None:
    platform = Platform(platform_env(DATABASE_URL=migrated_url, KSD_DATA_DIR=str(tmp_path)))
    try:
        for port in platform.ports.values():
            assert f"http://127.0.0.1:{port}" in platform.banner
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                assert response.status == 200
        status, created = call(
            "POST", f"{platform.registry}/agreements", platform.token, {**BANDUNG, "title": "Lewat ksd run"}
        )
        assert status == 201
        # The worker process projects it into the read model that GraphQL reads.
        assert platform.find("lewat ksd run") == [{"node": {"id": created["id"]}}]
        # The monitoring worker process follows the registry's events into its own read model.
        monitoring = f"http://127.0.0.1:{platform.ports['monitoring']}"
        for _ in range(150):
            try:
                status, health = call("GET", f"{monitoring}/agreements/{created['id']}/status", platform.token)
                break
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
                time.sleep(0.1)
        assert (status, health["stage"]) == (200, "persiapan")
        # The reporting worker process follows it too: a region report compiled now lists it.
        reporting = f"http://127.0.0.1:{platform.ports['reporting']}"
        status, report = call("POST", f"{reporting}/reports", platform.token, {"period": "2026-S2"})
        assert status == 201
        # (The database is the session's: other tests' agreements of Kota Bandung may be listed too.)
        listed: list[str] = []
        for _ in range(150):
            _, report = call("GET", f"{reporting}/reports/{report['id']}", platform.token)
            listed = [a["id"] for a in report["content"]["agreements"]]
            if created["id"] in listed:
                break
            time.sleep(0.1)
        assert created["id"] in listed
    finally:
        platform.stop()


@pytest.fixture()
def data_dir() -> Iterator[Path]:
    with cluster_dir("ksd-run-") as path:
        yield path


def test_a_second_run_on_the_embedded_database_keeps_the_first_runs_data(data_dir: Path) -> None:
    first = Platform(platform_env(KSD_DATA_DIR=str(data_dir)))
    try:
        assert "(embedded, " in first.banner
        status, created = call(
            "POST", f"{first.registry}/agreements", first.token, {**BANDUNG, "title": "Data tetap ada"}
        )
        assert status == 201
        assert first.find("data tetap ada")
    finally:
        rest = first.stop()
    assert "menghentikan PostgreSQL" in rest
    assert not (data_dir / "pg" / "postmaster.pid").exists(), "embedded PostgreSQL still running"

    second = Platform(platform_env(KSD_DATA_DIR=str(data_dir)))
    try:
        assert second.find("data tetap ada") == [{"node": {"id": created["id"]}}]
    finally:
        second.stop()
