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
    # The event store's answer: a version replays the stored events.
    replayed = registry.get(f"/agreements/{agreement['id']}", params={"version": agreement["version"]},
                            headers=headers)
    assert replayed.status_code == 200
    assert _listed(registry, headers, agreement["id"]) == replayed.content
    assert replayed.json()["pks"][0]["addenda"][0]["reference"] == "ADD/R/2026"


def test_the_current_state_is_served_from_the_read_model_only_when_it_holds_the_latest_version(
    registry: TestClient, token: Callable[..., dict[str, str]], projection: Callable[[], None], migrated_url: str
) -> None:
    agreement = _walk(registry, token)
    projection()
    headers = token(KAB, "monitor")
    url = f"/agreements/{agreement['id']}"
    replayed = registry.get(url, params={"version": agreement["version"]}, headers=headers)
    current = registry.get(url, headers=headers)
    assert current.status_code == 200 and current.content == replayed.content
    assert current.headers["etag"] == f'"{agreement["version"]}"'
    assert registry.get(url, headers={**headers, "If-None-Match": current.headers["etag"]}).status_code == 304
    # Served as stored: a mark put in the stored JSON shows (no event store read).
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("UPDATE registry.agreements SET api = replace(api, 'Rendering sekali', 'Tersimpan sekali')"
                     " WHERE id = %s", (agreement["id"],))
    assert registry.get(url, headers=headers).json()["title"].startswith("Tersimpan sekali")
    # Another tenant is told "not found", as by the event store.
    assert registry.get(url, headers=token("35.78", "monitor")).status_code == 404
    # Read-your-writes: a step the projection has not applied yet is answered from the events.
    stepped = registry.post(f"{url}/actions/attach-document", headers={**token(KOTA, "operator"),
                            "If-Match": f'"{agreement["version"]}"'},
                            files={"file": ("nota.pdf", b"%PDF-1.4 nota", "application/pdf")},
                            data={"kind": "lainnya"})
    assert stepped.status_code in (200, 201), stepped.text
    fresh = registry.get(url, headers=headers)
    assert fresh.headers["etag"] == f'"{agreement["version"] + 1}"'
    assert fresh.json()["title"].startswith("Rendering sekali")  # replayed, not the marked row


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
