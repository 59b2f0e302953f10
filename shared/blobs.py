"""Content-addressed storage for attached documents (signed agreements as PDF or images).

A blob is named by the lowercase SHA-256 hex of its bytes, so events record only that name:
the same document attached twice is stored once, a stored blob can never change under its
name, and anyone replaying history can check that the bytes are the ones that were attached.

Two stores with one contract (`BlobStore`): `FilesystemBlobStore` (the default, under
`KSD_DATA_DIR/blobs` or `KSD_BLOB_DIR`) and `S3BlobStore` (any S3-compatible service). The API
is synchronous on purpose: the event-sourced application runs in worker threads, and so does
whatever calls it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from shared.settings import Settings, SettingsError

__all__ = [
    "BlobCorrupt",
    "BlobNotFound",
    "BlobStore",
    "FilesystemBlobStore",
    "S3BlobStore",
    "make_blob_store",
    "sha256_hex",
    "sniff_media_type",
]

# Exactly 64 hex digits. Nothing else may reach a path or an object key, so "../" and
# friends are impossible by construction.
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class BlobNotFound(Exception):
    """No blob is stored under this SHA-256."""


class BlobCorrupt(Exception):
    """The stored bytes no longer hash to their name (bit rot, tampering, a foreign write)."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data`; return its lowercase SHA-256 hex. Storing known content is a no-op."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; `BlobNotFound` if there are none."""
        ...

    def exists(self, sha256: str) -> bool: ...


def sha256_hex(data: bytes) -> str:
    """The name a blob with these bytes has in every store."""
    return hashlib.sha256(data).hexdigest()


def _checked(sha256: str) -> str:
    """`sha256` in lowercase, or ValueError: callers pass names that came from outside."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256.lower()


def _verified(sha256: str, data: bytes) -> bytes:
    """`data` if it really is blob `sha256`: never hand out bytes that are not what was attached."""
    if sha256_hex(data) != sha256:
        raise BlobCorrupt(f"blob {sha256} does not match its content ({len(data)} bytes read)")
    return data


class FilesystemBlobStore:
    """Blobs as files at `root/ab/cd/<sha256>` (two levels of 256 directories keep each small).

    A blob is written to a temporary file in its final directory, flushed to disk, then renamed
    over its final name (`os.replace`, atomic on POSIX), and the directory is synced: a crash
    leaves at most a `.tmp-*` file behind, never a partial blob under a real name. Files are
    created 0600: they are signed legal documents, readable by the platform's user only.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        """Where blob `sha256` lives (whether or not it exists)."""
        name = _checked(sha256)
        return self.root / name[:2] / name[2:4] / name

    def put(self, data: bytes) -> str:
        name = sha256_hex(data)
        final = self.path_of(name)
        if final.is_file():
            return name
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_directory(final.parent)
        return name

    def get(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(sha256) from None
        return _verified(path.name, data)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: without this a power cut may forget the new name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3BlobStore:
    """Blobs as objects `<prefix><sha256>` in an S3 bucket (AWS, MinIO, Ceph RGW, ...).

    boto3 is imported here, not at module level, so a platform on the filesystem store never
    loads it. The client is thread-safe; credentials left unset come from boto3's usual chain
    (`AWS_*` variables, shared config, instance or pod roles).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        # A session of our own: boto3's default session is shared module state, not thread-safe.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 5}),
        )

    def key_of(self, sha256: str) -> str:
        return self.prefix + _checked(sha256)

    def put(self, data: bytes) -> str:
        name = sha256_hex(data)
        key = self.key_of(name)
        if self._head(key):
            return name
        # The server checks the bytes it received against our SHA-256 and refuses a mismatch.
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        )
        return name

    def get(self, sha256: str) -> bytes:
        key = self.key_of(sha256)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if _is_missing(exc):
                raise BlobNotFound(sha256) from None
            raise
        # botocore raises IncompleteReadError on a short body; the hash catches the rest.
        return _verified(key[len(self.prefix) :], response["Body"].read())

    def exists(self, sha256: str) -> bool:
        return self._head(self.key_of(sha256))

    def _head(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True


def _is_missing(exc: Any) -> bool:
    """A ClientError that means "no such object": HEAD answers a bare 404, GET says NoSuchKey.

    A missing bucket is not "missing": GET reports NoSuchBucket, which propagates.
    """
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


# (offset, magic) pairs per media type; every one must match.
_MAGIC: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("application/pdf", ((0, b"%PDF-"),)),
    ("image/png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("image/jpeg", ((0, b"\xff\xd8\xff"),)),
    ("image/webp", ((0, b"RIFF"), (8, b"WEBP"))),
    ("image/tiff", ((0, b"II*\x00"),)),  # little-endian TIFF
    ("image/tiff", ((0, b"MM\x00*"),)),  # big-endian TIFF
    ("image/tiff", ((0, b"II+\x00"),)),  # BigTIFF, little-endian
    ("image/tiff", ((0, b"MM\x00+"),)),  # BigTIFF, big-endian
)


def sniff_media_type(data: bytes) -> str | None:
    """The media type the leading bytes prove, or None.

    Only the content counts, never a file name or a client's Content-Type: an attachment must
    be what it claims to be before it is accepted as a signed agreement.
    """
    head = bytes(data[:16])
    for media_type, parts in _MAGIC:
        if all(head[offset : offset + len(magic)] == magic for offset, magic in parts):
            return media_type
    return None


def make_blob_store(settings: Settings) -> BlobStore:
    """The store the settings ask for: S3 when `KSD_BLOB_STORE=s3`, the filesystem otherwise."""
    if settings.blob_store == "s3":
        if not settings.s3_bucket:
            raise SettingsError("KSD_S3_BUCKET is required when KSD_BLOB_STORE=s3")
        return S3BlobStore(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    return FilesystemBlobStore(settings.blob_path)
