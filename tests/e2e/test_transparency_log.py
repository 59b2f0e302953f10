"""The transparency log (issue 15): one Merkle log over every event of every service, signed
tree heads with consistency proofs, tampering isolated and named at its version, offline
verification of bundles and of a mirrored log.

Each defect the issue found is a test here: one tampered agreement no longer condemns the
others (and heads keep being signed), a deleted event after the last head is caught at its
position, a reordered event is named, a chain recomputed from version 3 is flagged at 3, a
past read of a tampered agreement carries a warning, and the CLI's counts are right.

Runs on its own database: it tampers with the store as a superuser.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry import audit as audit_module
from services.registry.app import create_app as create_registry
from services.registry.worker import RegistryWorker
from services.registry.worker import run as run_worker
from shared.audit import translog
from shared.audit.chain import chain_hash, record_of
from shared.audit.log_store import LogInconsistent
from shared.audit.mirror import MirrorError, mirror
from shared.clock import ManualClock
from shared.metrics import AUDIT_HEAD_REFUSED
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.test_registry_http import BANDUNG

KOTA, KAB = "32.73", "32.04"
EVENTS = "registry.registry_events"
CHAIN = "registry.registry_events_chain"


def kepala(region: str, name: str) -> dict[str, str]:
    return {"party": region, "name": name, "position": f"Kepala Daerah {region}", "capacity": "kepala_daerah"}


STEPS = [
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


@pytest.fixture(scope="module")
def log_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_translog") as url:
        migrate_all(url)
        yield url


@pytest.fixture(scope="module")
def log_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def client(settings: Settings, log_url: str, log_clock: ManualClock) -> Iterator[TestClient]:
    app = create_registry(settings, database_url=log_url, clock=log_clock)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def walk(client: TestClient, token, clock: ManualClock, steps: int = 5) -> dict[str, Any]:
    """A KSDD with `steps` steps after its start (version steps + 1)."""
    created = client.post("/agreements", json=BANDUNG, headers=token(KOTA))
    assert created.status_code == 201, created.text
    agreement = created.json()
    url = f"/agreements/{agreement['id']}"
    for tenant, action, body in STEPS[:steps]:
        clock.advance(hours=1)
        response = client.post(f"{url}/actions/{action}", json=body,
                               headers={**token(tenant), "If-Match": f'"{agreement["version"]}"'})
        assert response.status_code == 200, response.text
        agreement = response.json()
    return {"id": agreement["id"], "url": url, "version": agreement["version"]}


@pytest.fixture(scope="module")
def walked(client: TestClient, token, log_clock: ManualClock) -> list[dict[str, Any]]:
    """Three agreements of six events each, the log signed over them."""
    agreements = [walk(client, token, log_clock) for _ in range(3)]
    assert client.app.state.audit.sign_heads()
    return agreements


@contextmanager
def superuser(url: str) -> Iterator[psycopg.Connection]:
    """Triggers off (`session_replication_role = replica`): the only way past the tables'
    refusal to UPDATE or DELETE events."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@contextmanager
def saved_events(url: str, agreement: str) -> Iterator[psycopg.Connection]:
    """A superuser session; the agreement's events and chain are put back as they were after."""
    with superuser(url) as conn:
        rows = conn.execute(f"SELECT * FROM {EVENTS} WHERE originator_id = %s", (agreement,)).fetchall()
        chain = conn.execute(f"SELECT * FROM {CHAIN} WHERE originator_id = %s", (agreement,)).fetchall()
        try:
            yield conn
        finally:
            conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s", (agreement,))
            conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s", (agreement,))
            for row in rows:
                conn.execute(f"INSERT INTO {EVENTS} VALUES (%s, %s, %s, %s, %s)", row)
            for row in chain:
                conn.execute(f"INSERT INTO {CHAIN} VALUES (%s, %s, %s, %s, %s)", row)


def forge(conn: psycopg.Connection, agreement: str, version: int) -> None:
    """A believable edit: the framework's number changed in the stored event."""
    (state,) = conn.execute(f"SELECT state FROM {EVENTS} WHERE originator_id = %s AND originator_version = %s",
                            (agreement, version)).fetchone()
    forged = bytes(state).replace(b"KB/01/BDG/2025", b"KB/09/BDG/2025").replace(b"005/KS/XI", b"009/KS/XI")
    assert forged != bytes(state)
    conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = %s",
                 (forged, agreement, version))


def verify(client: TestClient, token, agreement: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"{agreement['url']}/verify", headers=token("national", "auditor"))
    assert response.status_code == 200, response.text
    return response.json()


def verdict(result: dict[str, Any]) -> tuple[bool, int | None, str | None]:
    return result["valid"], result["first_invalid_version"], result["reason"]


def heads(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/audit/heads", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ksd(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process, with no database configured."""
    env = {"PATH": "/usr/bin:/bin", "KSD_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "services.ksd.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def public_key(client: TestClient) -> str:
    return heads(client)[0]["public_key"]


# -- one log over every event ---------------------------------------------------------------------


def test_every_event_of_every_service_is_a_leaf_in_store_order(client: TestClient, walked, log_url: str) -> None:
    with psycopg.connect(log_url) as conn:
        size = conn.execute("SELECT size FROM audit.log_size").fetchone()[0]
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit.log_leaves ORDER BY seq")]
        tables = conn.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE "
                              "table_schema IN ('registry', 'monitoring', 'reporting') AND table_name LIKE '%%_events'"
                              ).fetchall()
        events = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables)
        registry = conn.execute(
            "SELECT l.seq, e.notification_id FROM audit.log_leaves l JOIN registry.registry_events e "
            "USING (originator_id, originator_version) WHERE l.service = 'registry' ORDER BY l.seq").fetchall()
        leaf, link, oid, version = conn.execute(
            "SELECT l.leaf_hash, c.hash, c.originator_id, c.originator_version FROM audit.log_leaves l "
            "JOIN registry.registry_events_chain c USING (originator_id, originator_version) LIMIT 1").fetchone()
    assert seqs == list(range(size)) and size == events >= 18  # gap-free, one per event of every service
    assert [n for _, n in registry] == sorted(n for _, n in registry)  # in the event store's order
    assert bytes(leaf) == translog.event_leaf("registry", str(oid), version, bytes(link))

    # The log's tables refuse edits from the platform's own role.
    with psycopg.connect(log_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE audit.log_leaves SET leaf_hash = leaf_hash WHERE seq = 0")


def test_heads_and_proofs_are_served_and_verify(client: TestClient, token, walked, log_clock) -> None:
    first = heads(client)[0]
    walk(client, token, log_clock, steps=1)
    client.app.state.audit.sign_heads()
    listed = heads(client)
    latest = listed[0]
    assert latest["size"] > first["size"] and latest["consistency"]["from"] == listed[1]["size"]
    assert client.get(f"/audit/heads/{latest['size']}").json() == latest
    assert client.get("/audit/heads/999999").status_code == 404
    paged = client.get("/audit/heads", params={"limit": 1}).json()
    assert paged["items"] == [latest] and paged["next_before"] == latest["size"]

    root = bytes.fromhex(latest["root"])
    for seq in (0, latest["size"] // 2, latest["size"] - 1):
        proof = client.get("/audit/proofs/inclusion", params={"seq": seq, "size": latest["size"]}).json()
        assert translog.verify_inclusion(bytes.fromhex(proof["leaf_hash"]), seq, latest["size"],
                                         [bytes.fromhex(p) for p in proof["proof"]], root)
    proof = client.get("/audit/proofs/consistency", params={"from": first["size"], "to": latest["size"]}).json()
    assert translog.verify_consistency(first["size"], latest["size"], bytes.fromhex(first["root"]), root,
                                       [bytes.fromhex(p) for p in proof["proof"]])
    leaves = client.get("/audit/leaves", params={"from": 0, "to": latest["size"]}).json()["items"]
    assert [leaf["seq"] for leaf in leaves] == list(range(latest["size"])) and set(leaves[0]) == {"seq", "leaf_hash"}
    assert translog.root_of([bytes.fromhex(leaf["leaf_hash"]) for leaf in leaves]) == root

    too_far = client.get("/audit/proofs/inclusion", params={"seq": 0, "size": latest["size"] + 1000})
    assert too_far.status_code == 400 and too_far.json()["code"] == "proof_out_of_range"
    assert client.get("/audit/leaves", params={"from": 5, "to": 5}).json()["code"] == "invalid_range"


# -- the defects ---------------------------------------------------------------------------


def test_one_tampered_agreement_does_not_condemn_the_others(
    client: TestClient, token, walked, log_url: str, log_clock: ManualClock, tmp_path: Path
) -> None:
    tampered, untouched = walked[0], walked[1]
    audit = client.app.state.audit
    with saved_events(log_url, tampered["id"]) as conn:
        forge(conn, tampered["id"], 4)
        assert verdict(verify(client, token, tampered)) == (False, 4, "event_changed")
        result = verify(client, token, untouched)
        assert verdict(result) == (True, None, None) and result["log"]["anchored_version"] == 6

        # Heads keep being signed for everything recorded after the edit.
        before = heads(client)[0]["size"]
        later = walk(client, token, log_clock, steps=2)
        assert audit.sign_heads() and heads(client)[0]["size"] == before + 3
        assert verify(client, token, later)["log"]["anchored_version"] == 3
        assert verdict(verify(client, token, untouched)) == (True, None, None)

        # ...and the untouched agreement's bundle verifies offline, the tampered one's names version 4.
        key = public_key(client)
        good = client.get(f"{untouched['url']}/export", headers=token("national", "auditor")).json()
        (tmp_path / "good.json").write_text(json.dumps(good))
        run = ksd("audit", "verify", str(tmp_path / "good.json"), "--public-key", key, data_dir=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "Peristiwa / events: 6" in run.stdout and "proven in the log: 6 dari / of 6" in run.stdout
        bad = client.get(f"{tampered['url']}/export", headers=token("national", "auditor")).json()
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        run = ksd("audit", "verify", str(tmp_path / "bad.json"), "--public-key", key, data_dir=tmp_path)
        assert run.returncode == 1
        assert "TIDAK UTUH pada versi 4" in run.stdout and "NOT INTACT at version 4" in run.stdout
        assert "Peristiwa / events: 6" in run.stdout
    assert verdict(verify(client, token, tampered)) == (True, None, None)


def test_every_byte_of_a_stored_event_is_covered_by_its_leaf(client: TestClient, token, walked, log_url: str) -> None:
    agreement = walked[2]
    with psycopg.connect(log_url) as conn:
        (state,) = conn.execute(f"SELECT state FROM {EVENTS} WHERE originator_id = %s AND originator_version = 2",
                                (agreement["id"],)).fetchone()
    audit = client.app.state.audit
    with saved_events(log_url, agreement["id"]) as conn:
        for position in range(0, len(state), 7):
            changed = bytearray(state)
            changed[position] ^= 0x01
            conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 2",
                         (bytes(changed), agreement["id"]))
            result = audit.check(UUID(agreement["id"]))
            assert (result["valid"], result["first_invalid_version"]) == (False, 2), (position, result)


def test_a_deleted_event_after_the_last_head_is_caught_at_its_position(
    client: TestClient, token, walked, log_url: str, log_clock: ManualClock
) -> None:
    agreement = walk(client, token, log_clock, steps=0)
    client.app.state.audit.sign_heads()
    response = client.post(f"{agreement['url']}/actions/submit-offer", json=STEPS[0][2],
                           headers={**token(KOTA), "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    signed = heads(client)[0]["size"]
    with saved_events(log_url, agreement["id"]) as conn:
        conn.execute(f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = 2", (agreement["id"],))
        conn.execute(f"DELETE FROM {CHAIN} WHERE originator_id = %s AND originator_version = 2", (agreement["id"],))
        assert heads(client)[0]["size"] == signed  # no head signed since: the log alone remembers version 2
        assert verdict(verify(client, token, agreement)) == (False, 2, "event_missing")
        # A head signed now still holds the leaf: the deletion stays visible.
        client.app.state.audit.sign_heads()
        assert verdict(verify(client, token, agreement)) == (False, 2, "event_missing")
        assert verdict(verify(client, token, walked[1]))[0] is True


def test_a_reordered_event_is_named(client: TestClient, token, walked, log_url: str) -> None:
    agreement = walked[1]
    with saved_events(log_url, agreement["id"]) as conn:
        for old, new in ((2, -1), (3, 2), (-1, 3)):
            conn.execute(f"UPDATE {EVENTS} SET originator_version = %s WHERE originator_id = %s "
                         "AND originator_version = %s", (new, agreement["id"], old))
        assert verdict(verify(client, token, agreement)) == (False, 2, "events_reordered")
        assert verdict(verify(client, token, walked[2]))[0] is True
    assert verdict(verify(client, token, agreement)) == (True, None, None)


def test_a_chain_recomputed_from_version_3_is_flagged_at_3(client: TestClient, token, walked, log_url: str) -> None:
    agreement = walked[1]["id"]
    with saved_events(log_url, agreement) as conn:
        events = conn.execute(f"SELECT originator_version, topic, state FROM {EVENTS} WHERE originator_id = %s "
                              "ORDER BY originator_version", (agreement,)).fetchall()
        (prev,) = conn.execute(f"SELECT hash FROM {CHAIN} WHERE originator_id = %s AND originator_version = 2",
                               (agreement,)).fetchone()
        prev = bytes(prev)
        for version, topic, state in events[2:]:
            state = bytes(state)
            if version == 3:
                state = state.replace(b"415/2025", b"999/2025")
                conn.execute(f"UPDATE {EVENTS} SET state = %s WHERE originator_id = %s AND originator_version = 3",
                             (state, agreement))
            digest = bytes.fromhex(chain_hash(prev.hex(), record_of(agreement, version, topic, state)))
            conn.execute(f"UPDATE {CHAIN} SET prev_hash = %s, hash = %s WHERE originator_id = %s "
                         "AND originator_version = %s", (prev, digest, agreement, version))
            prev = digest
        assert verdict(verify(client, token, walked[1])) == (False, 3, "event_changed")


def test_a_past_read_of_a_tampered_agreement_carries_a_warning(client: TestClient, token, walked, log_url: str) -> None:
    tampered, untouched = walked[0], walked[2]
    headers = token(KOTA)
    clean = client.get(untouched["url"], params={"version": 3}, headers=headers)
    assert clean.status_code == 200 and "x-ksd-integrity" not in clean.headers
    assert "integrity_warning" not in clean.json()
    with saved_events(log_url, tampered["id"]) as conn:
        forge(conn, tampered["id"], 2)
        for params in ({"version": 3}, {"as_of": "2099-01-01T00:00:00+07:00"}):
            read = client.get(tampered["url"], params=params, headers=headers)
            assert read.status_code == 200, read.text
            assert read.headers["x-ksd-integrity"] == "failed"
            warning = read.json()["integrity_warning"]
            assert (warning["first_invalid_version"], warning["reason"]) == (2, "event_changed")
        history = client.get(f"{tampered['url']}/history", headers=headers)
        assert history.headers["x-ksd-integrity"] == "failed"
        assert "x-ksd-integrity" not in client.get(untouched["url"], params={"version": 3}, headers=headers).headers


def test_a_past_read_right_after_an_edit_is_warned_though_the_same_agreement_read_clean_before(
    client: TestClient, token, walked, log_url: str,
) -> None:
    """Past reads remember the last verdict per agreement (a check of a 1,000-event history takes
    80 ms), but only for rows that have not changed since: an edit in place, a link rewritten,
    or a restored row is judged again at the next read."""
    agreement, headers = walked[2], token(KOTA)
    for _ in range(2):  # the second read: the remembered verdict
        clean = client.get(agreement["url"], params={"version": 3}, headers=headers)
        assert clean.status_code == 200 and "x-ksd-integrity" not in clean.headers
    with saved_events(log_url, agreement["id"]) as conn:
        forge(conn, agreement["id"], 2)
        read = client.get(agreement["url"], params={"version": 3}, headers=headers)
        assert read.headers["x-ksd-integrity"] == "failed"
        assert read.json()["integrity_warning"]["first_invalid_version"] == 2
    # Put back as it was: clean again.
    assert "x-ksd-integrity" not in client.get(agreement["url"], params={"version": 3}, headers=headers).headers


def test_a_remembered_verdict_is_judged_again_once_old_though_no_row_changed(
    client: TestClient, token, walked, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past reads key their remembered verdict on the row versions of the agreement's events,
    links and leaves, which an edit of the database's files underneath does not change: such
    an edit is found once the verdict is VERDICT_MAX_AGE_S old, when the next read checks the
    content again."""
    audit = client.app.state.audit
    agreement, headers = walked[1], token(KOTA)
    checked: list[UUID] = []
    check = audit.check
    monkeypatch.setattr(audit, "check", lambda agreement_id: checked.append(agreement_id) or check(agreement_id))

    def read() -> None:
        past = client.get(agreement["url"], params={"version": 3}, headers=headers)
        assert past.status_code == 200 and "x-ksd-integrity" not in past.headers

    for _ in range(3):
        read()
    assert len(checked) <= 1  # at most the first read judged; the others were remembered
    monkeypatch.setattr(audit_module, "VERDICT_MAX_AGE_S", 0.0)
    checked.clear()
    for _ in range(2):
        read()
    assert checked == [UUID(agreement["id"])] * 2


def test_readers_arriving_while_an_agreement_is_checked_wait_for_its_verdict_not_check_again(
    client: TestClient, walked, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a restart (no verdict remembered), many past reads of one agreement at once: one
    check (80 ms for 1,000 events), the others given its verdict."""
    audit = client.app.state.audit
    agreement = UUID(walked[0]["id"])
    audit._verdicts.pop(agreement, None)  # as after a restart
    checked: list[UUID] = []
    check = audit.check

    def slow_check(agreement_id: UUID) -> dict[str, Any]:
        checked.append(agreement_id)
        time.sleep(0.3)  # long enough for every reader to arrive while it runs
        return check(agreement_id)

    monkeypatch.setattr(audit, "check", slow_check)
    readers = 8
    start = threading.Barrier(readers)
    warnings: list[Any] = []

    def read() -> None:
        start.wait()
        warnings.append(audit.integrity_warning(agreement))

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings == [None] * readers  # untouched: every reader told it verifies
    assert checked == [agreement]
    assert not audit._checking  # nothing left behind


def test_the_signer_refuses_an_edited_log_and_the_platform_keeps_serving(
    settings: Settings, client: TestClient, token, walked, log_url: str, log_clock: ManualClock
) -> None:
    audit = client.app.state.audit
    walk(client, token, log_clock, steps=0)
    audit.sign_heads()
    last = heads(client)[0]
    with superuser(log_url) as conn:
        nodes = conn.execute("SELECT level, idx, hash FROM audit.log_nodes").fetchall()
        (leaf,) = conn.execute("SELECT leaf_hash FROM audit.log_leaves WHERE seq = %s", (last["size"] - 1,)).fetchone()
        conn.execute("UPDATE audit.log_nodes SET hash = sha256(hash)")
        conn.execute("UPDATE audit.log_leaves SET leaf_hash = sha256(leaf_hash) WHERE seq = %s", (last["size"] - 1,))
        try:
            walk(client, token, log_clock, steps=0)  # writes go on
            with pytest.raises(LogInconsistent):
                audit.sign_heads()
            worker = RegistryWorker(settings, log_url)
            worker.audit = audit
            refused = AUDIT_HEAD_REFUSED._value.get()
            worker._sign_heads()  # the worker's round: a critical log line and the metric, no exception
            assert AUDIT_HEAD_REFUSED._value.get() == refused + 1
            assert heads(client)[0]["size"] == last["size"]  # nothing signed over the edited log
            assert client.get(walked[1]["url"], headers=token(KOTA)).status_code == 200
        finally:
            for level, idx, digest in nodes:
                conn.execute("UPDATE audit.log_nodes SET hash = %s WHERE level = %s AND idx = %s", (digest, level, idx))
            conn.execute("UPDATE audit.log_leaves SET leaf_hash = %s WHERE seq = %s", (leaf, last["size"] - 1))
    assert audit.sign_heads()
    assert verdict(verify(client, token, walked[1])) == (True, None, None)


@pytest.mark.parametrize("edit", ["the first leaf", "an inner node"])
def test_an_edit_deep_inside_the_signed_log_is_found_by_the_signers_rolling_audit(
    client: TestClient, token, walked, log_url: str, log_clock: ManualClock, edit: str
) -> None:
    """Not a peak, not on the consistency path: the rolling audit rebuilds it from the leaves."""
    audit = client.app.state.audit
    walk(client, token, log_clock, steps=0)
    audit.sign_heads()
    table, where = (("audit.log_leaves", "seq = 0") if edit == "the first leaf"
                    else ("audit.log_nodes", "level = 1 AND idx = 0"))
    column = "leaf_hash" if table == "audit.log_leaves" else "hash"
    with superuser(log_url) as conn:
        (original,) = conn.execute(f"SELECT {column} FROM {table} WHERE {where}").fetchone()
        conn.execute(f"UPDATE {table} SET {column} = sha256({column}) WHERE {where}")
        try:
            walk(client, token, log_clock, steps=0)
            with pytest.raises(LogInconsistent):
                audit.sign_heads()
        finally:
            conn.execute(f"UPDATE {table} SET {column} = %s WHERE {where}", (original,))
    assert audit.sign_heads()


def test_an_edited_log_leaf_is_named_as_the_logs_not_the_events(
    client: TestClient, token, walked, log_url: str
) -> None:
    agreement = walked[2]
    with psycopg.connect(log_url) as conn:
        seq = conn.execute("SELECT seq FROM audit.log_leaves WHERE originator_id = %s AND originator_version = 5",
                           (agreement["id"],)).fetchone()[0]
    with superuser(log_url) as conn:
        (original,) = conn.execute("SELECT leaf_hash FROM audit.log_leaves WHERE seq = %s", (seq,)).fetchone()
        conn.execute("UPDATE audit.log_leaves SET leaf_hash = sha256(leaf_hash) WHERE seq = %s", (seq,))
        try:
            assert verdict(verify(client, token, agreement)) == (False, 5, "log_changed")
        finally:
            conn.execute("UPDATE audit.log_leaves SET leaf_hash = %s WHERE seq = %s", (original, seq))
    assert verdict(verify(client, token, agreement)) == (True, None, None)


# -- offline: bundles, the mirror, verify-log ---------------------------------------------------------


def test_an_edited_bundle_fails_offline_at_the_edited_version(
    client: TestClient, token, walked, tmp_path: Path
) -> None:
    bundle = client.get(f"{walked[2]['url']}/export", headers=token("32", "monitor")).json()
    key = bundle["public_key"]["base64"]

    def offline(data: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "bundle.json").write_text(json.dumps(data))
        return ksd("audit", "verify", str(tmp_path / "bundle.json"), *extra, data_dir=tmp_path)

    unconfirmed = offline(bundle)
    assert unconfirmed.returncode == 3 and "JIKA" in unconfirmed.stdout
    assert offline(bundle, "--public-key", key).returncode == 0

    edited = json.loads(json.dumps(bundle))
    edited["events"][4]["data"]["value_idr"] = 9_000_000_000
    run = offline(edited, "--public-key", key)
    assert run.returncode == 1 and "versi 5" in run.stdout and "Peristiwa / events: 6" in run.stdout

    cut = json.loads(json.dumps(bundle))
    cut["events"] = cut["events"][:-1]
    run = offline(cut, "--public-key", key)
    assert run.returncode == 1 and "TIDAK UTUH pada versi 6" in run.stdout

    invented = json.loads(json.dumps(bundle))
    last = invented["events"][-1]
    extra = {**last, "version": 7, "prev_hash": last["hash"], "type": "Cancelled"}
    extra["hash"] = chain_hash(last["hash"], {"originator": bundle["agreement"], **{
        k: extra[k] for k in ("version", "type", "topic", "recorded_at", "actor", "data", "state_sha256")}})
    invented["events"].append(extra)
    run = offline(invented, "--public-key", key)
    assert run.returncode == 1 and "BELUM TERBUKTI pada versi 7" in run.stdout

    moved = json.loads(json.dumps(bundle))
    leaves = moved["log"]["leaves"]
    leaves[1]["seq"], leaves[2]["seq"] = leaves[2]["seq"], leaves[1]["seq"]
    assert offline(moved, "--public-key", key).returncode == 1

    resigned = json.loads(json.dumps(bundle))
    resigned["log"]["head"]["root"] = "00" * 32
    run = offline(resigned, "--public-key", key)
    assert run.returncode == 1 and "tanda tangan" in run.stdout

    other = base64.b64encode(b"\x01" * 32).decode()
    assert offline(bundle, "--public-key", other).returncode == 1
    broken = json.loads(json.dumps(bundle))
    broken["log"]["head"]["size"] = "x"
    assert offline(broken, "--public-key", key).returncode == 2


def test_mirror_and_verify_log(client: TestClient, token, walked, log_clock: ManualClock, tmp_path: Path) -> None:
    directory = tmp_path / "mirror"
    key = public_key(client)
    first = mirror(client, "", directory, trusted_public_key=base64.b64decode(key))
    assert first.new_heads >= 1 and first.size == heads(client)[0]["size"]
    walk(client, token, log_clock, steps=2)
    client.app.state.audit.sign_heads()
    again = mirror(client, "", directory)
    assert again.new_heads == 1 and again.new_leaves == 3

    run = ksd("audit", "verify-log", str(directory), "--public-key", key, data_dir=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Daun / leaves: {again.size}" in run.stdout and "RESULT: INTACT" in run.stdout
    assert "events/s" in run.stdout
    assert ksd("audit", "verify-log", str(directory), data_dir=tmp_path).returncode == 3
    assert ksd("audit", "verify-log", str(tmp_path / "none"), data_dir=tmp_path).returncode == 2

    leaves = bytearray((directory / "leaves.bin").read_bytes())
    leaves[40] ^= 0x01
    (directory / "leaves.bin").write_bytes(bytes(leaves))
    run = ksd("audit", "verify-log", str(directory), "--public-key", key, data_dir=tmp_path)
    assert run.returncode == 1 and "TIDAK UTUH" in run.stdout
    leaves[40] ^= 0x01
    (directory / "leaves.bin").write_bytes(bytes(leaves))

    # A server whose log no longer extends what was mirrored is refused, and nothing written.
    lines = (directory / "heads.jsonl").read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["root"] = "11" * 32
    (directory / "heads.jsonl").write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")
    walk(client, token, log_clock, steps=0)
    client.app.state.audit.sign_heads()
    before = (directory / "leaves.bin").read_bytes()
    with pytest.raises(MirrorError):
        mirror(client, "", directory)
    assert (directory / "leaves.bin").read_bytes() == before


def test_the_worker_signs_heads_within_its_interval(
    settings: Settings, client: TestClient, token, walked, log_url: str, log_clock
) -> None:
    walk(client, token, log_clock, steps=0)
    with psycopg.connect(log_url) as conn:
        size = conn.execute("SELECT size FROM audit.log_size").fetchone()[0]
    stop = threading.Event()
    worker_settings = Settings.from_env({}, data_dir=settings.data_dir, audit_head_interval_seconds=1)
    worker = threading.Thread(target=run_worker, args=(worker_settings, log_url, stop))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while heads(client)[0]["size"] < size and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert heads(client)[0]["size"] >= size


def test_the_mirror_commands_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ksd audit mirror`: 2 when the server cannot be reached, 1 (nothing written) when the
    log it serves is not consistent with the mirror."""
    from typer.testing import CliRunner

    import shared.audit.mirror
    from services.ksd.cli import app

    unreachable = ksd("audit", "mirror", "http://127.0.0.1:9", str(tmp_path / "m"), data_dir=tmp_path)
    assert unreachable.returncode == 2 and "cannot fetch the log" in unreachable.stderr

    def inconsistent(*_: Any, **__: Any) -> None:
        raise MirrorError("the head of size 9 is not consistent with the head of size 7")

    monkeypatch.setattr(shared.audit.mirror, "mirror", inconsistent)
    result = CliRunner().invoke(app, ["audit", "mirror", "http://example.invalid", str(tmp_path / "m")])
    assert result.exit_code == 1 and "INCONSISTENT" in result.output


# -- GraphQL carries the warning; /verify proves only what is new; `ksd audit digest` ----------------

AGREEMENT_QUERY = """query($id: ID!, $version: Int, $asOf: DateTime) {
  agreement(id: $id, version: $version, asOf: $asOf) {
    version
    integrityWarning { code firstInvalidVersion reason reasonText { id en } message }
    history { version }
  }
}"""


def graphql_agreement(client: TestClient, token, agreement: dict[str, Any], **variables: Any) -> dict[str, Any]:
    query = {"query": AGREEMENT_QUERY, "variables": {"id": agreement["id"], **variables}}
    response = client.post("/graphql", json=query, headers=token(KOTA))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["agreement"]


def test_a_graphql_past_read_of_a_tampered_agreement_carries_the_warning(
    client: TestClient, token, walked, log_url: str
) -> None:
    """As REST's integrity_warning and X-KSD-Integrity: `integrityWarning` on the agreement,
    null when it verifies, else what failed and where."""
    tampered, untouched = walked[0], walked[2]
    for variables in ({"version": 3}, {"asOf": "2099-01-01T00:00:00+07:00"}, {}):
        clean = graphql_agreement(client, token, tampered, **variables)
        assert clean["integrityWarning"] is None and clean["history"]
    with saved_events(log_url, tampered["id"]) as conn:
        forge(conn, tampered["id"], 2)
        for variables in ({"version": 3}, {"asOf": "2099-01-01T00:00:00+07:00"}):
            read = graphql_agreement(client, token, tampered, **variables)
            warning = read["integrityWarning"]
            assert (warning["code"], warning["firstInvalidVersion"], warning["reason"]) == (
                "integrity_failed", 2, "event_changed")
            assert warning["reasonText"]["id"] and warning["reasonText"]["en"] and warning["message"]
            assert [e["version"] for e in read["history"]] == [1, 2, 3, 4, 5, 6]
        assert graphql_agreement(client, token, untouched, version=3)["integrityWarning"] is None
    assert graphql_agreement(client, token, tampered, version=3)["integrityWarning"] is None


def test_a_second_verify_proves_only_the_new_leaves_and_one_consistency_proof(
    client: TestClient, token, walked, log_url: str, log_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/verify at national size: what an earlier check proved is not proven again, and an
    event edited after that check is still named (every event is re-hashed each time)."""
    audit = client.app.state.audit
    agreement = walk(client, token, log_clock, steps=2)
    audit.sign_heads()
    asked: list[tuple[str, Any]] = []
    inclusion, consistency = audit.log.inclusion_proofs, audit.log.consistency_proof

    def counted_inclusion(seqs: Any, size: int, curs: Any = None) -> dict[int, list[bytes]]:
        seqs = sorted(seqs)
        asked.append(("inclusion", seqs))
        return inclusion(seqs, size, curs)

    def counted_consistency(first: int, second: int, curs: Any = None) -> list[bytes]:
        asked.append(("consistency", (first, second)))
        return consistency(first, second, curs)

    monkeypatch.setattr(audit.log, "inclusion_proofs", counted_inclusion)
    monkeypatch.setattr(audit.log, "consistency_proof", counted_consistency)
    first = verify(client, token, agreement)
    assert verdict(first) == (True, None, None) and first["log"]["anchored_version"] == 3
    assert asked == [("inclusion", first["log"]["positions"])]

    asked.clear()  # the same head: nothing to prove again
    assert verdict(verify(client, token, agreement)) == (True, None, None)
    assert asked == [("inclusion", [])]

    tenant, action, body = STEPS[2]
    log_clock.advance(hours=1)
    assert client.post(f"{agreement['url']}/actions/{action}", json=body,
                       headers={**token(tenant), "If-Match": '"3"'}).status_code == 200
    old_size = heads(client)[0]["size"]
    audit.sign_heads()
    new_size = heads(client)[0]["size"]
    asked.clear()  # one new leaf, and the old head proven a prefix of the new one
    again = verify(client, token, agreement)
    assert verdict(again) == (True, None, None) and again["log"]["anchored_version"] == 4
    assert asked == [("inclusion", again["log"]["positions"][-1:]), ("consistency", (old_size, new_size))]

    with saved_events(log_url, agreement["id"]) as conn:
        forge(conn, agreement["id"], 2)  # an event proven before, edited since
        assert verdict(verify(client, token, agreement)) == (False, 2, "event_changed")
    assert verdict(verify(client, token, agreement)) == (True, None, None)


def test_ksd_audit_digest_signs_a_tree_head_now_and_no_national_digest(
    settings: Settings, client: TestClient, token, walked, log_url: str, log_clock: ManualClock
) -> None:
    """The command kept its name and exit codes; it signs the log's tree head now. 0: signed
    or nothing new; 1: the stored log was edited, nothing signed."""
    from typer.testing import CliRunner

    from services.ksd.cli import app

    env = {"DATABASE_URL": log_url, "KSD_DATA_DIR": str(settings.data_dir)}
    client.app.state.audit.sign_heads()
    walk(client, token, log_clock, steps=0)
    with psycopg.connect(log_url) as conn:
        size = conn.execute("SELECT size FROM audit.log_size").fetchone()[0]
    signed = CliRunner().invoke(app, ["audit", "digest"], env=env)
    assert signed.exit_code == 0, signed.output
    assert heads(client)[0]["size"] == size
    assert "tree heads signed: 1" in signed.output and f"size {size}," in signed.output
    assert heads(client)[0]["root"] in signed.output

    again = CliRunner().invoke(app, ["audit", "digest", "--force"], env=env)
    assert again.exit_code == 0, again.output
    assert "nothing recorded since the last tree head" in again.output and f"size {size}," in again.output

    with superuser(log_url) as conn:
        nodes = conn.execute("SELECT level, idx, hash FROM audit.log_nodes").fetchall()
        conn.execute("UPDATE audit.log_nodes SET hash = sha256(hash)")
        try:
            walk(client, token, log_clock, steps=0)
            refused = CliRunner().invoke(app, ["audit", "digest"], env=env)
            assert refused.exit_code == 1, refused.output
            assert isinstance(refused.exception, SystemExit) and "tree head refused" in refused.output
            assert heads(client)[0]["size"] == size
        finally:
            for level, idx, digest in nodes:
                conn.execute("UPDATE audit.log_nodes SET hash = %s WHERE level = %s AND idx = %s", (digest, level, idx))
    with psycopg.connect(log_url) as conn:
        assert conn.execute("SELECT count(*) FROM registry.audit_digests").fetchone()[0] == 0  # retired
    assert client.get("/audit/digests").json() == {"items": [], "next_before": None}
