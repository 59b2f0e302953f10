"""Two times, both queryable (issue 13, requirement 2), through HTTP and GraphQL.

A Kesepakatan Bersama between Kota Bandung and Kabupaten Bandung signed on 2026-03-01 with
its PKS, then ended on 2026-09-30, a termination the officers only recorded on 2026-11-10.
`on` asks what was legally in force on a day (valid time, as known now); `as_of` what was
recorded by a moment (transaction time); both together what we believed then about that day.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from services.registry.setup import projection_lag
from services.registry.worker import make_runner
from shared.audit.store import HashChainRecorder
from shared.auth import TokenService
from shared.clock import ManualClock
from shared.settings import Settings
from tests.conftest import fresh_database

KOTA, KAB = "32.73", "32.04"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# A moment on the eve of recording the termination: what the registry knew then.
BEFORE_TERMINATION_RECORDED = "2026-11-09T12:00:00+07:00"


def kepala(region: str) -> dict[str, str]:
    return {"party": region, "name": f"Kepala Daerah {region}", "position": f"Kepala Daerah {region}",
            "capacity": "kepala_daerah"}


@dataclass
class Story:
    client: TestClient
    tokens: TokenService
    clock: ManualClock
    agreement: dict[str, Any]

    def headers(self, tenant: str = KOTA, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(tenant=tenant, roles=roles or ('operator',))}"}

    def act(self, action: str, body: dict[str, Any], tenant: str = KOTA) -> None:
        response = self.client.post(f"/agreements/{self.agreement['id']}/actions/{action}", json=body,
                                    headers={**self.headers(tenant), "If-Match": f'"{self.agreement["version"]}"'})
        assert response.status_code == 200, response.text
        self.agreement = response.json()

    def attach(self, name: str) -> None:
        response = self.client.post(
            f"/agreements/{self.agreement['id']}/actions/attach-document",
            files={"file": (name, PDF + name.encode(), "application/pdf")},
            data={"kind": "kesepakatan_bersama", "document": "framework", "name": name},
            headers={**self.headers(), "If-Match": f'"{self.agreement["version"]}"'})
        assert response.status_code == 200, response.text
        self.agreement = response.json()

    def get(self, tenant: str = KOTA, **params: str) -> Any:
        return self.client.get(f"/agreements/{self.agreement['id']}", params=params, headers=self.headers(tenant))

    def on(self, day: str, **params: str) -> dict[str, Any]:
        response = self.get(on=day, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def graphql(self, arguments: str) -> dict[str, Any] | None:
        query = f'query($id: ID!) {{ agreement(id: $id, {arguments}) {{ stage endedOn framework {{ signedOn }} }} }}'
        response = self.client.post("/graphql", json={"query": query, "variables": {"id": self.agreement["id"]}},
                                    headers=self.headers())
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]["agreement"]


@pytest.fixture(scope="module")
def story(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    settings = Settings.from_env({}, jwt_secret="test-secret-" + "x" * 32, log_level="warning", db_pool_max=2,
                                 data_dir=str(tmp_path_factory.mktemp("bitemporal")))
    with fresh_database(pg_server_url, prefix="ksd_bitemporal") as url:
        migrate_all(url)
        clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 08:00 WIB, the day after the signing
        with TestClient(create_registry(settings, database_url=url, clock=clock),
                        raise_server_exceptions=False) as client, make_runner(url) as runner:
            s = Story(client, TokenService(settings), clock, {})
            created = client.post("/agreements", headers=s.headers(), json={
                "form": "KSDD", "category": "sukarela", "title": "Pengelolaan sampah Bandung Raya",
                "object": "TPPAS Legok Nangka", "urusan": ["1.03"], "parties": [{"region": KAB}],
                "budgeted_in_apbd": True, "drafted_on": "2026-01-05"})
            assert created.status_code == 201, created.text
            s.agreement = created.json()
            s.act("submit-offer", {"reference": "005/KS/2026", "sent_on": "2026-01-12"})
            s.act("record-offer-response", {"decision": "accepted", "reference": "415/2026",
                                            "responded_on": "2026-01-20"}, KAB)
            s.act("sign-framework", {"number": "KB/01/2026", "signed_on": "2026-03-01", "valid_from": "2026-03-01",
                                     "valid_until": "2031-02-28", "signatories": [kepala(KOTA), kepala(KAB)]})
            s.act("draft-pks", {"title": "PKS sampah", "object": "Pengangkutan", "drafted_on": "2026-03-01"})
            s.act("sign-pks", {"pks": "pks-1", "number": "PKS/01/2026", "signed_on": "2026-03-01",
                               "start_on": "2026-03-01", "end_on": "2027-02-28",
                               "signatories": [kepala(KOTA), kepala(KAB)]})
            s.attach("kb-01-2026.pdf")  # recorded 2026-03-02: no legal date of its own
            # The cooperation ended on 2026-09-30; the officers record it on 2026-11-10.
            clock.advance(days=253)
            s.act("terminate", {"document": "pks-1", "ground": "para_pihak_sepakat", "reference": "PKS/01/2026/END",
                                "terminated_on": "2026-09-30"})
            s.act("terminate", {"document": "framework", "ground": "para_pihak_sepakat",
                                "reference": "KB/01/2026/END", "terminated_on": "2026-09-30"})
            s.attach("berita-acara-pengakhiran.pdf")  # recorded 2026-11-10
            deadline = time.monotonic() + 15
            with psycopg.connect(url) as conn:  # the read model the lists start from
                while projection_lag(conn) > 0:
                    assert time.monotonic() < deadline, "projection did not catch up"
                    runner.run_forever(timeout=0.05)
            yield s


def test_today_the_cooperation_has_ended(story: Story) -> None:
    now = story.get().json()
    assert (now["stage"], now["ended_on"]) == ("berakhir", "2026-09-30")


def test_on_a_day_in_its_term_it_is_in_pelaksanaan_with_its_documents_in_force(story: Story) -> None:
    then = story.on("2026-06-30")
    assert then["stage"] == "pelaksanaan"
    assert then["ended_on"] is None
    assert then["framework"]["signed_on"] == "2026-03-01"
    assert then["framework"]["termination"] is None
    assert [(p["id"], p["stage"], p["end_on"]) for p in then["pks"]] == [("pks-1", "ditandatangani", "2027-02-28")]
    assert [d["name"] for d in then["documents"]] == ["kb-01-2026.pdf"]


def test_on_a_day_after_the_termination_it_has_ended_as_known_now(story: Story) -> None:
    then = story.on("2026-10-15")
    assert (then["stage"], then["ended_on"]) == ("berakhir", "2026-09-30")
    assert then["framework"]["termination"]["terminated_on"] == "2026-09-30"
    # The report of the ending was recorded on 2026-11-10, a step without a legal date: not yet there.
    assert [d["name"] for d in then["documents"]] == ["kb-01-2026.pdf"]
    assert [d["name"] for d in story.on("2026-11-10")["documents"]] == ["kb-01-2026.pdf",
                                                                        "berita-acara-pengakhiran.pdf"]


def test_as_of_before_the_termination_was_recorded_it_was_believed_not_ended(story: Story) -> None:
    believed = story.on("2026-10-15", as_of=BEFORE_TERMINATION_RECORDED)
    assert (believed["stage"], believed["ended_on"]) == ("pelaksanaan", None)
    assert believed["pks"][0]["stage"] == "ditandatangani"
    # as_of alone keeps its meaning: the state as recorded then.
    assert story.get(as_of=BEFORE_TERMINATION_RECORDED).json()["stage"] == "pelaksanaan"


def test_on_a_day_between_the_signing_of_the_offer_and_the_framework(story: Story) -> None:
    assert story.on("2026-01-15")["stage"] == "penawaran"
    assert story.on("2026-02-01")["stage"] == "penyusunan_kesepakatan"


def test_on_a_day_before_it_was_prepared_is_a_404_problem(story: Story) -> None:
    response = story.get(on="2025-12-31")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_yet_in_force"


def test_a_future_on_is_what_is_known_now(story: Story) -> None:
    assert story.on("2030-01-01")["stage"] == "berakhir"


@pytest.mark.parametrize("bad", ["kemarin", "2026-13-01", "2026-06-31", "30-06-2026"])
def test_a_malformed_on_is_a_400_problem(story: Story, bad: str) -> None:
    response = story.get(on=bad)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_on_is_invisible_to_other_tenants_like_the_agreement(story: Story) -> None:
    assert story.get("35.78", on="2026-06-30").status_code == 404


def test_graphql_answers_on_and_as_of_alike(story: Story) -> None:
    assert story.graphql('on: "2026-06-30"') == {"stage": "PELAKSANAAN", "endedOn": None,
                                                 "framework": {"signedOn": "2026-03-01"}}
    assert story.graphql('on: "2026-10-15"')["stage"] == "BERAKHIR"
    believed = story.graphql(f'on: "2026-10-15", asOf: "{BEFORE_TERMINATION_RECORDED}"')
    assert believed is not None and believed["stage"] == "PELAKSANAAN"
    assert story.graphql('on: "2025-12-31"') is None


def listed(story: Story, **params: str) -> dict[str, str]:
    response = story.client.get("/agreements", params=params, headers=story.headers())
    assert response.status_code == 200, response.text
    return {a["id"]: a["stage"] for a in response.json()["items"]}


def test_a_list_on_a_day_shows_each_cooperation_as_it_was_in_force_then(story: Story) -> None:
    mine = story.agreement["id"]
    assert listed(story)[mine] == "berakhir"
    assert listed(story, on="2026-06-30")[mine] == "pelaksanaan"
    assert mine not in listed(story, on="2025-12-31")  # not yet prepared
    # Stage filters judge the state of that day.
    assert mine in listed(story, on="2026-06-30", stage="pelaksanaan")
    assert mine not in listed(story, on="2026-06-30", stage="berakhir")
    assert mine in listed(story, on="2026-06-30", expiring_from="2027-02-01", expiring_to="2027-03-31")
    assert mine not in listed(story, expiring_from="2027-02-01", expiring_to="2027-03-31")  # ended: nothing in force


def test_a_list_on_a_day_reads_the_event_store_once_a_page(story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page read `on` a day replays its rows from one read of the event store, not one a row."""
    reads: list[list[Any]] = []
    original = HashChainRecorder.stored_events_of

    def counted(self: HashChainRecorder, ids: Any) -> Any:
        reads.append(list(ids))
        return original(self, ids)

    monkeypatch.setattr(HashChainRecorder, "stored_events_of", counted)
    page = story.client.get("/agreements", params={"on": "2026-06-30"}, headers=story.headers()).json()["items"]
    assert len(reads) == 1 and {str(i) for i in reads[0]} >= {a["id"] for a in page}
    assert {a["id"]: a["stage"] for a in page}[story.agreement["id"]] == "pelaksanaan"


def test_a_list_with_a_malformed_on_is_a_400_problem(story: Story) -> None:
    response = story.client.get("/agreements", params={"on": "2026-02-30"}, headers=story.headers())
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "invalid_parameter"
    assert body["detail"] == "Tanggal (on) tidak sah: gunakan format TTTT-BB-HH."
    assert [e["field"] for e in body["errors"]] == ["on"]


def test_graphql_lists_accept_on(story: Story) -> None:
    query = """query($on: Date) { agreements(filter: {on: $on, stage: [PELAKSANAAN]}) {
        edges { cursor node { id stage } } } }"""

    def ids(on: str | None) -> list[str]:
        response = story.client.post("/graphql", json={"query": query, "variables": {"on": on}},
                                     headers=story.headers())
        body = response.json()
        assert "errors" not in body, body
        return [e["node"]["id"] for e in body["data"]["agreements"]["edges"]]

    assert story.agreement["id"] in ids("2026-06-30")
    assert story.agreement["id"] not in ids(None)  # today it has ended


def test_a_corrected_legal_date_moves_the_step_in_valid_time(story: Story) -> None:
    # Given another cooperation ended on 2026-09-30 as recorded on 2026-11-10
    s = Story(story.client, story.tokens, story.clock, {})
    created = s.client.post("/agreements", headers=s.headers(), json={
        "form": "KSDD", "category": "sukarela", "title": "Air bersih Bandung Raya", "object": "SPAM regional",
        "urusan": ["1.03"], "parties": [{"region": KAB}], "budgeted_in_apbd": True, "drafted_on": "2026-01-05"})
    assert created.status_code == 201, created.text
    s.agreement = created.json()
    s.act("submit-offer", {"reference": "006/KS/2026", "sent_on": "2026-01-12"})
    s.act("record-offer-response", {"decision": "accepted", "reference": "416/2026", "responded_on": "2026-01-20"},
          KAB)
    s.act("sign-framework", {"number": "KB/02/2026", "signed_on": "2026-03-01", "valid_from": "2026-03-01",
                             "valid_until": "2031-02-28", "signatories": [kepala(KOTA), kepala(KAB)]})
    s.act("terminate", {"document": "framework", "ground": "para_pihak_sepakat", "reference": "KB/02/2026/END",
                        "terminated_on": "2026-09-30"})
    termination = s.agreement["version"]
    assert s.on("2026-10-15")["stage"] == "berakhir"
    # When, a day later, its date is corrected (ralat) to 2026-10-31
    s.clock.advance(days=1)
    s.act("correct", {"version": termination, "changes": {"terminated_on": "2026-10-31"},
                      "reason": "Tanggal pengakhiran salah ketik"})
    # Then on 2026-10-15 it was still in force, and it ended on the corrected day
    then = s.on("2026-10-15")
    assert (then["stage"], then["ended_on"]) == ("kesepakatan_ditandatangani", None)
    assert s.on("2026-11-01")["ended_on"] == "2026-10-31"
    # and what we believed before the correction stays answerable
    believed = s.on("2026-10-15", as_of="2026-11-10T12:00:00+07:00")
    assert (believed["stage"], believed["ended_on"]) == ("berakhir", "2026-09-30")
