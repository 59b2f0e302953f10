"""Request logs: one JSON line per request with request_id, tenant and sub bound, and
never a request body, query string or token."""

from __future__ import annotations

import json

from litestar.testing import TestClient

from services.monitoring.app import create_app as create_monitoring
from shared.settings import Settings


def test_a_request_is_logged_with_its_context_and_without_secrets(
    settings: Settings, migrated_url: str, token, capfd
) -> None:
    import msgspec

    json_settings = msgspec.structs.replace(settings, log_format="json", log_level="info")
    headers = {**token("32.73", "operator", sub="ani@bandung"), "X-Request-ID": "req-42"}
    jwt = headers["Authorization"].removeprefix("Bearer ")
    with TestClient(create_monitoring(json_settings, database_url=migrated_url)) as client:
        capfd.readouterr()
        response = client.post(
            "/graphql?secret=query-string-marker",
            json={"query": "{ urusan { code } }", "variables": {"note": "body-marker-RAHASIA"}},
            headers=headers,
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    out = capfd.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines, out
    entry = request_lines[-1]
    assert entry["request_id"] == "req-42"
    assert entry["tenant"] == "32.73"
    assert entry["sub"] == "ani@bandung"
    assert entry["service"] == "monitoring"
    assert entry["status"] == 200
    assert entry["path"] == "/graphql"
    for secret in (jwt, "body-marker-RAHASIA", "query-string-marker"):
        assert secret not in out
