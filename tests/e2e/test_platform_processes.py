"""`ksd run` (what `make run` calls) as a new user meets it: real granian servers, the real
worker process, a printed token that works, and a clean stop on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tests.e2e.test_registry_http import BANDUNG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


def test_ksd_run_serves_the_platform_and_stops_cleanly_on_ctrl_c(migrated_url: str, tmp_path) -> None:
    ports = {name: free_port() for name in ("registry", "monitoring", "reporting")}
    env = {
        **os.environ,
        "DATABASE_URL": migrated_url,
        "KSD_DATA_DIR": str(tmp_path),
        "KSD_REGISTRY_PORT": str(ports["registry"]),
        "KSD_MONITORING_PORT": str(ports["monitoring"]),
        "KSD_REPORTING_PORT": str(ports["reporting"]),
        "KSD_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(output)
        assert "Sinergi KSD berjalan" in banner, banner
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in banner
        token = next(line.split()[-1] for line in output if line.strip().startswith("32.73 "))
        base = f"http://127.0.0.1:{ports['registry']}"
        status, created = call("POST", f"{base}/agreements", token, {**BANDUNG, "title": "Lewat ksd run"})
        assert status == 201
        # The worker process projects it into the read model that GraphQL reads.
        query = {"query": '{ agreements(filter: {q: "lewat ksd run"}) { edges { node { id } } } }'}
        for _ in range(100):
            _, body = call("POST", f"{base}/graphql", token, query)
            if body["data"]["agreements"]["edges"]:
                break
            time.sleep(0.1)
        assert body["data"]["agreements"]["edges"] == [{"node": {"id": created["id"]}}]
        for port in ports.values():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:  # noqa: S310
                assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "selesai / done" in rest
    for port in ports.values():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after stop"
