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
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from shared.blobs import BlobCorrupt, BlobNotFound, BlobStore, FilesystemBlobStore, S3BlobStore, make_blob_store
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
