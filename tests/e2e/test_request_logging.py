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


def test_refusals_are_logged_with_their_real_status_and_no_traceback(
    settings: Settings, migrated_url: str, token, capfd
) -> None:
    import msgspec

    json_settings = msgspec.structs.replace(settings, log_format="json", log_level="info")
    with TestClient(create_monitoring(json_settings, database_url=migrated_url)) as client:
        capfd.readouterr()
        client.get("/alerts")  # no token: the auth middleware's 401 (once logged as 500)
        client.get("/alerts", headers={"Authorization": "Bearer not-a-jwt"})  # 401
        client.get("/alerts", headers={**token("32.73"), "Accept": "application/json"}, params={"limit": "x"})  # 400
        client.post("/graphql", json={"query": "{ nosuch }"}, headers=token("32.73"))  # GraphQL validation
    out = capfd.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [line["status"] for line in lines if line.get("event") == "request"] == [401, 401, 400, 200]
    assert "Traceback" not in out and not any("exception" in line for line in lines)
    assert not [line for line in lines if line.get("level") == "error"]


def test_an_unexpected_error_is_logged_as_500_with_its_traceback(settings: Settings, capfd) -> None:
    from typing import Any

    import msgspec
    from litestar import get

    from shared.http import create_service_app

    @get("/boom", opt={"exclude_from_auth": True}, sync_to_thread=False)
    def boom() -> None:
        raise ZeroDivisionError("a bug of ours")

    async def ready(_: Any) -> dict[str, Any]:
        return {}

    json_settings = msgspec.structs.replace(settings, log_format="json", log_level="info")
    from shared.logs import configure_logging

    configure_logging(json_settings, service="probe")
    app = create_service_app(service="probe", settings=json_settings, route_handlers=[boom], readiness=ready)
    with TestClient(app, raise_server_exceptions=False) as client:
        capfd.readouterr()
        assert client.get("/boom").status_code == 500
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("event") == "unhandled_error"]
    assert errors and "ZeroDivisionError: a bug of ours" in errors[0]["exception"]
    assert [line["status"] for line in lines if line.get("event") == "request"] == [500]
