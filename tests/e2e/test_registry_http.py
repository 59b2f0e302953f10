"""The registry through HTTP: create, read, list, GraphQL, visibility, errors, retries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

BANDUNG = {
    "form": "KSDD",
    "category": "wajib",
    "title": "Pengelolaan sampah regional Bandung Raya",
    "object": "Pengolahan sampah bersama di TPPAS Legok Nangka",
    "urusan": ["1.03", "2.11"],
    "parties": [{"region": "32.04"}],
    "value_idr": 2_500_000_000,
    "drafted_on": "2025-09-01",  # prepared before the back-dated steps the tests record
}


def event_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM registry.registry_events").fetchone()[0]


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any] | None = None, **extra: str):
    return client.post("/agreements", json=body or BANDUNG, headers={**headers, **extra})


@pytest.fixture(scope="module")
def bandung(registry: TestClient, token: Callable[..., dict[str, str]], projection: Callable[[], None]) -> dict:
    response = create(registry, token("32.73", "operator"))
    assert response.status_code == 201, response.text
    projection()
    return response.json()


def test_operator_creates_a_draft_cooperation_in_persiapan(bandung: dict) -> None:
    assert bandung["stage"] == "persiapan"
    assert bandung["version"] == 1
    assert bandung["initiator"] == "32.73"
    assert [(p["region"], p["role"]) for p in bandung["parties"]] == [("32.73", "initiator"), ("32.04", "partner")]
    assert bandung["created_by"]["tenant"] == "32.73"
    assert bandung["created_by"]["roles"] == ["operator"]
    assert bandung["dprd_approval_required"] is True  # not budgeted in the APBD


def test_created_response_carries_location_and_etag(registry: TestClient, token) -> None:
    response = create(registry, token("32.73", "operator"))
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/agreements/{response.json()['id']}"


@pytest.mark.parametrize("tenant", ["32.73", "32.04", "32", "national"])
def test_agreement_is_visible_to_its_parties_their_province_and_the_nation(
    registry: TestClient, token, bandung: dict, tenant: str
) -> None:
    one = registry.get(f"/agreements/{bandung['id']}", headers=token(tenant, "monitor"))
    assert one.status_code == 200
    assert one.json()["title"] == BANDUNG["title"]
    assert one.headers["etag"] == '"1"'
    listed = registry.get("/agreements", headers=token(tenant, "monitor")).json()
    assert bandung["id"] in [a["id"] for a in listed["items"]]
    graphql = registry.post(
        "/graphql",
        json={"query": "query($id: ID!) { agreement(id: $id) { title stage initiator { name } } }",
              "variables": {"id": bandung["id"]}},
        headers=token(tenant, "monitor"),
    ).json()
    assert graphql["data"]["agreement"] == {
        "title": BANDUNG["title"], "stage": "PERSIAPAN", "initiator": {"name": "Kota Bandung"}
    }


@pytest.mark.parametrize("tenant", ["35", "35.78", "32.77"])
def test_agreement_is_invisible_to_other_tenants(registry: TestClient, token, bandung: dict, tenant: str) -> None:
    one = registry.get(f"/agreements/{bandung['id']}", headers=token(tenant, "operator"))
    assert one.status_code == 404
    assert one.headers["content-type"].startswith("application/problem+json")
    assert one.json()["status"] == 404
    listed = registry.get("/agreements", headers=token(tenant, "operator")).json()
    assert bandung["id"] not in [a["id"] for a in listed["items"]]
    graphql = registry.post(
        "/graphql",
        json={"query": "query($id: ID!) { agreement(id: $id) { title } agreements { edges { node { id } } } }",
              "variables": {"id": bandung["id"]}},
        headers=token(tenant, "operator"),
    ).json()
    assert graphql["data"]["agreement"] is None
    assert bandung["id"] not in [e["node"]["id"] for e in graphql["data"]["agreements"]["edges"]]


def test_unknown_agreement_is_a_404_problem(registry: TestClient, token) -> None:
    response = registry.get(f"/agreements/{uuid.uuid4()}", headers=token("32.73"))
    assert response.status_code == 404
    assert response.json()["type"].startswith("urn:ksd:problem:")


def test_etag_revalidation_answers_not_modified(registry: TestClient, token, bandung: dict) -> None:
    response = registry.get(f"/agreements/{bandung['id']}", headers={**token("32.73"), "If-None-Match": '"1"'})
    assert response.status_code == 304


BAD_REQUESTS = [
    pytest.param(b"{not json", 400, "malformed_json", None, id="malformed-json"),
    pytest.param({**BANDUNG, "colour": "blue"}, 422, "validation_failed", "colour", id="unknown-field"),
    pytest.param({**BANDUNG, "parties": [{"region": "99.99"}]}, 422, "validation_failed", "parties[0].region",
                 id="unknown-region"),
    pytest.param({**BANDUNG, "parties": [{"region": "31.71"}]}, 422, "validation_failed", "parties[0].region",
                 id="administrative-region"),
    pytest.param({**BANDUNG, "parties": []}, 422, "validation_failed", "parties", id="no-partner"),
    pytest.param({**BANDUNG, "urusan": ["9.99"]}, 422, "validation_failed", "urusan[0]", id="unknown-urusan"),
    pytest.param({**BANDUNG, "title": 42}, 422, "validation_failed", "title", id="wrong-type"),
    pytest.param({**BANDUNG, "category": None}, 422, "category_required", None, id="ksdd-without-category"),
    pytest.param({**BANDUNG, "form": "KSDPK", "category": None}, 422, "party_not_allowed_for_form", None,
                 id="region-in-ksdpk"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_REQUESTS)
def test_bad_input_gets_a_problem_and_stores_nothing(
    registry: TestClient, token, migrated_url: str, body: Any, status: int, code: str, field: str | None
) -> None:
    before = event_count(migrated_url)
    headers = {**token("32.73", "operator"), "Content-Type": "application/json"}
    if isinstance(body, bytes):
        response = registry.post("/agreements", content=body, headers=headers)
    else:
        response = registry.post("/agreements", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["detail"]
    if field:
        assert field in [e["field"] for e in problem["errors"]]
    assert event_count(migrated_url) == before


@pytest.mark.parametrize(
    ("headers_for", "extra_body", "status", "code"),
    [
        pytest.param(lambda t: t("32.73", "operator"), {"initiator": "32.04"}, 403, "initiator_not_caller",
                     id="initiator-other-tenant"),
        pytest.param(lambda t: t("32.73", "auditor"), {}, 403, "role_required", id="not-an-operator"),
        pytest.param(lambda t: t("national", "operator"), {}, 403, "tenant_not_a_region", id="national-is-no-party"),
        pytest.param(lambda t: {"Authorization": "Bearer not-a-jwt"}, {}, 401, "token_invalid", id="invalid-token"),
        pytest.param(lambda t: {}, {}, 401, "unauthenticated", id="no-token"),
    ],
)
def test_wrong_caller_gets_a_problem_and_stores_nothing(
    registry: TestClient, token, migrated_url: str, headers_for, extra_body: dict, status: int, code: str
) -> None:
    before = event_count(migrated_url)
    response = create(registry, headers_for(token), {**BANDUNG, **extra_body})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert event_count(migrated_url) == before


def test_expired_token_is_refused(registry: TestClient, settings) -> None:
    from shared.auth import TokenService

    jwt = TokenService(settings).issue(tenant="32.73", roles=["operator"], ttl_seconds=-10)
    response = registry.get("/agreements", headers={"Authorization": f"Bearer {jwt}"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_retried_create_with_the_same_idempotency_key_creates_one_agreement(
    registry: TestClient, token, migrated_url: str
) -> None:
    headers = token("32.73", "operator")
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    before = event_count(migrated_url)
    first = create(registry, headers, **key)
    second = create(registry, headers, **key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert event_count(migrated_url) == before + 1


def test_idempotency_key_reused_with_another_body_is_a_conflict(registry: TestClient, token, migrated_url: str) -> None:
    headers = token("32.73", "operator")
    key = {"Idempotency-Key": f"reuse-{uuid.uuid4()}"}
    assert create(registry, headers, **key).status_code == 201
    before = event_count(migrated_url)
    response = create(registry, headers, {**BANDUNG, "title": "Judul lain"}, **key)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert event_count(migrated_url) == before


def test_list_filters_and_paginates_with_a_cursor(registry: TestClient, token, projection) -> None:
    headers = token("34.71", "operator")
    created = []
    for i in range(5):
        body = {**BANDUNG, "title": f"Kartamantul jalan {i}", "parties": [{"region": "34.04"}, {"region": "34.02"}],
                "urusan": ["1.03"]}
        created.append(create(registry, headers, body).json()["id"])
    other = {**BANDUNG, "form": "KSDPK", "category": None, "title": "Air minum dengan BUMD",
             "parties": [{"name": "PDAM Tirtamarta", "type": "bumd"}], "urusan": ["1.04"]}
    assert create(registry, headers, other).status_code == 201
    projection()
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "form": "KSDD", **({"cursor": cursor} if cursor else {})}
        page = registry.get("/agreements", params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(created))
    by_urusan = registry.get("/agreements", params={"urusan": "1.04"}, headers=headers).json()["items"]
    assert [a["title"] for a in by_urusan] == ["Air minum dengan BUMD"]
    by_text = registry.get("/agreements", params={"q": "kartamantul jal"}, headers=headers).json()["items"]
    assert len(by_text) == 5
    by_region = registry.get("/agreements", params={"region": "34.02"}, headers=token("34", "monitor")).json()["items"]
    assert {a["id"] for a in by_region} == set(created)


def test_bad_list_parameters_are_400_problems(registry: TestClient, token) -> None:
    for params in ({"limit": "many"}, {"limit": 1000}, {"cursor": "!!!"}, {"stage": "nowhere"}):
        response = registry.get("/agreements", params=params, headers=token("32.73"))
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
