"""Lists serve the API's JSON the projection rendered once per change: byte for byte what
the event store's answer renders to, for REST and GraphQL alike, after every kind of step."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import psycopg
from litestar.testing import TestClient

from services.registry.api.schemas import AgreementRead
from services.registry.domain.agreement import Agreement
from services.registry.projections.agreements import api_json
from tests.e2e.test_registry_http import BANDUNG

KOTA, KAB = "32.73", "32.04"


def _kepala(region: str, name: str) -> dict[str, str]:
    return {"party": region, "name": name, "position": f"Kepala Daerah {region}", "capacity": "kepala_daerah"}


def _walk(client: TestClient, token: Callable[..., dict[str, str]]) -> dict[str, Any]:
    """An agreement with an offer, a response, a signed framework, a PKS and an addendum."""
    created = client.post("/agreements", json={**BANDUNG, "title": "Rendering sekali per perubahan"},
                          headers=token(KOTA, "operator"))
    assert created.status_code == 201, created.text
    agreement = created.json()
    steps = [
        ("submit-offer", {"reference": "005/R/2025", "sent_on": "2025-11-03"}, KOTA),
        ("record-offer-response", {"decision": "accepted", "reference": "415/R/2025", "responded_on": "2025-11-10"},
         KAB),
        ("sign-framework", {"number": "KB/R/2025", "signed_on": "2025-12-01", "valid_from": "2025-12-01",
                            "valid_until": "2030-11-30",
                            "signatories": [_kepala(KOTA, "Wali Kota Bandung"), _kepala(KAB, "Bupati Bandung")]},
         KOTA),
        ("draft-pks", {"title": "PKS pemilahan", "object": "Bank sampah", "budgeted_in_apbd": True,
                       "drafted_on": "2025-12-21"}, KOTA),
        ("sign-pks", {"pks": "pks-1", "number": "PKS/R/2025", "signed_on": "2026-01-02", "start_on": "2026-01-05",
                      "end_on": "2027-01-04",
                      "signatories": [_kepala(KOTA, "Wali Kota Bandung"), _kepala(KAB, "Bupati Bandung")]}, KOTA),
        ("amend", {"document": "pks-1", "reference": "ADD/R/2026", "signed_on": "2026-01-03",
                   "changes": "Tambahan ritase", "value_idr": 14_000_000_000}, KOTA),
    ]
    for action, body, tenant in steps:
        response = client.post(f"/agreements/{agreement['id']}/actions/{action}", json=body,
                               headers={**token(tenant, "operator"), "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, (action, response.text)
        agreement = response.json()
    return agreement


def _listed(client: TestClient, headers: dict[str, str], agreement_id: str) -> bytes:
    """The raw bytes of one item in `GET /agreements` (found by walking the pages)."""
    cursor = None
    while True:
        response = client.get("/agreements", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                              headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        page = response.json()
        for item in page["items"]:
            if item["id"] == agreement_id:
                raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
                assert raw in response.content  # as stored, not re-encoded differently
                return raw
        cursor = page["next_cursor"]
        assert cursor, "agreement not listed"


def test_the_list_serves_what_the_event_store_renders_after_every_step(
    registry: TestClient, token: Callable[..., dict[str, str]], projection: Callable[[], None]
) -> None:
    agreement = _walk(registry, token)
    projection()
    headers = token(KAB, "monitor")
    detail = registry.get(f"/agreements/{agreement['id']}", headers=headers)
    assert detail.status_code == 200
    assert _listed(registry, headers, agreement["id"]) == detail.content
    assert detail.json()["pks"][0]["addenda"][0]["reference"] == "ADD/R/2026"


def test_graphql_lists_the_same_agreement_as_rest(
    registry: TestClient, token: Callable[..., dict[str, str]], projection: Callable[[], None]
) -> None:
    agreement = _walk(registry, token)
    projection()
    headers = token(KAB, "monitor")
    query = """query($id: ID!) { agreement(id: $id) { id version stage valueIdr createdAt updatedAt
        framework { number signedOn signatories { party name } }
        pks { id stage valueIdr addenda { reference valueIdr } } offerResponses { party decision } } }"""
    body = registry.post("/graphql", json={"query": query, "variables": {"id": agreement["id"]}},
                         headers=headers).json()
    assert "errors" not in body, body
    node = body["data"]["agreement"]
    rest = registry.get(f"/agreements/{agreement['id']}", headers=headers).json()
    assert (node["version"], node["stage"].lower(), int(node["valueIdr"])) == (
        rest["version"], rest["stage"], rest["value_idr"])
    assert node["framework"]["number"] == rest["framework"]["number"] == "KB/R/2025"
    assert node["pks"][0]["addenda"][0]["reference"] == "ADD/R/2026"
    assert node["createdAt"].replace("+00:00", "Z") == rest["created_at"].replace("+00:00", "Z")


def test_the_stored_json_is_the_rendering_of_the_stored_state(
    registry: TestClient, token: Callable[..., dict[str, str]], projection: Callable[[], None], migrated_url: str
) -> None:
    """Rendered from the live aggregate in the projection, the JSON equals the rendering of
    the state the row keeps (what lists rendered before, from the jsonb copy)."""
    agreement = _walk(registry, token)
    projection()
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT state, api FROM registry.agreements WHERE id = %s", (agreement["id"],)).fetchone()
    assert row is not None
    state, api = row
    from_state = Agreement.from_state(state)
    assert api == api_json(from_state)
    assert msgspec.json.encode(AgreementRead.from_aggregate(from_state)) == api.encode()
