"""What every service answers: health, readiness, metrics, OpenAPI, GraphQL and GraphiQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import TestClient

from services.monitoring.app import create_app as create_monitoring
from services.reporting.app import create_app as create_reporting
from shared.settings import Settings
from tests.e2e.workers import beating


@pytest.fixture(scope="module")
def services(registry: TestClient, settings: Settings, migrated_url: str) -> Iterator[dict[str, TestClient]]:
    with (
        TestClient(create_monitoring(settings, database_url=migrated_url)) as monitoring,
        TestClient(create_reporting(settings, database_url=migrated_url)) as reporting,
        beating(migrated_url),  # no worker processes here: their heartbeats, for /ready
    ):
        yield {"registry": registry, "monitoring": monitoring, "reporting": reporting}


SERVICES = ["registry", "monitoring", "reporting"]


@pytest.mark.parametrize("name", SERVICES)
def test_health_names_the_service_and_its_version(services: dict[str, TestClient], name: str) -> None:
    response = services[name].get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == name
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])


@pytest.mark.parametrize("name", SERVICES)
def test_ready_when_the_database_answers(services: dict[str, TestClient], name: str) -> None:
    response = services[name].get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_registry_readiness_reports_projection_lag(services: dict[str, TestClient]) -> None:
    assert "agreements" in services["registry"].get("/ready").json()["projection_lag"]


def test_monitoring_readiness_reports_both_feeds(services: dict[str, TestClient]) -> None:
    lag = services["monitoring"].get("/ready").json()["projection_lag"]
    assert set(lag) == {"registry_feed", "monitoring_feed"}


def test_reporting_readiness_reports_its_three_feeds(services: dict[str, TestClient]) -> None:
    lag = services["reporting"].get("/ready").json()["projection_lag"]
    assert set(lag) == {"registry_feed", "monitoring_feed", "reports_feed"}


def test_not_ready_while_a_feed_lags_beyond_the_limit(settings: Settings, migrated_url: str, registry_app) -> None:
    # No reporting worker follows this database: every registry event recorded is lag. (A
    # service without its database does not start at all: a crash loop the orchestrator shows.)
    from services.registry.application import StartAgreement
    from shared.auth import Identity

    registry_app.start_agreement(
        Identity(sub="op", name="", tenant="32.73", roles=("operator",)),
        StartAgreement(form="KSDD", category="wajib", title="Lag", object="Uji", urusan=["2.11"],
                       parties=[{"region": "32.04"}]),
    )
    strict = msgspec.structs.replace(settings, ready_max_projection_lag=0)
    with beating(migrated_url, "reporting"), TestClient(create_reporting(strict, database_url=migrated_url)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["projection_lag"]["registry_feed"] >= 1
    assert body["workers"]["live"] >= 1  # a worker is alive: the lag alone makes it unready
    assert any("tertinggal" in reason for reason in body["reasons"])


@pytest.mark.parametrize("name", SERVICES)
def test_metrics_are_prometheus_text_with_request_counts(services: dict[str, TestClient], name: str) -> None:
    services[name].get("/health")
    response = services[name].get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(rf'^ksd_requests_total\{{.*app_name="{name}"', response.text, re.M), response.text[:2000]


def test_metrics_include_projection_lag(services: dict[str, TestClient]) -> None:
    services["registry"].get("/ready")
    assert "ksd_projection_lag_events{" in services["registry"].get("/metrics").text


@pytest.mark.parametrize("name", SERVICES)
def test_openapi_is_served_as_3_1(services: dict[str, TestClient], name: str) -> None:
    response = services[name].get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


def test_registry_openapi_documents_the_agreement_endpoints(services: dict[str, TestClient]) -> None:
    spec = services["registry"].get("/schema/openapi.json").json()
    assert {"/agreements", "/agreements/{agreement_id}"} <= set(spec["paths"])
    assert "AgreementCreate" in str(spec["components"]["schemas"])


@pytest.mark.parametrize("name", SERVICES)
def test_graphql_serves_reference_data_to_a_signed_in_caller(services: dict[str, TestClient], token, name: str) -> None:
    query = {"query": '{ regions(province: "32") { code name } urusan { code } }'}
    data = services[name].post("/graphql", json=query, headers=token("32.73")).json()["data"]
    assert len(data["regions"]) == 27
    assert {"code": "32.73", "name": "Kota Bandung"} in data["regions"]
    assert len(data["urusan"]) == 32


@pytest.mark.parametrize("name", SERVICES)
def test_graphql_without_a_token_is_a_401_problem(services: dict[str, TestClient], name: str) -> None:
    response = services[name].post("/graphql", json={"query": "{ urusan { code } }"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("name", SERVICES)
def test_graphiql_page_loads_without_any_cdn(services: dict[str, TestClient], name: str) -> None:
    response = services[name].get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    assert not re.search(r'(src|href)="https?://', response.text)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text):
        assert services[name].get(asset).status_code == 200, asset


def test_graphql_rejects_too_deep_queries(settings: Settings, migrated_url: str, token) -> None:
    import msgspec

    from services.registry.app import create_app as create_registry

    shallow = msgspec.structs.replace(settings, graphql_max_depth=4)
    deep = "{ agreements { edges { node { parties { region { code } } } } } }"
    with TestClient(create_registry(shallow, database_url=migrated_url)) as client:
        body = client.post("/graphql", json={"query": deep}, headers=token("32.73")).json()
    assert body.get("data") is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


def test_graphql_rejects_too_many_aliases(services: dict[str, TestClient], token) -> None:
    many = "{ " + " ".join(f"a{i}: urusan {{ code }}" for i in range(30)) + " }"
    body = services["registry"].post("/graphql", json={"query": many}, headers=token("32.73")).json()
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"].lower()


def test_graphql_rejects_pages_larger_than_the_limit(services: dict[str, TestClient], token) -> None:
    body = services["registry"].post(
        "/graphql", json={"query": "{ agreements(first: 1000) { edges { cursor } } }"}, headers=token("32.73")
    ).json()
    assert body["data"] is None
    assert "first" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no-such-thing", 404), ("DELETE", "/health", 405), ("PUT", "/agreements", 405)],
)
def test_routing_errors_are_problems_too(
    services: dict[str, TestClient], token, method: str, path: str, status: int
) -> None:
    response = services["registry"].request(method, path, headers=token("32.73"))
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status
