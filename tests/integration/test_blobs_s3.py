"""The blob store contract, against the filesystem and against a real S3-compatible HTTP server.

The server is moto's `ThreadedMotoServer` on 127.0.0.1 (a free port chosen by the OS): the S3
store talks to it over HTTP with boto3 exactly as it would to AWS or MinIO. A second, plain
boto3 client (and plain HTTP) looks at the bucket behind the store's back.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from shared.blobs import (
    BlobCorrupt,
    BlobNotFound,
    BlobStore,
    FilesystemBlobStore,
    S3BlobStore,
    make_blob_store,
    sha256_hex,
    sweep_blobs,
)
from shared.settings import Settings

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with pytest.MonkeyPatch.context() as env:
            # A proxy from the developer's shell must not sit between boto3 and the loopback server.
            env.setenv("NO_PROXY", "127.0.0.1,localhost")
            env.setenv("no_proxy", "127.0.0.1,localhost")
            yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A plain boto3 client on the server, for setting up and inspecting buckets."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, versioned bucket: versions show how many times an object was really written."""
    name = f"ksd-test-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("bucket")
    return S3BlobStore(bucket, prefix="documents/", endpoint_url=endpoint, **CREDENTIALS)


@pytest.fixture
def stored_versions(s3: Any, tmp_path: Path) -> Callable[[BlobStore], int]:
    """How many times anything was written to the store (files, or object versions)."""

    def count(store: BlobStore) -> int:
        if isinstance(store, FilesystemBlobStore):
            return sum(1 for p in store.root.rglob("*") if p.is_file())
        assert isinstance(store, S3BlobStore)
        return len(s3.list_object_versions(Bucket=store.bucket).get("Versions", []))

    return count


# -- the contract, for both stores ------------------------------------------------------------


def test_put_returns_the_sha256_and_get_returns_the_bytes(store: BlobStore) -> None:
    name = store.put(PDF)
    assert name == hashlib.sha256(PDF).hexdigest()
    assert store.exists(name)
    assert store.get(name) == PDF


def test_a_large_document_round_trips(store: BlobStore) -> None:
    data = os.urandom(6 * 1024 * 1024)
    name = store.put(data)
    assert store.get(name) == data


def test_storing_the_same_content_again_writes_nothing(
    store: BlobStore, stored_versions: Callable[[BlobStore], int]
) -> None:
    name = store.put(PDF)
    assert store.put(PDF) == name
    assert store.put(bytearray(PDF)) == name
    assert stored_versions(store) == 1
    store.put(b"another document")
    assert stored_versions(store) == 2


def test_an_unknown_blob_is_not_found(store: BlobStore) -> None:
    unknown = hashlib.sha256(b"never stored").hexdigest()
    assert store.exists(unknown) is False
    with pytest.raises(BlobNotFound):
        store.get(unknown)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "a" * 63, "z" * 64, "a" * 64 + "/../x"])
def test_a_malformed_hash_is_rejected(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.get(bad)
    with pytest.raises(ValueError):
        store.exists(bad)


# -- staging and the sweeper, for both stores ------------------------------------------------

HOUR = 3600


def _later(hours: float = 2) -> float:
    """A clock `hours` ahead: everything stored so far is that old to the sweeper."""
    return time.time() + hours * HOUR


def test_a_staged_upload_is_reachable_only_after_promotion(store: BlobStore) -> None:
    staged = store.stage(PDF)
    assert staged.sha256 == hashlib.sha256(PDF).hexdigest()
    assert not store.exists(staged.sha256)
    with pytest.raises(BlobNotFound):
        store.get(staged.sha256)
    assert [s.sha256 for s in store.list_staged()] == [staged.sha256]
    assert list(store.list_blobs()) == []
    store.promote(staged)
    assert store.get(staged.sha256) == PDF
    assert list(store.list_staged()) == []
    assert [b.sha256 for b in store.list_blobs()] == [staged.sha256]


def test_a_discarded_upload_leaves_nothing_and_spares_the_stored_blob(store: BlobStore) -> None:
    name = store.put(PDF)
    store.discard(store.stage(PDF))  # a lost race with the same content
    store.discard(store.stage(b"another document"))  # a failed save
    assert list(store.list_staged()) == []
    assert [b.sha256 for b in store.list_blobs()] == [name]
    assert store.get(name) == PDF


def test_a_staged_upload_whose_promotion_failed_is_promoted_on_demand(store: BlobStore) -> None:
    staged = store.stage(PDF)
    assert store.promote_staged(staged.sha256)
    assert store.get(staged.sha256) == PDF
    assert list(store.list_staged()) == []
    assert not store.promote_staged(sha256_hex(b"never uploaded"))


def test_the_sweeper_deletes_only_old_unreferenced_blobs_and_abandoned_uploads(store: BlobStore) -> None:
    referenced, orphan = store.put(PDF), store.put(b"orphan")
    saved = store.stage(b"saved, promotion failed")
    abandoned = store.stage(b"abandoned")
    names = {referenced, saved.sha256}

    young = sweep_blobs(store, lambda: names, grace_seconds=HOUR)  # nothing is old enough yet
    assert (young.deleted, young.kept_recent, young.staged_recent) == ([], 1, 2)
    assert store.exists(orphan)

    dry = sweep_blobs(store, lambda: names, grace_seconds=HOUR, dry_run=True, now=_later)
    assert (dry.deleted, dry.staged_deleted, dry.staged_promoted) == ([orphan], 1, [saved.sha256])
    assert store.exists(orphan) and len(list(store.list_staged())) == 2

    summary = sweep_blobs(store, lambda: names, grace_seconds=HOUR, now=_later)
    assert (summary.deleted, summary.bytes_freed) == ([orphan], len(b"orphan"))
    assert (summary.staged_promoted, summary.staged_deleted) == ([saved.sha256], 1)
    assert sorted(b.sha256 for b in store.list_blobs()) == sorted(names)
    assert list(store.list_staged()) == [] and list(store.list_quarantined()) == []
    assert not store.exists(abandoned.sha256)


def test_the_sweeper_puts_back_a_blob_referenced_by_an_upload_saved_meanwhile(store: BlobStore) -> None:
    name = store.put(PDF)
    looks: list[int] = []

    def references() -> set[str]:
        looks.append(1)
        return set() if len(looks) == 1 else {name}

    summary = sweep_blobs(store, references, grace_seconds=HOUR, now=_later)
    assert (summary.deleted, summary.restored) == ([], 1)
    assert store.get(name) == PDF
    assert list(store.list_quarantined()) == []


# -- S3 specifics -----------------------------------------------------------------------------


def test_objects_are_named_prefix_plus_sha256_and_carry_their_checksum(s3_endpoint: str, s3: Any, bucket: str) -> None:
    store = S3BlobStore(bucket, prefix="prod/docs/", endpoint_url=s3_endpoint, **CREDENTIALS)
    # moto accepts a checksum header without checking or keeping it, so look at what is sent
    # (an observer on boto3's own event hooks; the request goes out unchanged).
    sent: list[dict[str, str]] = []
    store._client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append({k.lower(): v for k, v in request.headers.items()}),
    )
    name = store.put(PDF)
    assert len(sent) == 1
    checksum = sent[0]["x-amz-checksum-sha256"]
    assert (checksum.decode() if isinstance(checksum, bytes) else checksum) == base64.b64encode(
        hashlib.sha256(PDF).digest()
    ).decode()

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"prod/docs/{name}"]
    assert s3.head_object(Bucket=bucket, Key=f"prod/docs/{name}")["ContentLength"] == len(PDF)

    # Really on the server: plain HTTP with a presigned URL gets the bytes back.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": f"prod/docs/{name}"})
    assert url.startswith(s3_endpoint)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == PDF


def test_stores_with_different_prefixes_do_not_see_each_other(s3_endpoint: str, bucket: str) -> None:
    one = S3BlobStore(bucket, prefix="one/", endpoint_url=s3_endpoint, **CREDENTIALS)
    two = S3BlobStore(bucket, prefix="two/", endpoint_url=s3_endpoint, **CREDENTIALS)
    name = one.put(PDF)
    assert not two.exists(name)
    with pytest.raises(BlobNotFound):
        two.get(name)


def test_an_object_changed_behind_the_stores_back_is_never_returned(s3_endpoint: str, s3: Any, bucket: str) -> None:
    store = S3BlobStore(bucket, endpoint_url=s3_endpoint, **CREDENTIALS)
    name = store.put(PDF)
    s3.put_object(Bucket=bucket, Key=name, Body=b"%PDF-1.7 forged")
    with pytest.raises(BlobCorrupt):
        store.get(name)


def test_a_missing_bucket_is_an_error_not_a_missing_document(s3_endpoint: str) -> None:
    store = S3BlobStore("no-such-bucket-here", endpoint_url=s3_endpoint, **CREDENTIALS)
    with pytest.raises(ClientError) as raised:
        store.get(hashlib.sha256(PDF).hexdigest())
    assert not isinstance(raised.value, BlobNotFound)
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.put(PDF)


def test_settings_select_s3_and_reach_the_server(s3_endpoint: str, bucket: str) -> None:
    settings = Settings.from_env(
        {
            "KSD_BLOB_STORE": "s3",
            "KSD_S3_BUCKET": bucket,
            "KSD_S3_PREFIX": "blobs/",
            "KSD_S3_ENDPOINT_URL": s3_endpoint,
            "KSD_S3_REGION": "us-east-1",
            "KSD_S3_ACCESS_KEY_ID": "testing",
            "KSD_S3_SECRET_ACCESS_KEY": "testing",
        }
    )
    store = make_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    name = store.put(PDF)
    assert store.get(name) == PDF


def test_the_sweeper_never_touches_objects_that_are_not_blobs(s3_endpoint: str, s3: Any, bucket: str) -> None:
    store = S3BlobStore(bucket, endpoint_url=s3_endpoint, **CREDENTIALS)  # no prefix: the whole bucket
    foreign = ["README.txt", "backups/2026-01-01.dump", "A" * 64, "other/" + "a" * 64]
    for key in foreign:
        s3.put_object(Bucket=bucket, Key=key, Body=b"not ours")
    orphan = store.put(b"orphan")
    staged = store.stage(PDF)
    assert staged.ref.startswith("_staging/")
    summary = sweep_blobs(store, set, grace_seconds=HOUR, now=_later)
    assert (summary.deleted, summary.staged_deleted) == ([orphan], 1)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert keys == sorted(foreign)
