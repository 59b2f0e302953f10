"""Uploads through HTTP leave no orphan blobs: a lost race or a failed save leaves nothing in
the store, a failed promotion heals itself, and the sweeper (`sweep_orphan_blobs`,
`ksd sweep-blobs`) removes what older versions left. Plus the registry's 428, which names
the agreement's current version.

The registry app here has a blob store of its own (a temporary directory), so the files in it
are exactly this module's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner

from services.ksd.cli import app as cli
from services.registry.app import create_app as create_registry
from services.registry.application import Registry, sweep_orphan_blobs
from shared.blobs import FilesystemBlobStore, sha256_hex
from shared.clock import ManualClock
from shared.settings import Settings
from tests.e2e.test_registry_http import BANDUNG, event_count

KOTA = "32.73"
HOUR = 3600


def pdf(tag: str) -> bytes:
    """A small PDF with its own content (so its own SHA-256)."""
    return f"%PDF-1.7\n% {tag}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".encode()


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads") / "blobs"


@pytest.fixture(scope="module")
def client(settings: Settings, migrated_url: str, blob_dir: Path) -> Iterator[TestClient]:
    own = Settings.from_env({}, jwt_secret=settings.jwt_secret, data_dir=settings.data_dir, blob_dir=str(blob_dir),
                            db_pool_min=0, db_pool_max=3, log_level="warning")
    with TestClient(create_registry(own, database_url=migrated_url, clock=ManualClock()),
                    raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def registry(client: TestClient) -> Registry:
    return client.app.state.registry


@pytest.fixture
def store(registry: Registry) -> FilesystemBlobStore:
    assert isinstance(registry.blobs, FilesystemBlobStore)
    return registry.blobs


@pytest.fixture(autouse=True)
def empty_store(blob_dir: Path) -> None:
    """Each test starts from an empty store (the database keeps its events)."""
    for path in sorted(blob_dir.rglob("*"), reverse=True) if blob_dir.exists() else []:
        path.unlink() if path.is_file() else path.rmdir()


def files(store: FilesystemBlobStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def staged(store: FilesystemBlobStore) -> list[Path]:
    return sorted(p for p in store.staging.rglob("*") if p.is_file()) if store.staging.exists() else []


def new_agreement(client: TestClient, token: Callable[..., dict[str, str]]) -> dict[str, Any]:
    response = client.post("/agreements", json=BANDUNG, headers=token(KOTA))
    assert response.status_code == 201, response.text
    return response.json()


def attach(client: TestClient, token: Callable[..., dict[str, str]], agreement: dict[str, Any], content: bytes,
           *, version: int | None = None) -> Any:
    headers = token(KOTA)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return client.post(f"/agreements/{agreement['id']}/actions/attach-document",
                       files={"file": ("naskah.pdf", content, "application/pdf")},
                       data={"kind": "studi_kelayakan"}, headers=headers)


# -- no orphan blobs -------------------------------------------------------------------------------


def test_ten_concurrent_uploads_on_one_version_store_exactly_the_winners_file(
    client: TestClient, token, registry: Registry, store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    agreement = new_agreement(client, token)
    uploads = [pdf(f"upload {i}") for i in range(10)]
    # All ten decide on version 1 before any of them writes or saves: the race is real.
    everyone_decided = threading.Barrier(10, timeout=30)
    decide = registry._decide

    def decided_together(*args: Any, **kwargs: Any) -> Any:
        agreement = decide(*args, **kwargs)
        everyone_decided.wait()
        return agreement

    monkeypatch.setattr(registry, "_decide", decided_together)
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda content: attach(client, token, agreement, content, version=1), uploads))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9, [r.text for r in responses]
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    (document,) = winner["documents"]
    assert all(r.json()["code"] == "version_conflict" for r in responses if r.status_code == 409)
    assert files(store) == [store.path_of(document["sha256"])]
    assert staged(store) == []
    download = client.get(document["download_url"], headers=token(KOTA))
    assert download.status_code == 200 and download.content in uploads


def test_a_failed_save_leaves_nothing_in_the_store(
    client: TestClient, token, registry: Registry, store: FilesystemBlobStore, migrated_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agreement = new_agreement(client, token)
    before = event_count(migrated_url)

    def database_gone(*aggregates: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away mid-save")

    monkeypatch.setattr(registry, "save_command", database_gone)  # the group committer's way in
    failed = attach(client, token, agreement, pdf("never saved"), version=1)
    assert failed.status_code >= 500
    assert event_count(migrated_url) == before
    assert files(store) == []
    monkeypatch.undo()

    again = attach(client, token, agreement, pdf("never saved"), version=1)
    assert again.status_code == 200, again.text
    assert files(store) == [store.path_of(sha256_hex(pdf("never saved")))]


def test_a_lost_race_never_removes_the_same_document_another_event_references(
    client: TestClient, token, store: FilesystemBlobStore,
) -> None:
    content = pdf("the same signed copy")
    first, second = new_agreement(client, token), new_agreement(client, token)
    assert attach(client, token, first, content, version=1).status_code == 200
    stale = attach(client, token, second, content, version=2)  # second is at version 1: lost, 409
    assert stale.status_code == 409
    assert files(store) == [store.path_of(sha256_hex(content))]
    download = client.get(f"/agreements/{first['id']}/documents/{sha256_hex(content)}", headers=token(KOTA))
    assert download.status_code == 200 and download.content == content


def test_a_failed_promotion_answers_200_and_the_first_download_finishes_it(
    client: TestClient, token, store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    agreement = new_agreement(client, token)
    content = pdf("promotion fails")

    def storage_hiccup(staged: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store, "promote", storage_hiccup)
    saved = attach(client, token, agreement, content, version=1)
    assert saved.status_code == 200, saved.text  # the event is saved: the upload happened
    assert not store.exists(sha256_hex(content)) and len(staged(store)) == 1
    monkeypatch.undo()

    download = client.get(saved.json()["documents"][0]["download_url"], headers=token(KOTA))
    assert download.status_code == 200 and download.content == content
    assert files(store) == [store.path_of(sha256_hex(content))]


# -- the sweeper ----------------------------------------------------------------------------------


def age(path: Path, seconds: float = 2 * HOUR) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_sweeper_removes_old_unreferenced_files_and_keeps_referenced_and_recent_ones(
    client: TestClient, token, registry: Registry, store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    agreement = new_agreement(client, token)
    attached = pdf("attached and referenced")
    assert attach(client, token, agreement, attached, version=1).status_code == 200
    referenced = sha256_hex(attached)
    orphan = store.put(pdf("left by an older version"))  # no event names it
    recent = store.put(pdf("an orphan younger than the grace period"))
    for name in (referenced, orphan):
        age(store.path_of(name))

    # A save whose promotion failed, long ago: the event names it, so the sweeper promotes it.
    monkeypatch.setattr(store, "promote", lambda staged: (_ for _ in ()).throw(OSError(5, "I/O error")))
    unpromoted = pdf("saved, never promoted")
    assert attach(client, token, agreement, unpromoted, version=2).status_code == 200
    monkeypatch.undo()
    for path in staged(store):
        age(path)
    abandoned = store.stage(pdf("an upload whose save failed and whose cleanup crashed"))
    age(store.root / abandoned.ref)

    dry = sweep_orphan_blobs(registry, store, HOUR, dry_run=True)
    assert dry.deleted == [orphan] and dry.staged_deleted == 1
    assert store.exists(orphan) and len(staged(store)) == 2

    summary = sweep_orphan_blobs(registry, store, HOUR)
    assert summary.deleted == [orphan]
    assert summary.staged_promoted == [sha256_hex(unpromoted)]
    assert (summary.staged_deleted, summary.kept_recent) == (1, 1)
    assert files(store) == sorted(store.path_of(n) for n in (referenced, recent, sha256_hex(unpromoted)))
    assert not {referenced, sha256_hex(unpromoted)} & set(summary.missing)


def test_ksd_sweep_blobs_reports_with_dry_run_and_then_deletes(
    client: TestClient, token, store: FilesystemBlobStore, settings: Settings, migrated_url: str, blob_dir: Path,
) -> None:
    agreement = new_agreement(client, token)
    kept = pdf("kept by the command")
    assert attach(client, token, agreement, kept, version=1).status_code == 200
    orphan = store.put(pdf("deleted by the command"))
    for name in (sha256_hex(kept), orphan):
        age(store.path_of(name))
    env = {"DATABASE_URL": migrated_url, "KSD_BLOB_DIR": str(blob_dir), "KSD_DATA_DIR": settings.data_dir,
           "KSD_JWT_SECRET": settings.jwt_secret, "KSD_LOG_LEVEL": "warning"}

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["sweep-blobs", *args], env=env)
        # Exit 1 only when an event names a document this store lacks (other modules' uploads
        # went to the session's own store).
        assert result.exit_code == (1 if "HILANG / MISSING" in result.output else 0), result.output
        return result.output

    output = run("--dry-run", "--grace-seconds", str(HOUR))
    assert "akan dihapus / would delete: 1" in output
    assert store.exists(orphan)
    output = run("--grace-seconds", str(HOUR))
    assert "dihapus / deleted: 1" in output
    assert files(store) == [store.path_of(sha256_hex(kept))]


# -- 428 names the current version ---------------------------------------------------------------


def test_an_action_without_if_match_gets_428_naming_the_current_version(client: TestClient, token) -> None:
    agreement = new_agreement(client, token)
    offer = {"reference": "005/1", "sent_on": "2025-11-03"}
    moved = client.post(f"/agreements/{agreement['id']}/actions/submit-offer", json=offer,
                        headers={**token(KOTA), "If-Match": '"1"'})
    assert moved.status_code == 200 and moved.json()["version"] == 2

    missing = client.post(f"/agreements/{agreement['id']}/actions/cancel", json={"reason": "Batal"},
                          headers=token(KOTA))
    assert missing.status_code == 428
    assert missing.headers["content-type"].startswith("application/problem+json")
    problem = missing.json()
    assert problem["code"] == "precondition_required"
    assert problem["current_version"] == 2
    assert 'If-Match: "2"' in problem["detail"] and '"3"' not in problem["detail"]

    upload = attach(client, token, agreement, pdf("no If-Match"))
    assert upload.status_code == 428
    assert upload.json()["current_version"] == 2 and 'If-Match: "2"' in upload.json()["detail"]


def test_a_428_never_tells_the_version_to_a_tenant_that_cannot_see_the_agreement(client: TestClient, token) -> None:
    agreement = new_agreement(client, token)
    stranger = client.post(f"/agreements/{agreement['id']}/actions/cancel", json={"reason": "Batal"},
                           headers=token("35.78"))
    assert stranger.status_code == 404
    assert "current_version" not in stranger.json()
