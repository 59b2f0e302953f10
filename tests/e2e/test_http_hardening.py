"""The edge of every service, tried as an attacker and an unlucky operator would: nesting
depth, rate limits, security headers, /metrics, tokens without a known role, GraphQL's
refusals and masks, a database outage, and the problems Litestar and strawberry answer with.
Issue 12, defects 5, 6, 7 and 9 (the 413) and requirement 6."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import msgspec
import psycopg
import pytest
from litestar import get
from litestar.testing import TestClient
from psycopg import sql

from services.ksd.cli import migrate_all
from services.monitoring.app import create_app as create_monitoring
from services.registry.app import create_app as create_registry
from services.reporting.app import create_app as create_reporting
from shared.audit.signing import generate_private_key, private_key_pem
from shared.hardening import API_CSP, UI_CSP
from shared.http import create_service_app
from shared.settings import Settings
from tests.conftest import free_port, fresh_database, wait_for
from tests.e2e.test_registry_http import BANDUNG

SERVICES = ["registry", "monitoring", "reporting"]
CREATE = {"registry": create_registry, "monitoring": create_monitoring, "reporting": create_reporting}
# One JSON endpoint per service that takes a body.
JSON_WRITE = {
    "registry": "/agreements",
    "monitoring": "/agreements/00000000-0000-0000-0000-000000000001/progress-reports",
    "reporting": "/reports",
}
# One REST read per service.
REST_READ = {"registry": "/agreements", "monitoring": "/alerts", "reporting": "/national/2026"}
# One paginated GraphQL field per service.
FIRST = {
    "registry": "{ agreements(first: %d) { edges { cursor } } }",
    "monitoring": "{ alerts(first: %d) { items { kind } } }",
    "reporting": "{ cooperationStats(groupBy: [REGION], first: %d) { truncated } }",
}
PROBLEM = "application/problem+json"
# Words of the libraries' own messages that must never reach a client.
LIBRARY_WORDS = re.compile(
    r"psycopg|postgres|terminat|connection|server closed|Traceback|segments|Signature verification|"
    r"Invalid (issuer|audience|header|payload)|Not enough|Expecting value|Request Entity|Method Not Allowed|"
    r"Not Found|Unsupported content|Unable to parse",
    re.I,
)


@pytest.fixture(scope="module")
def services(registry: TestClient, settings: Settings, migrated_url: str) -> Iterator[dict[str, TestClient]]:
    with (
        TestClient(create_monitoring(settings, database_url=migrated_url), raise_server_exceptions=False) as monitoring,
        TestClient(create_reporting(settings, database_url=migrated_url), raise_server_exceptions=False) as reporting,
    ):
        yield {"registry": registry, "monitoring": monitoring, "reporting": reporting}


def client_with(name: str, settings: Settings, url: str, **changes: Any) -> TestClient:
    """A service of its own, on settings changed for one test (small pools)."""
    changed = msgspec.structs.replace(settings, db_pool_min=0, db_pool_max=1, **changes)
    return TestClient(CREATE[name](changed, database_url=url), raise_server_exceptions=False)


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    assert not LIBRARY_WORDS.search(body["detail"]), body["detail"]
    return body


def signed(settings: Settings, **claims: Any) -> dict[str, str]:
    """A token signed with the services' own key, with exactly these claims."""
    payload = {"sub": "x@32.73", "tenant": "32.73", "roles": ["operator"], "exp": int(time.time()) + 600, **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, settings.jwt_secret, algorithm="HS256")}


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# -- 1. JSON nesting depth ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_a_hundred_thousand_levels_of_json_are_a_400_not_a_500_on_rest(services, token, name: str) -> None:
    response = services[name].post(
        JSON_WRITE[name], content=nested(100_000), headers={**token("32.73"), "Content-Type": "application/json"}
    )
    body = assert_problem(response, 400, "json_too_deep")
    assert body["max_depth"] == 32


@pytest.mark.parametrize("name", SERVICES)
def test_deeply_nested_graphql_variables_are_refused_in_a_post_and_a_get(services, token, name: str) -> None:
    body = b'{"query": "{ urusan { code } }", "variables": {"v": ' + nested(100_000) + b"}}"
    json_headers = {**token("32.73"), "Content-Type": "application/json"}
    response = services[name].post("/graphql", content=body, headers=json_headers)
    assert_problem(response, 400, "json_too_deep")
    response = services[name].get(
        "/graphql", params={"query": "{ urusan { code } }", "variables": '{"v": ' + "[" * 40 + "]" * 40 + "}"},
        headers={**token("32.73"), "Accept": "application/json"},
    )
    assert_problem(response, 400, "json_too_deep")


def test_the_depth_limit_is_a_setting_and_bodies_within_it_pass(settings: Settings, migrated_url: str, token) -> None:
    query = '{"query": "{ urusan { code } }", "variables": {"v": %s}}'
    headers = {**token("32.73"), "Content-Type": "application/json"}
    with client_with("monitoring", settings, migrated_url, max_json_depth=5) as client:
        within = client.post("/graphql", content=query % ("[" * 3 + "]" * 3), headers=headers)  # 5 levels in all
        beyond = client.post("/graphql", content=query % ("[" * 4 + "]" * 4), headers=headers)
        brackets_in_strings = client.post(
            "/graphql", content=query % json.dumps("[[[[[[[[[[{{{{{{{{"), headers=headers
        )
    assert within.status_code == 200 and within.json()["data"]["urusan"]
    assert_problem(beyond, 400, "json_too_deep")
    assert brackets_in_strings.status_code == 200, brackets_in_strings.text


def test_a_recursion_error_anywhere_answers_400_and_any_other_error_500(settings: Settings) -> None:
    @get("/recurse", opt={"exclude_from_auth": True}, sync_to_thread=False)
    def recurse() -> None:
        def down(n: int) -> int:
            return down(n + 1) + 1

        down(0)

    @get("/boom", opt={"exclude_from_auth": True}, sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("internal detail that must stay inside")

    async def ready(_: Any) -> dict[str, Any]:
        return {}

    app = create_service_app(service="probe", settings=settings, route_handlers=[recurse, boom], readiness=ready)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert_problem(client.get("/recurse"), 400, "too_deep")
        body = assert_problem(client.get("/boom"), 500)
    assert "internal detail" not in json.dumps(body)


# -- 2. rate limits ----------------------------------------------------------------------------


def test_a_caller_over_its_rate_limit_gets_429_with_retry_after(settings: Settings, migrated_url: str, token) -> None:
    with client_with("registry", settings, migrated_url, rate_limit_per_token=3, rate_limit_per_address=0) as client:
        ani = token("32.73", sub="ani@bandung")
        answers = [client.get("/agreements", headers=ani) for _ in range(4)]
        other = client.get("/agreements", headers=token("32.73", sub="budi@bandung"))
        graphql = client.post("/graphql", json={"query": "{ urusan { code } }"}, headers=ani)
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    body = assert_problem(answers[3], 429, "rate_limited")
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert body["limit_per_minute"] == 3
    assert other.status_code == 200  # the limit is the caller's, not everyone's
    assert_problem(graphql, 429, "rate_limited")  # GraphQL counts too


def test_an_address_over_its_rate_limit_gets_429_whatever_tokens_it_uses(
    settings: Settings, migrated_url: str, token
) -> None:
    with client_with("registry", settings, migrated_url, rate_limit_per_token=0, rate_limit_per_address=3) as client:
        # X-Forwarded-For from a peer that is not a configured proxy changes nothing.
        answers = [
            client.get("/agreements", headers={**token("32.73", sub=f"u{i}"), "X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(4)
        ]
        forged = client.get("/agreements")  # no token: still counted, before authentication
        health = client.get("/health")
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_problem(answers[3], 429, "rate_limited")
    assert_problem(forged, 429, "rate_limited")
    assert int(answers[3].headers["retry-after"]) >= 1
    assert health.status_code == 200  # probes are never limited


def test_rate_limits_can_be_turned_off(settings: Settings, migrated_url: str, token) -> None:
    with client_with("monitoring", settings, migrated_url, rate_limit_per_token=0, rate_limit_per_address=0) as client:
        statuses = {client.get("/alerts", headers=token("32.73")).status_code for _ in range(30)}
    assert statuses == {200}


def test_the_default_limits_let_a_busy_client_through(services, token) -> None:
    # The test suite and `make run` demos send hundreds of requests in seconds from one address
    # and a handful of subjects; the defaults stop floods, not them.
    busy = token("32.73", sub="busy@bandung")
    statuses = [services["registry"].get("/agreements", headers=busy).status_code for _ in range(300)]
    assert set(statuses) == {200}


# -- 3. security headers -----------------------------------------------------------------------

PLAIN_PATHS = ["/health", "/ready", "/metrics", "/schema/openapi.json", "/no-such-path",
               "/static/graphiql/ksd-graphiql.js", "/agreements"]


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("path", PLAIN_PATHS)
def test_every_answer_carries_the_security_headers(services, name: str, path: str) -> None:
    response = services[name].get(path)  # /agreements without a token: a 401 (404 elsewhere)
    assert response.headers["content-security-policy"] == API_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain http, no proxy said TLS


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("path", ["/graphql", "/schema", "/schema/swagger"])
def test_the_graphiql_and_swagger_pages_run_no_inline_script(services, name: str, path: str) -> None:
    response = services[name].get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert csp == UI_CSP
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S)
    assert scripts
    for attributes, content in scripts:
        # Either a file of our own origin, or a JSON data block (never executed).
        if 'type="application/json"' in attributes:
            json.loads(content.replace("<\\/", "</"))
        else:
            assert re.search(r'src="/static/', attributes) and not content.strip(), attributes
    assert not re.search(r"\son[a-z]+\s*=", response.text)  # no inline event handlers


def test_hsts_is_sent_over_tls_and_when_the_setting_asks(settings: Settings, migrated_url: str) -> None:
    app = create_monitoring(msgspec.structs.replace(settings, db_pool_min=0, db_pool_max=1), database_url=migrated_url)
    with TestClient(app, base_url="https://testserver.local") as client:
        assert client.get("/health").headers["strict-transport-security"] == "max-age=31536000"
    with client_with("monitoring", settings, migrated_url, hsts_always=True) as client:
        assert client.get("/health").headers["strict-transport-security"] == "max-age=31536000"
    with client_with("monitoring", settings, migrated_url) as client:
        # X-Forwarded-Proto from a peer that is no configured proxy is not believed.
        assert "strict-transport-security" not in client.get("/health", headers={"X-Forwarded-Proto": "https"}).headers


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)")
def test_graphiql_and_swagger_ui_work_in_a_browser_under_the_csp(settings: Settings, migrated_url: str, token) -> None:
    import uvicorn

    app = create_registry(msgspec.structs.replace(settings, db_pool_min=0, db_pool_max=1), database_url=migrated_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the server to start", timeout=20)
        jwt_ = token("32.73")["Authorization"].removeprefix("Bearer ")

        def browse(path: str) -> tuple[str, str]:
            run = subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                 "--log-level=0", "--virtual-time-budget=8000", "--dump-dom", f"http://127.0.0.1:{port}{path}"],
                capture_output=True, text=True, timeout=120,
            )
            return run.stdout, run.stderr

        dom, log = browse(f"/graphql#token={jwt_}")
        assert "Content Security Policy" not in log, log
        assert 'class="graphiql-container"' in dom and "Bearer " + jwt_[:10] in dom
        dom, log = browse("/schema")
        assert "Content Security Policy" not in log, log
        assert 'data-path="/agreements"' in dom  # Swagger UI rendered the operations
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- 4. /metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_metrics_count_401s_and_429s_with_their_real_status(settings: Settings, migrated_url: str, token, name) -> None:
    with client_with(name, settings, migrated_url, rate_limit_per_token=2) as client:
        client.get("/graphql", headers={"Accept": "application/json"})  # no token: 401
        for _ in range(3):  # the third: 429
            client.get(REST_READ[name], headers=token("32.73", sub="counted"))
        metrics = client.get("/metrics").text
    assert re.search(r'^ksd_requests_total\{[^}]*path="/graphql"[^}]*status_code="401"', metrics, re.M), metrics[:3000]
    assert re.search(r'^ksd_requests_total\{[^}]*status_code="429"', metrics, re.M)
    # Before, the auth middleware's 401 reached the Prometheus middleware as an exception: a 500.
    assert not re.search(rf'^ksd_requests_total\{{app_name="{name}",[^}}]*path="/graphql"[^}}]*status_code="500"',
                         metrics, re.M)


def test_metrics_behind_a_token_answer_only_to_it(settings: Settings, migrated_url: str) -> None:
    with client_with("reporting", settings, migrated_url, metrics_token="scrape-me-" + "x" * 20) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-" + "x" * 20})
    assert_problem(missing, 401, "metrics_token_required")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert_problem(wrong, 401, "metrics_token_required")
    assert right.status_code == 200 and "ksd_requests_total" in right.text


def test_metrics_are_closed_in_production_unless_a_token_or_public_is_set(settings: Settings, migrated_url) -> None:
    production = {"environment": "production", "audit_signing_key": private_key_pem(generate_private_key())}
    with client_with("monitoring", settings, migrated_url, **production) as client:
        assert_problem(client.get("/metrics"), 403, "metrics_closed")
    with client_with("monitoring", settings, migrated_url, metrics_public=True, **production) as client:
        assert client.get("/metrics").status_code == 200


# -- 5. tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [[], ["superuser"], ["root", "owner"]], ids=["no-roles", "unknown", "unknowns"])
@pytest.mark.parametrize("name", SERVICES)
def test_a_signed_token_with_no_known_role_is_refused_403(services, settings: Settings, name: str, roles) -> None:
    headers = signed(settings, roles=roles)
    assert_problem(services[name].get(REST_READ[name], headers=headers), 403, "no_known_role")
    assert_problem(services[name].post("/graphql", json={"query": "{ urusan { code } }"}, headers=headers), 403,
                   "no_known_role")


def test_a_token_with_one_known_role_among_unknown_ones_keeps_the_known_one(services, settings: Settings) -> None:
    headers = signed(settings, roles=["superuser", "operator"])
    assert services["registry"].get("/agreements", headers=headers).status_code == 200


TOKEN_CASES = {
    "malformed": (lambda s: {"Authorization": "Bearer not-a-jwt"}, "Token tidak dapat dibaca: bukan JWT yang utuh."),
    "garbage-segments": (
        lambda s: {"Authorization": "Bearer abc.def.ghi"}, "Token tidak dapat dibaca: bukan JWT yang utuh."
    ),
    "bad-signature": (
        lambda s: {"Authorization": "Bearer " + jwt.encode(
            {"sub": "x", "tenant": "32", "roles": ["operator"], "exp": int(time.time()) + 60}, "another-secret-" * 3
        )},
        "Tanda tangan token tidak sah.",
    ),
    "algorithm-none": (
        lambda s: {"Authorization": "Bearer " + jwt.encode(
            {"sub": "x", "tenant": "32", "roles": ["operator"], "exp": int(time.time()) + 60}, None, algorithm="none"
        )},
        "Tanda tangan token tidak sah.",
    ),
    "expired": (lambda s: signed(s, exp=int(time.time()) - 10), "Token sudah kedaluwarsa."),
    "no-tenant": (
        lambda s: signed(s, tenant=None), "Isi token tidak lengkap atau tidak valid (sub, tenant, roles, exp)."
    ),
}


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_token_errors_say_what_is_wrong_in_indonesian_and_nothing_of_the_library(services, settings, case) -> None:
    make, detail = TOKEN_CASES[case]
    body = assert_problem(services["registry"].get("/agreements", headers=make(settings)), 401)
    assert body["detail"] == detail
    assert body["code"] == ("token_expired" if case == "expired" else "token_invalid")


def test_wrong_issuer_and_audience_each_have_their_message(settings: Settings, migrated_url: str) -> None:
    with client_with("monitoring", settings, migrated_url, jwt_issuer="https://sso.kemendagri.go.id",
                     jwt_audience="sinergi-ksd") as client:
        issuer = client.get("/alerts", headers=signed(settings, iss="https://evil.example", aud="sinergi-ksd"))
        audience = client.get("/alerts", headers=signed(settings, iss="https://sso.kemendagri.go.id", aud="other"))
        right = client.get("/alerts", headers=signed(settings, iss="https://sso.kemendagri.go.id", aud="sinergi-ksd"))
    assert assert_problem(issuer, 401, "token_invalid")["detail"] == (
        "Token diterbitkan oleh penerbit (iss) yang tidak dikenal."
    )
    assert assert_problem(audience, 401, "token_invalid")["detail"] == "Token ini bukan untuk layanan ini (aud)."
    assert right.status_code == 200


# -- 6. GraphQL --------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0, -1])
@pytest.mark.parametrize("name", SERVICES)
def test_graphql_refuses_first_zero_and_negative_like_rest_refuses_limit_zero(services, token, name, first) -> None:
    response = services[name].post("/graphql", json={"query": FIRST[name] % first}, headers=token("32.73"))
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert "first" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["status"] == 400


@pytest.mark.parametrize("name", SERVICES)
def test_a_document_of_several_operations_needs_an_operation_name(services, token, name: str) -> None:
    document = "query A { urusan { code } } query B { regions { code } }"
    without = services[name].post("/graphql", json={"query": document}, headers=token("32.73")).json()
    named = services[name].post(
        "/graphql", json={"query": document, "operationName": "B"}, headers=token("32.73")
    ).json()
    unknown = services[name].post("/graphql", json={"query": document, "operationName": "C"}, headers=token("32.73"))
    assert without["data"] is None
    assert without["errors"][0]["extensions"]["code"] == "operation_name_required"
    assert "operationName" in without["errors"][0]["message"]
    assert set(named["data"]) == {"regions"}
    assert_problem(unknown, 400, "unknown_operation")


def test_an_unexpected_error_in_a_resolver_is_masked_and_logged_with_its_traceback(
    settings: Settings, migrated_url: str, token, capfd
) -> None:
    class Broken:
        async def list(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError('relation "registry.secret_table" does not exist (psycopg says)')

    with client_with("registry", settings, migrated_url, log_format="json") as client:
        client.app.state.agreements = Broken()
        capfd.readouterr()
        query = {"query": "{ agreements { edges { cursor } } }"}
        response = client.post("/graphql", json=query, headers=token("32.73"))
    out = capfd.readouterr().out
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert body["errors"][0]["message"] == "Terjadi kesalahan pada server; kejadian ini sudah dicatat."
    assert body["errors"][0]["extensions"] == {"code": "internal_error"}
    assert "secret_table" not in response.text
    logged = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    unhandled = [line for line in logged if line.get("event") == "graphql_unhandled_error"]
    assert unhandled and "Traceback" in unhandled[0]["exception"] and "secret_table" in unhandled[0]["exception"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"42", "application/json", 400, "malformed_graphql_request"),
        (b'{"query": "{ urusan { code } }", "variables": [1]}', "application/json", 400, "malformed_graphql_request"),
        (b"{}", "application/json", 400, "query_missing"),
        (b"query { urusan { code } }", "text/plain", 415, "unsupported_content_type"),
        # An integer beyond Python's 4,300 digits: a ValueError that strawberry let through (500).
        (b'{"query": "{ urusan { code } }", "x": 1' + b"0" * 5000 + b"}", "application/json", 400, "malformed_json"),
    ],
)
def test_graphql_requests_strawberry_cannot_run_are_problems_in_indonesian(
    services, token, content: bytes, content_type: str, status: int, code: str | None
) -> None:
    response = services["reporting"].post("/graphql", content=content,
                                          headers={**token("32.73"), "Content-Type": content_type})
    if code is None:
        assert response.status_code == status, response.text
    else:
        assert_problem(response, status, code)


# -- 7. logs -----------------------------------------------------------------------------------


def test_graphql_refusals_are_logged_without_a_traceback(settings: Settings, migrated_url: str, token, capfd) -> None:
    with client_with("monitoring", settings, migrated_url, log_format="json", log_level="info") as client:
        capfd.readouterr()
        client.post("/graphql", json={"query": "{ nosuch }"}, headers=token("32.73"))
        client.post("/graphql", json={"query": FIRST["monitoring"] % 0}, headers=token("32.73"))
    logged = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    refused = [line for line in logged if line.get("event") == "graphql_refused"]
    assert {line["code"] for line in refused} >= {"graphql_error", "bad_request"}
    assert not any("exception" in line or "Traceback" in json.dumps(line) for line in logged)
    assert not [line for line in logged if line.get("level") == "error"]


# -- 8. a database outage ----------------------------------------------------------------------


@pytest.fixture
def doomed_database(pg_server_url: str, monkeypatch) -> Iterator[tuple[str, Callable[[], None]]]:
    """A database of its own and a function that makes it unreachable: existing connections
    terminated, new ones refused (until the fixture ends)."""
    # Give up on a connection after 1 s instead of eventsourcing's 30 (its recorders try ten
    # times, so a write waits about ten of these before it is answered).
    monkeypatch.setenv("POSTGRES_CONNECT_TIMEOUT", "1")
    with fresh_database(pg_server_url, prefix="ksd_outage") as url:
        migrate_all(url)
        name = url.rsplit("/", 1)[1]

        def cut() -> None:
            with psycopg.connect(pg_server_url, autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

        try:
            yield url, cut
        finally:
            with psycopg.connect(pg_server_url, autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))


def test_a_database_outage_answers_503_with_retry_after_on_rest_and_graphql(
    doomed_database, settings: Settings, token, capfd
) -> None:
    url, cut = doomed_database
    headers = token("32.73")
    with client_with("registry", settings, url, log_format="json") as client:
        assert client.get("/agreements", headers=headers).status_code == 200
        # Waiting for a pooled connection ends after 1 s instead of psycopg_pool's 30.
        client.app.state.agreements.pool.timeout = 1.0
        cut()
        capfd.readouterr()
        answers = {
            "list": client.get("/agreements", headers=headers),
            "create": client.post("/agreements", json=BANDUNG, headers=headers),
            "graphql": client.post("/graphql", json={"query": "{ agreements { edges { cursor } } }"}, headers=headers),
        }
        ready = client.get("/ready")
    out = capfd.readouterr().out
    for what, response in answers.items():
        body = assert_problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "5", what
        assert body["detail"] == "Basis data sedang tidak dapat dihubungi; coba lagi sebentar lagi."
    assert ready.status_code == 503 and ready.json()["reason"] == "database_unavailable"
    assert ready.headers["retry-after"] == "5"
    assert not LIBRARY_WORDS.search(ready.text)
    assert "Traceback" not in out  # an outage is logged as one warning, not a stack


# -- 9. the 413, and Litestar's own errors -----------------------------------------------------


def test_a_json_body_over_the_limit_is_a_413_in_indonesian_with_the_limit(services, token) -> None:
    response = services["registry"].post("/agreements", content=b" " * 1_000_001,
                                         headers={**token("32.73"), "Content-Type": "application/json"})
    body = assert_problem(response, 413, "request_too_large")
    assert body["detail"] == "Isi permintaan terlalu besar. Paling besar 1.000.000 bita."
    assert body["limit_bytes"] == 1_000_000


def test_an_upload_over_the_document_limit_is_a_413_in_indonesian_with_the_limit(
    settings: Settings, migrated_url: str, token
) -> None:
    with client_with("registry", settings, migrated_url, max_document_bytes=1000) as client:
        response = client.post(
            "/agreements/00000000-0000-0000-0000-000000000001/actions/attach-document",
            files={"file": ("naskah.pdf", b"%PDF-1.7\n" + b"x" * 200_000, "application/pdf")},
            data={"document": "framework"},
            headers={**token("32.73"), "If-Match": '"1"'},
        )
    body = assert_problem(response, 413, "request_too_large")
    assert body["detail"] == "Isi permintaan terlalu besar. Paling besar 66.536 bita."


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/no-such-thing", 404, "Alamat ini tidak ada."),
        ("DELETE", "/health", 405, "Metode ini tidak diizinkan untuk alamat ini."),
        ("PUT", "/graphql", 405, "Metode ini tidak diizinkan untuk alamat ini."),
    ],
)
def test_litestars_own_errors_are_problems_in_indonesian(services, token, name, method, path, status, detail) -> None:
    body = assert_problem(services[name].request(method, path, headers=token("32.73")), status)
    assert body["detail"] == detail


def test_every_problem_on_a_route_of_ours_reaches_the_request_log_with_its_status(
    settings: Settings, migrated_url: str, token, capfd
) -> None:
    with client_with("reporting", settings, migrated_url, log_format="json", log_level="info") as client:
        capfd.readouterr()
        client.get("/national/2026")  # 401 from the auth middleware
        client.get("/national/2026", headers=signed(settings, roles=["superuser"]))  # 403, the same
        client.post("/graphql", content=nested(50), headers={**token("32.73"), "Content-Type": "application/json"})
    logged = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    statuses = [line["status"] for line in logged if line.get("event") == "request"]
    assert statuses == [401, 403, 400]
    assert not any("exception" in line for line in logged)
