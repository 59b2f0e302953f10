"""Audit through HTTP and the offline CLI: history, time travel, verification, the export
bundle (v2, and v1 bundles proven against the national digests signed before the
transparency log), and what happens when a superuser rewrites the stored events behind the
platform's back.

Runs on its own database: tampering with the store (and signing heads over it) must not
disturb the other tests' agreements.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from services.registry.worker import run as run_worker
from shared.audit import signing
from shared.audit.chain import chain_hash, record_of
from shared.clock import ManualClock
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.test_registry_http import BANDUNG

KOTA, KAB = "32.73", "32.04"
EVENTS = "registry.registry_events"
CHAIN = "registry.registry_events_chain"


def kepala(region: str, name: str) -> dict[str, str]:
    return {"party": region, "name": name, "position": f"Kepala Daerah {region}", "capacity": "kepala_daerah"}


@pytest.fixture(scope="module")
def audit_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_audit") as url:
        migrate_all(url)
        yield url


@pytest.fixture(scope="module")
def audit_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def client(settings: Settings, audit_url: str, audit_clock: ManualClock) -> Iterator[TestClient]:
    app = create_registry(settings, database_url=audit_url, clock=audit_clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def walked(client: TestClient, token: Callable[..., dict[str, str]], audit_clock: ManualClock) -> dict[str, Any]:
    """A KSDD walked through six events, an hour apart; returns {id, versions: {v: recorded_at}}."""
    created = client.post("/agreements", json=BANDUNG, headers=token(KOTA))
    assert created.status_code == 201, created.text
    agreement = created.json()
    url = f"/agreements/{agreement['id']}"
    times = {1: audit_clock.now()}
    steps = [
        (KOTA, "submit-offer", {"reference": "005/KS/XI/2025", "sent_on": "2025-11-03"}),
        (KAB, "record-offer-response", {"decision": "accepted", "reference": "415/2025", "responded_on": "2025-11-10"}),
        (KOTA, "sign-framework", {"number": "KB/01/BDG/2025", "signed_on": "2025-12-01", "valid_from": "2025-12-01",
                                  "valid_until": "2030-11-30",
                                  "signatories": [kepala(KOTA, "Wali Kota"), kepala(KAB, "Bupati")]}),
        (KOTA, "draft-pks", {"title": "PKS angkutan sampah", "object": "Angkutan ke TPPAS", "value_idr": 1_000_000,
                             "budgeted_in_apbd": True, "drafted_on": "2025-12-05"}),
        (KOTA, "sign-pks", {"pks": "pks-1", "number": "PKS/01/2025", "signed_on": "2025-12-20",
                            "start_on": "2026-01-01", "end_on": "2027-12-31",
                            "signatories": [kepala(KOTA, "Wali Kota"), kepala(KAB, "Bupati")]}),
    ]
    for tenant, action, body in steps:
        audit_clock.advance(hours=1)
        response = client.post(f"{url}/actions/{action}", json=body,
                               headers={**token(tenant), "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, response.text
        agreement = response.json()
        times[agreement["version"]] = audit_clock.now()
    assert agreement["version"] == 6
    return {"id": agreement["id"], "url": url, "times": times, "final": agreement}


@contextmanager
def superuser(url: str) -> Iterator[psycopg.Connection]:
    """A superuser session with triggers off (`session_replication_role = replica`): the
    only way past the tables' refusal to UPDATE or DELETE events."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@contextmanager
def tampered_state(url: str, agreement_id: str, version: int, position: int) -> Iterator[None]:
    """Flip one bit of one byte of a stored event's state, then put it back."""
    with superuser(url) as conn:
        (state,) = conn.execute(f"SELECT state FROM {EVENTS} WHERE originator_id = %s AND originator_version = %s",
                                (agreement_id, version)).fetchone()
        changed = bytearray(state)
        changed[position] ^= 0x01
        conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = %s",
                     (bytes(changed), agreement_id, version))
        try:
            yield
        finally:
            conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = %s",
                         (state, agreement_id, version))


def verify(client: TestClient, token, agreement_url: str) -> dict[str, Any]:
    response = client.get(f"{agreement_url}/verify", headers=token("national", "auditor"))
    assert response.status_code == 200, response.text
    return response.json()


def offline(bundle: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`ksd audit verify FILE` in a fresh process with no database configured."""
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    env = {"PATH": "/usr/bin:/bin", "KSD_DATA_DIR": str(tmp_path / "nowhere")}
    return subprocess.run([sys.executable, "-m", "services.ksd.cli", "audit", "verify", str(path), *extra],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


# -- history and time travel ---------------------------------------------------------------------


def test_history_lists_every_event_with_its_chain(client: TestClient, token, walked) -> None:
    response = client.get(f"{walked['url']}/history", headers=token(KAB))
    assert response.status_code == 200, response.text
    history = response.json()
    assert [e["version"] for e in history] == [1, 2, 3, 4, 5, 6]
    assert [e["type"] for e in history] == [
        "Started", "OfferSubmitted", "OfferResponseRecorded", "FrameworkSigned", "PksDrafted", "PksSigned"]
    assert history[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(history):
        assert after["prev_hash"] == before["hash"]
    assert history[2]["actor"]["tenant"] == KAB and history[2]["actor"]["roles"] == ["operator"]
    assert history[3]["data"]["number"] == "KB/01/BDG/2025"
    assert all(e["data"]["class_version"] >= 1 for e in history)
    assert history[1]["recorded_at"].startswith(walked["times"][2].isoformat()[:19])

    # Another province sees nothing, not even that it exists.
    assert client.get(f"{walked['url']}/history", headers=token("35.78")).status_code == 404


def test_history_in_graphql(client: TestClient, token, walked) -> None:
    query = """query($id: ID!) { agreement(id: $id, version: 3) { version stage
                 history { version type actor { tenant } prevHash hash data } } }"""
    response = client.post("/graphql", json={"query": query, "variables": {"id": walked["id"]}},
                           headers=token("32"))
    body = response.json()
    assert "errors" not in body, body
    node = body["data"]["agreement"]
    assert (node["version"], node["stage"]) == (3, "PENYUSUNAN_KESEPAKATAN")
    assert [e["version"] for e in node["history"]] == [1, 2, 3, 4, 5, 6]  # the history is always whole
    rest = client.get(f"{walked['url']}/history", headers=token("32")).json()
    assert [e["hash"] for e in node["history"]] == [e["hash"] for e in rest]


def test_time_travel_by_version_and_moment(client: TestClient, token, walked) -> None:
    url, times, headers = walked["url"], walked["times"], token(KOTA)
    stages = {1: "persiapan", 2: "penawaran", 3: "penyusunan_kesepakatan", 4: "kesepakatan_ditandatangani",
              5: "kesepakatan_ditandatangani", 6: "pelaksanaan"}
    for version, stage in stages.items():
        then = client.get(url, params={"version": version}, headers=headers)
        assert then.status_code == 200, then.text
        assert (then.json()["version"], then.json()["stage"]) == (version, stage)
        at = client.get(url, params={"as_of": times[version].isoformat()}, headers=headers).json()
        assert at["version"] == version
    # Between two events: the earlier one's state.
    halfway = (times[4] + (times[5] - times[4]) / 2).isoformat()
    assert client.get(url, params={"as_of": halfway}, headers=headers).json()["version"] == 4
    assert len(client.get(url, params={"version": 5}, headers=headers).json()["pks"]) == 1

    past_head = client.get(url, params={"version": 7}, headers=headers)
    assert past_head.status_code == 404 and past_head.json()["code"] == "version_not_found"
    assert past_head.headers["content-type"].startswith("application/problem+json")
    before = client.get(url, params={"as_of": "2020-01-01T00:00:00+07:00"}, headers=headers)
    assert before.status_code == 404 and before.json()["code"] == "not_yet_recorded"
    assert client.get(url, params={"version": 0}, headers=headers).status_code == 400
    assert client.get(url, params={"as_of": "kemarin"}, headers=headers).status_code == 400
    assert client.get(url, params={"as_of": "2026-01-05T08:00:00"}, headers=headers).status_code == 422  # no zone
    assert client.get(url, params={"version": 2}, headers=token("35.78")).status_code == 404
    # Another tenant learns nothing of its versions either: past the head is "not found" too.
    past_its_head = client.get(url, params={"version": 7}, headers=token("35.78"))
    assert past_its_head.status_code == 404 and past_its_head.json()["code"] == "not_found"
    assert client.get(url, params={"version": 2}, headers=token("35.78")).json()["code"] == "not_found"

    query = """query($id: ID!, $at: DateTime) { agreement(id: $id, asOf: $at) { version stage } }"""
    gql = client.post("/graphql", json={"query": query, "variables": {"id": walked["id"], "at": halfway}},
                      headers=headers).json()
    assert gql["data"]["agreement"] == {"version": 4, "stage": "KESEPAKATAN_DITANDATANGANI"}
    gone = client.post("/graphql", json={"query": "query($id: ID!) { agreement(id: $id, version: 99) { version } }",
                                         "variables": {"id": walked["id"]}}, headers=headers).json()
    assert gone["data"]["agreement"] is None


# -- verification, digests, bundles ---------------------------------------------------------------


def test_untouched_history_verifies_online_and_offline(client: TestClient, token, walked, tmp_path: Path) -> None:
    result = verify(client, token, walked["url"])
    assert result["valid"] is True and result["events"] == 6 and result["first_invalid_version"] is None

    assert client.get(f"{walked['url']}/export", headers=token(KOTA)).status_code == 403  # operators do not export
    response = client.get(f"{walked['url']}/export", headers=token("national", "auditor"))
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    bundle = response.json()
    assert [leaf["version"] for leaf in bundle["log"]["leaves"]] == [1, 2, 3, 4, 5, 6]
    assert bundle["events"][-1]["hash"] == result["head_hash"]

    heads = client.get("/audit/heads")  # published: no token needed
    assert heads.status_code == 200
    latest = heads.json()["items"][0]
    assert latest == bundle["log"]["latest"] and latest["public_key"] == bundle["public_key"]["base64"]
    assert verify(client, token, walked["url"])["log"]["anchored_version"] == 6
    assert client.get("/audit/digests").status_code == 200  # the national digests signed before stay published

    run = offline(bundle, tmp_path, "--public-key", latest["public_key"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "HASIL: UTUH" in run.stdout and "RESULT: INTACT" in run.stdout

    # A key the auditor does not trust is refused, even with a valid signature.
    other = signing.public_key_raw(signing.generate_private_key())
    run = offline(bundle, tmp_path, "--public-key", base64.b64encode(other).decode())
    assert run.returncode == 1 and "key" in run.stdout


def test_every_byte_of_a_stored_event_is_covered(client: TestClient, token, walked, audit_url: str) -> None:
    """Flip one bit in each byte of version 4's stored state in turn: the check names
    version 4 every time, and the untouched history verifies again afterwards."""
    audit = client.app.state.audit
    identity = _auditor(client, token)
    with psycopg.connect(audit_url) as conn:
        (state,) = conn.execute(f"SELECT state FROM {EVENTS} WHERE originator_id = %s AND originator_version = 4",
                                (walked["id"],)).fetchone()
    for position in range(len(state)):
        with tampered_state(audit_url, walked["id"], 4, position):
            result = audit.verify(identity, _uuid(walked["id"]))
            assert (result["valid"], result["first_invalid_version"]) == (False, 4), (position, result)
    assert audit.verify(identity, _uuid(walked["id"]))["valid"] is True


def test_tampering_is_caught_by_verify_and_by_the_offline_cli(
    client: TestClient, token, walked, audit_url: str, tmp_path: Path
) -> None:
    with tampered_state(audit_url, walked["id"], 3, 40):
        result = verify(client, token, walked["url"])
        assert (result["valid"], result["first_invalid_version"]) == (False, 3)
        assert result["reason_text"]["id"] and result["reason_text"]["en"]
        bundle = client.get(f"{walked['url']}/export", headers=token("national", "auditor")).json()
    run = offline(bundle, tmp_path)
    assert run.returncode == 1
    assert "TIDAK UTUH pada versi 3" in run.stdout and "NOT INTACT at version 3" in run.stdout

    # A believable rewrite: change the signed framework's number and recompute nothing.
    with superuser(audit_url) as conn:
        (state,) = conn.execute(f"SELECT state FROM {EVENTS} WHERE originator_id = %s AND originator_version = 4",
                                (walked["id"],)).fetchone()
        forged = bytes(state).replace(b"KB/01/BDG/2025", b"KB/09/BDG/2025")
        assert forged != bytes(state)
        conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 4",
                     (forged, walked["id"]))
        try:
            result = verify(client, token, walked["url"])
            assert (result["valid"], result["first_invalid_version"], result["reason"]) == (False, 4, "event_changed")
        finally:
            conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 4",
                         (state, walked["id"]))
    assert verify(client, token, walked["url"])["valid"] is True


def test_a_deleted_or_reordered_event_is_detected(client: TestClient, token, walked, audit_url: str) -> None:
    agreement = walked["id"]
    with superuser(audit_url) as conn:
        rows = conn.execute(f"SELECT * FROM {EVENTS} WHERE originator_id = %s ORDER BY originator_version",
                            (agreement,)).fetchall()
        chain = conn.execute(f"SELECT * FROM {CHAIN} WHERE originator_id = %s ORDER BY originator_version",
                             (agreement,)).fetchall()

        def restore() -> None:
            conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s", (agreement,))
            conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s", (agreement,))
            for row in rows:
                conn.execute(f"INSERT INTO {EVENTS} VALUES (%s, %s, %s, %s, %s)", row)
            for row in chain:
                conn.execute(f"INSERT INTO {CHAIN} VALUES (%s, %s, %s, %s, %s)", row)

        try:
            # A middle event deleted (its hash left behind): missing at 3.
            conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = 3", (agreement,))
            result = verify(client, token, walked["url"])
            assert (result["valid"], result["first_invalid_version"], result["reason"]) == (False, 3, "event_missing")
            # ...and its hash too: a gap in the versions.
            conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s AND originator_version = 3", (agreement,))
            result = verify(client, token, walked["url"])
            assert (result["valid"], result["first_invalid_version"]) == (False, 3)
            restore()

            # Two events swapped: wrong from the first swapped version on.
            conn.execute(f"UPDATE {EVENTS} SET originator_version = -1"
                         " WHERE originator_id = %s AND originator_version = 2",
                         (agreement,))
            conn.execute(f"UPDATE {EVENTS} SET originator_version = 2"
                         " WHERE originator_id = %s AND originator_version = 3",
                         (agreement,))
            conn.execute(f"UPDATE {EVENTS} SET originator_version = 3"
                         " WHERE originator_id = %s AND originator_version = -1",
                         (agreement,))
            result = verify(client, token, walked["url"])
            assert (result["valid"], result["first_invalid_version"], result["reason"]) == (
                False, 2, "events_reordered"
            )
            restore()

            # The last event cut off with its hash: the transparency log remembers it, at its version.
            conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = 6", (agreement,))
            conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s AND originator_version = 6", (agreement,))
            result = verify(client, token, walked["url"])
            assert (result["valid"], result["first_invalid_version"], result["reason"]) == (False, 6, "event_missing")
        finally:
            restore()
    assert verify(client, token, walked["url"])["valid"] is True


def test_an_edited_bundle_fails_offline_at_the_edited_version(
    client: TestClient, token, walked, tmp_path: Path
) -> None:
    bundle = client.get(f"{walked['url']}/export", headers=token("32", "monitor")).json()
    unconfirmed = offline(bundle, tmp_path)  # no trusted key: intact only if the bundle's key is genuine
    assert unconfirmed.returncode == 3 and "JIKA" in unconfirmed.stdout and "IF" in unconfirmed.stdout
    trusted = ("--public-key", bundle["public_key"]["base64"])
    assert offline(bundle, tmp_path, *trusted).returncode == 0

    forged = json.loads(json.dumps(bundle))  # a well-linked event invented after the signed head
    last = forged["events"][-1]
    invented = {**last, "version": last["version"] + 1, "prev_hash": last["hash"], "type": "Cancelled"}
    record = {"originator": forged["agreement"], **{k: invented[k] for k in
              ("version", "type", "topic", "recorded_at", "actor", "data", "state_sha256")}}
    invented["hash"] = chain_hash(last["hash"], record)
    forged["events"].append(invented)
    run = offline(forged, tmp_path, *trusted)
    assert run.returncode == 1 and "BELUM TERBUKTI pada versi 7" in run.stdout and "NOT PROVEN" in run.stdout

    broken = json.loads(json.dumps(bundle))
    broken["log"]["head"]["size"] = "x"
    assert offline(broken, tmp_path, *trusted).returncode == 2

    edited = json.loads(json.dumps(bundle))
    edited["events"][4]["data"]["value_idr"] = 9_000_000_000
    run = offline(edited, tmp_path, *trusted)
    assert run.returncode == 1 and "versi 5" in run.stdout and "version 5" in run.stdout

    cut = json.loads(json.dumps(bundle))
    cut["events"] = cut["events"][:-1]  # the head dropped: chain fine, the log knows better
    run = offline(cut, tmp_path, *trusted)
    assert run.returncode == 1 and "versi 6" in run.stdout

    resigned = json.loads(json.dumps(bundle))
    resigned["log"]["head"]["root"] = "00" * 32
    run = offline(resigned, tmp_path, *trusted)
    assert run.returncode == 1 and "tanda tangan" in run.stdout

    garbage = tmp_path / "garbage.json"
    garbage.write_text("bukan json")
    run = subprocess.run([sys.executable, "-m", "services.ksd.cli", "audit", "verify", str(garbage)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2


def test_a_rewrite_with_recomputed_hashes_is_never_signed(client: TestClient, token, walked, audit_url: str) -> None:
    """The strongest forgery a superuser can make in the database: edit an event and
    recompute every hash after it. The chain then agrees with itself, but not with the
    transparency log's leaf, and heads keep being signed for everything else."""
    agreement, audit = walked["id"], client.app.state.audit
    audit.sign_heads()
    with superuser(audit_url) as conn:
        events = conn.execute(f"SELECT originator_version, topic, state FROM {EVENTS} WHERE originator_id = %s "
                              "ORDER BY originator_version", (agreement,)).fetchall()
        chain = conn.execute(f"SELECT originator_version, prev_hash, hash FROM {CHAIN} WHERE originator_id = %s "
                             "ORDER BY originator_version", (agreement,)).fetchall()
        forged = bytes(events[3][2]).replace(b"KB/01/BDG/2025", b"KB/09/BDG/2025")
        conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 4",
                     (forged, agreement))
        prev = bytes(chain[2][2])
        for version, topic, state in events[3:]:
            state = forged if version == 4 else bytes(state)
            digest = bytes.fromhex(chain_hash(prev.hex(), record_of(agreement, version, topic, state)))
            conn.execute(f"UPDATE {CHAIN} SET prev_hash = %s, hash = %s WHERE originator_id = %s "
                         "AND originator_version = %s", (prev, digest, agreement, version))
            prev = digest
        try:
            result = verify(client, token, walked["url"])
            # The log's leaf of version 4 no longer matches: named at 4, where the rewrite began.
            assert (result["valid"], result["first_invalid_version"], result["reason"]) == (False, 4, "event_changed")
            assert client.post("/agreements", json=BANDUNG, headers=token(KOTA)).status_code == 201
            assert audit.sign_heads()  # the log itself is intact: its heads are still signed
        finally:
            conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 4",
                         (events[3][2], agreement))
            for version, prev_hash, digest in chain:
                conn.execute(f"UPDATE {CHAIN} SET prev_hash = %s, hash = %s WHERE originator_id = %s "
                             "AND originator_version = %s", (prev_hash, digest, agreement, version))
    assert verify(client, token, walked["url"])["valid"] is True


def test_the_worker_signs_tree_heads_and_no_national_digest(settings: Settings, client: TestClient, token,
                                                             walked, audit_url: str) -> None:
    """The hourly national digest is retired (issue 15): the registry worker signs the
    transparency log's tree heads instead, and `registry.audit_digests` is never written."""
    def state() -> tuple[int, int]:
        with psycopg.connect(audit_url) as conn:
            return conn.execute("SELECT (SELECT count(*) FROM registry.audit_digests), "
                                "(SELECT coalesce(max(size), 0) FROM audit.tree_heads)").fetchone()
    assert client.post("/agreements", json=BANDUNG, headers=token(KOTA)).status_code == 201
    with psycopg.connect(audit_url) as conn:
        size = conn.execute("SELECT size FROM audit.log_size").fetchone()[0]
    digests, _ = state()
    stop = threading.Event()
    worker_settings = Settings.from_env({}, data_dir=settings.data_dir)
    worker = threading.Thread(target=run_worker, args=(worker_settings, audit_url, stop))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while state()[1] < size and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert state() == (digests, size)
    assert verify(client, token, walked["url"])["log"]["anchored_version"] == 6


# -- v1 bundles: proven against a national digest signed before the log --------------------------

V1_BUNDLE = Path(__file__).parents[1] / "fixtures" / "audit" / "bundle_v1.json"


def test_a_v1_bundle_still_verifies_offline(tmp_path: Path) -> None:
    """A bundle exported before the transparency log (format v1, made by
    tests/fixtures/audit/make_v1_bundle.py with the code at 3c5e9bc) keeps its verdict:
    intact with its key, unconfirmed without, and an edit named at its version."""
    bundle = json.loads(V1_BUNDLE.read_text())
    assert bundle["format"] == "sinergi-ksd/audit-bundle/v1" and bundle["inclusion"]["path"]
    key = ("--public-key", bundle["public_key"]["base64"])
    run = offline(bundle, tmp_path, *key)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "HASIL: UTUH" in run.stdout and "RESULT: INTACT" in run.stdout
    assert "Peristiwa / events: 6" in run.stdout and "versi / covers up to version 6" in run.stdout
    assert offline(bundle, tmp_path).returncode == 3

    edited = json.loads(json.dumps(bundle))
    edited["events"][2]["data"]["reference"] = "999/2025"
    run = offline(edited, tmp_path, *key)
    assert run.returncode == 1 and "versi 3" in run.stdout and "version 3" in run.stdout

    cut = json.loads(json.dumps(bundle))
    cut["events"] = cut["events"][:-1]  # the digest remembers version 6
    run = offline(cut, tmp_path, *key)
    assert run.returncode == 1 and "versi 6" in run.stdout

    moved = json.loads(json.dumps(bundle))
    moved["inclusion"]["path"][0] = "00" * 32
    run = offline(moved, tmp_path, *key)
    assert run.returncode == 1 and "akar Merkle digest" in run.stdout

    other = base64.b64encode(signing.public_key_raw(signing.generate_private_key())).decode()
    assert offline(bundle, tmp_path, "--public-key", other).returncode == 1


def test_the_digests_signed_before_the_log_stay_published(client: TestClient, audit_url: str) -> None:
    """GET /audit/digests serves what was signed (historical, read only): here the digest of
    the v1 fixture, as a deployment upgraded from before the log still holds it."""
    bundle = json.loads(V1_BUNDLE.read_text())
    digest = bundle["digest"]
    with psycopg.connect(audit_url, autocommit=True) as conn:
        conn.execute("INSERT INTO registry.audit_digests (sequence, issued_at, position, tree_size, root, "
                     "previous_root, key_id, public_key, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     (digest["sequence"], digest["issued_at"], digest["position"], digest["tree_size"],
                      digest["root"], digest["previous_root"], digest["key_id"],
                      base64.b64decode(bundle["public_key"]["base64"]), digest["signature"]))
        with pytest.raises(psycopg.Error):
            conn.execute("UPDATE registry.audit_digests SET root = 'x'")  # never rewritten
    listed = client.get("/audit/digests")  # public
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [{**digest, "public_key": bundle["public_key"]["base64"]}], "next_before": None}
    assert client.get("/audit/digests", params={"before": digest["sequence"]}).json()["items"] == []


# -- helpers --------------------------------------------------------------------------------------


def _uuid(text: str):  # noqa: ANN202
    from uuid import UUID

    return UUID(text)


def _auditor(client: TestClient, token) -> Any:
    tokens = client.app.state.tokens
    return tokens.verify(token("national", "auditor")["Authorization"].split()[1])


# -- GraphQL: a page's histories in one read ---------------------------------------------------


def test_a_list_page_reads_its_agreements_histories_in_one_query(
    client: TestClient, token, walked, audit_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`history` on a page of `agreements` is loaded for the whole page at once (a DataLoader),
    not one event-store read per row; each equals the agreement's own history."""
    from services.registry.setup import projection_lag
    from services.registry.worker import make_runner
    from shared.audit.store import HashChainRecorder

    for title in ("Riwayat satu", "Riwayat dua"):
        assert client.post("/agreements", json={**BANDUNG, "title": title}, headers=token(KOTA)).status_code == 201
    with make_runner(audit_url) as runner, psycopg.connect(audit_url, autocommit=True) as conn:
        while projection_lag(conn) > 0:
            runner.run_forever(timeout=0.05)
    reads: list[list[Any]] = []
    original = HashChainRecorder.chain_entries_of

    def counted(self: HashChainRecorder, ids: Any, curs: Any = None) -> Any:
        reads.append(list(ids))
        return original(self, ids, curs)

    monkeypatch.setattr(HashChainRecorder, "chain_entries_of", counted)
    query = "{ agreements(first: 3) { edges { node { id history { version hash } } } } }"
    body = client.post("/graphql", json={"query": query}, headers=token(KOTA)).json()
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["agreements"]["edges"]]
    assert len(nodes) == 3
    assert len(reads) == 1 and sorted(map(str, reads[0])) == sorted(n["id"] for n in nodes)
    monkeypatch.setattr(HashChainRecorder, "chain_entries_of", original)
    for node in nodes:
        rest = client.get(f"/agreements/{node['id']}/history", headers=token(KOTA)).json()
        assert [(e["version"], e["hash"]) for e in node["history"]] == [(e["version"], e["hash"]) for e in rest]
    # Another province's page names none of them, and loads nothing it may not see.
    other = client.post("/graphql", json={"query": query}, headers=token("35.78")).json()
    assert {n["node"]["id"] for n in other["data"]["agreements"]["edges"]}.isdisjoint(n["id"] for n in nodes)
