"""Content-addressed storage for attached documents (signed agreements as PDF or images).

A blob is named by the lowercase SHA-256 hex of its bytes, so events record only that name:
the same document attached twice is stored once, a stored blob can never change under its
name, and anyone replaying history can check that the bytes are the ones that were attached.

Two stores with one contract (`BlobStore`): `FilesystemBlobStore` (the default, under
`KSD_DATA_DIR/blobs` or `KSD_BLOB_DIR`) and `S3BlobStore` (any S3-compatible service). The API
is synchronous on purpose: the event-sourced application runs in worker threads, and so does
whatever calls it.

An upload never becomes reachable before the event that names it is saved: it is first
*staged* (a file in a staging directory on the same filesystem, or an object under a staging
prefix, named by its hash and a random suffix so concurrent uploads never share one), and
*promoted* to its content-addressed name only after the save. A lost race or a failed save
*discards* the staged copy and nothing else: a blob already stored under that name (which
another event may reference) is never touched. `sweep_blobs` removes what is left anyway:
staged copies older than a grace period (promoted if an event names them: the save succeeded
but the promotion did not) and stored blobs that no event references.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from shared.settings import Settings, SettingsError

__all__ = [
    "BlobCorrupt",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobSweep",
    "FilesystemBlobStore",
    "Quarantined",
    "S3BlobStore",
    "StagedBlob",
    "make_blob_store",
    "sha256_hex",
    "sniff_media_type",
    "sweep_blobs",
]

log = structlog.get_logger("ksd.blobs")

# Exactly 64 hex digits. Nothing else may reach a path or an object key, so "../" and
# friends are impossible by construction.
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# A staged or quarantined copy: `<sha256>-<random>`. Anything else there is a leftover.
_COPY_NAME = re.compile(r"(?P<sha256>[0-9a-f]{64})-[0-9a-z_]+")


class BlobNotFound(Exception):
    """No blob is stored under this SHA-256."""


class BlobCorrupt(Exception):
    """The stored bytes no longer hash to their name (bit rot, tampering, a foreign write)."""


@dataclass(frozen=True)
class StagedBlob:
    """An upload written where nothing reads it yet. `ref` is the store's own name for it (a
    path under the store's root, or an object key); `sha256` is None for a leftover whose
    content is unknown (a partial write). `modified`: when it was written (epoch seconds)."""

    sha256: str | None
    ref: str
    modified: float


@dataclass(frozen=True)
class BlobInfo:
    """A promoted blob as a listing sees it."""

    sha256: str
    size: int
    modified: float


@dataclass(frozen=True)
class Quarantined:
    """A blob the sweeper moved out of reach while it checks the events once more."""

    sha256: str
    ref: str


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data` at once; return its lowercase SHA-256 hex. Storing known content is a
        no-op. Uploads that an event must name use `stage` and `promote` instead."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; `BlobNotFound` if there are none."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def stage(self, data: bytes) -> StagedBlob:
        """Write `data` durably where nothing reads it (its `sha256` is the blob's name)."""
        ...

    def promote(self, staged: StagedBlob) -> None:
        """Make a staged upload the blob of its name (after the event naming it is saved).
        Idempotent; `BlobNotFound` if the staged copy is gone and the blob is not stored."""
        ...

    def discard(self, staged: StagedBlob) -> None:
        """Forget a staged upload (the save failed or lost a race); missing is fine."""
        ...

    def promote_staged(self, sha256: str) -> bool:
        """Promote any staged copy of `sha256` (a save whose promotion failed); whether the
        blob is stored now."""
        ...

    def list_blobs(self) -> Iterator[BlobInfo]: ...

    def list_staged(self) -> Iterator[StagedBlob]: ...

    def quarantine(self, sha256: str) -> Quarantined | None:
        """Move blob `sha256` out of reach (None: it is not stored)."""
        ...

    def restore(self, quarantined: Quarantined) -> None: ...

    def purge(self, quarantined: Quarantined) -> None: ...

    def list_quarantined(self) -> Iterator[Quarantined]: ...


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


def _copy_sha256(name: str) -> str | None:
    match = _COPY_NAME.fullmatch(name)
    return match["sha256"] if match else None


class FilesystemBlobStore:
    """Blobs as files at `root/ab/cd/<sha256>` (two levels of 256 directories keep each small).

    Uploads are staged in `root/.staging` (the same filesystem, so promoting is a rename): a
    temporary `.part` file is written, flushed to disk and renamed `<sha256>-<random>` once
    complete; promoting renames it over its final name (`os.replace`, atomic on POSIX) and
    syncs the directory. A crash leaves at most a staged file behind, never a partial blob
    under a real name. The sweeper parks blobs in `root/.trash` while it re-checks them.
    Files are created 0600: they are signed legal documents, readable by the platform's user only.
    """

    STAGING = ".staging"
    TRASH = ".trash"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.staging = self.root / self.STAGING
        self.trash = self.root / self.TRASH

    def path_of(self, sha256: str) -> Path:
        """Where blob `sha256` lives (whether or not it exists)."""
        name = _checked(sha256)
        return self.root / name[:2] / name[2:4] / name

    def put(self, data: bytes) -> str:
        name = sha256_hex(data)
        if self.path_of(name).is_file():
            return name
        staged = self.stage(data)
        try:
            self.promote(staged)
        except BaseException:
            self.discard(staged)
            raise
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

    # -- staging -------------------------------------------------------------------------

    def stage(self, data: bytes) -> StagedBlob:
        name = sha256_hex(data)
        self.staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{name}-", suffix=".part", dir=self.staging)
        complete = tmp[: -len(".part")]
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # Only complete copies carry a name `promote_staged` and the sweeper may promote.
            os.rename(tmp, complete)
            _fsync_directory(self.staging)
        except BaseException:
            for leftover in (tmp, complete):
                _unlink_quietly(Path(leftover))
            raise
        return StagedBlob(name, str(Path(complete).relative_to(self.root)), time.time())

    def promote(self, staged: StagedBlob) -> None:
        if staged.sha256 is None:
            raise ValueError("a leftover of unknown content cannot be promoted")
        source, final = self._own(staged.ref), self.path_of(staged.sha256)
        if final.is_file():
            _unlink_quietly(source)  # the same bytes are stored already: leave that file untouched
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, final)
        except FileNotFoundError:
            if final.is_file():  # promoted meanwhile (a download's or the sweeper's recovery)
                return
            raise BlobNotFound(staged.sha256) from None
        _fsync_directory(final.parent)

    def discard(self, staged: StagedBlob) -> None:
        _unlink_quietly(self._own(staged.ref))

    def promote_staged(self, sha256: str) -> bool:
        name = _checked(sha256)
        for path in sorted(self.staging.glob(f"{name}-*")) if self.staging.is_dir() else []:
            if _copy_sha256(path.name) != name:
                continue  # a `.part` file: still being written
            try:
                self.promote(StagedBlob(name, str(path.relative_to(self.root)), 0.0))
            except BlobNotFound:
                continue
            break
        return self.exists(name)

    # -- listings and the sweeper's moves ----------------------------------------------------

    def list_blobs(self) -> Iterator[BlobInfo]:
        for path in self._blob_dir_files():
            name = path.name
            if _SHA256.fullmatch(name) and name == name.lower() and path.parent == self.path_of(name).parent:
                stat = _stat(path)
                if stat is not None:
                    yield BlobInfo(path.name, stat.st_size, stat.st_mtime)

    def list_staged(self) -> Iterator[StagedBlob]:
        if self.staging.is_dir():
            for path in sorted(self.staging.iterdir()):
                stat = _stat(path)
                if stat is not None and path.is_file():
                    yield StagedBlob(_copy_sha256(path.name), str(path.relative_to(self.root)), stat.st_mtime)
        # Temporary files of older versions, written beside the blobs.
        for path in self._blob_dir_files():
            if path.name.startswith(".tmp-"):
                stat = _stat(path)
                if stat is not None:
                    yield StagedBlob(None, str(path.relative_to(self.root)), stat.st_mtime)

    def quarantine(self, sha256: str) -> Quarantined | None:
        final = self.path_of(sha256)
        self.trash.mkdir(parents=True, exist_ok=True)
        parked = self.trash / f"{final.name}-{uuid.uuid4().hex}"
        try:
            os.rename(final, parked)
        except FileNotFoundError:
            return None
        return Quarantined(final.name, str(parked.relative_to(self.root)))

    def restore(self, quarantined: Quarantined) -> None:
        final = self.path_of(quarantined.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._own(quarantined.ref), final)  # the same bytes, whatever is there now
        except FileNotFoundError:
            return
        _fsync_directory(final.parent)

    def purge(self, quarantined: Quarantined) -> None:
        _unlink_quietly(self._own(quarantined.ref))

    def list_quarantined(self) -> Iterator[Quarantined]:
        if self.trash.is_dir():
            for path in sorted(self.trash.iterdir()):
                sha256 = _copy_sha256(path.name)
                if sha256 is not None:
                    yield Quarantined(sha256, str(path.relative_to(self.root)))

    def _blob_dir_files(self) -> Iterator[Path]:
        """Every file two levels down (`ab/cd/*`), where blobs live."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if len(second.name) != 2 or not second.is_dir():
                    continue
                for path in sorted(second.iterdir()):
                    if path.is_file():
                        yield path

    def _own(self, ref: str) -> Path:
        """The path of a staged or parked copy, which must be ours (under the root, no `..`)."""
        path = self.root / ref
        if ".." in Path(ref).parts or Path(ref).is_absolute():
            raise ValueError(f"not a path of this store: {ref!r}")
        return path


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: without this a power cut may forget the new name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3BlobStore:
    """Blobs as objects `<prefix><sha256>` in an S3 bucket (AWS, MinIO, Ceph RGW, ...).

    Uploads are staged as `<prefix>_staging/<sha256>-<random>` and promoted by a server-side
    copy (then the staged object is deleted); the sweeper parks blobs under `<prefix>_trash/`.
    boto3 is imported here, not at module level, so a platform on the filesystem store never
    loads it. The client is thread-safe; credentials left unset come from boto3's usual chain
    (`AWS_*` variables, shared config, instance or pod roles).
    """

    STAGING = "_staging/"
    TRASH = "_trash/"

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
        self._put_object(key, data)
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

    # -- staging -------------------------------------------------------------------------

    def stage(self, data: bytes) -> StagedBlob:
        name = sha256_hex(data)
        key = f"{self.prefix}{self.STAGING}{name}-{uuid.uuid4().hex}"
        self._put_object(key, data)  # an object appears whole or not at all
        return StagedBlob(name, key, time.time())

    def promote(self, staged: StagedBlob) -> None:
        if staged.sha256 is None:
            raise ValueError("a leftover of unknown content cannot be promoted")
        self._own(staged.ref, self.STAGING)
        final = self.key_of(staged.sha256)
        if not self._move(staged.ref, final) and not self._head(final):  # else promoted meanwhile
            raise BlobNotFound(staged.sha256)

    def _move(self, ref: str, final: str) -> bool:
        """Copy `ref` to `final` unless it is there already, then delete `ref`; False when
        `ref` was gone (another process moved it meanwhile)."""
        if not self._head(final):
            try:
                self._copy(ref, final)
            except self._client.exceptions.ClientError as exc:
                if not _is_missing(exc):
                    raise
                return False
        self._client.delete_object(Bucket=self.bucket, Key=ref)
        return True

    def discard(self, staged: StagedBlob) -> None:
        self._own(staged.ref, self.STAGING)
        self._client.delete_object(Bucket=self.bucket, Key=staged.ref)

    def promote_staged(self, sha256: str) -> bool:
        name = _checked(sha256)
        for key, _size, modified in self._list(f"{self.prefix}{self.STAGING}{name}-"):
            try:
                self.promote(StagedBlob(name, key, modified))
            except BlobNotFound:
                continue
            break
        return self.exists(name)

    # -- listings and the sweeper's moves ----------------------------------------------------

    def list_blobs(self) -> Iterator[BlobInfo]:
        for key, size, modified in self._list(self.prefix, delimiter="/"):
            name = key[len(self.prefix) :]
            if _SHA256.fullmatch(name) and name == name.lower():
                yield BlobInfo(name, size, modified)

    def list_staged(self) -> Iterator[StagedBlob]:
        start = len(self.prefix + self.STAGING)
        for key, _size, modified in self._list(self.prefix + self.STAGING):
            yield StagedBlob(_copy_sha256(key[start:]), key, modified)

    def quarantine(self, sha256: str) -> Quarantined | None:
        final = self.key_of(sha256)
        parked = f"{self.prefix}{self.TRASH}{final[len(self.prefix):]}-{uuid.uuid4().hex}"
        try:
            self._copy(final, parked)
        except self._client.exceptions.ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        self._client.delete_object(Bucket=self.bucket, Key=final)
        return Quarantined(final[len(self.prefix) :], parked)

    def restore(self, quarantined: Quarantined) -> None:
        self._own(quarantined.ref, self.TRASH)
        self._move(quarantined.ref, self.key_of(quarantined.sha256))

    def purge(self, quarantined: Quarantined) -> None:
        self._own(quarantined.ref, self.TRASH)
        self._client.delete_object(Bucket=self.bucket, Key=quarantined.ref)

    def list_quarantined(self) -> Iterator[Quarantined]:
        start = len(self.prefix + self.TRASH)
        for key, _size, _modified in self._list(self.prefix + self.TRASH):
            sha256 = _copy_sha256(key[start:])
            if sha256 is not None:
                yield Quarantined(sha256, key)

    # -- S3 calls ------------------------------------------------------------------------

    def _put_object(self, key: str, data: bytes) -> None:
        # The server checks the bytes it received against our SHA-256 and refuses a mismatch.
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        )

    def _copy(self, source: str, target: str) -> None:
        """A server-side copy: the bytes never travel through this process."""
        self._client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})

    def _list(self, prefix: str, *, delimiter: str | None = None) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified as epoch seconds) of the objects under `prefix`;
        with a delimiter, only those not in a deeper "folder"."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                modified: datetime = item["LastModified"]
                yield item["Key"], int(item["Size"]), modified.timestamp()

    def _own(self, key: str, area: str) -> None:
        """A staged or parked copy is deleted by key: never one outside that area."""
        if not key.startswith(self.prefix + area) or ".." in key:
            raise ValueError(f"not a key of this store's {area!r}: {key!r}")

    def _head(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True


# -- the sweeper ------------------------------------------------------------------------------


@dataclass
class BlobSweep:
    """What one sweep found and did (with `dry_run`, what it would have done)."""

    dry_run: bool
    grace_seconds: float
    blobs: int = 0  # stored blobs looked at
    referenced: int = 0  # distinct names the events reference
    deleted: list[str] = field(default_factory=list)  # unreferenced blobs older than the grace period
    bytes_freed: int = 0
    kept_recent: int = 0  # unreferenced, but younger than the grace period
    restored: int = 0  # referenced by an event saved while the sweep ran: put back
    staged_promoted: list[str] = field(default_factory=list)  # saved, but their promotion had failed
    staged_deleted: int = 0  # uploads whose save failed or lost, older than the grace period
    staged_recent: int = 0  # uploads possibly still under way
    missing: list[str] = field(default_factory=list)  # referenced, yet neither stored nor staged

    def as_dict(self) -> dict[str, Any]:
        return {k: (len(v) if isinstance(v, list) else v) for k, v in vars(self).items()}

    def lines(self) -> list[str]:
        verb = "akan dihapus / would delete" if self.dry_run else "dihapus / deleted"
        return [
            f"berkas tersimpan / stored blobs: {self.blobs}; dirujuk peristiwa / referenced: {self.referenced}",
            f"yatim {verb}: {len(self.deleted)} ({self.bytes_freed} bita / bytes)",
            f"yatim dalam masa tenggang / orphans within the grace period: {self.kept_recent}",
            f"unggahan tertahan dipromosikan / staged uploads promoted: {len(self.staged_promoted)}; "
            f"{verb}: {self.staged_deleted}; masih baru / recent: {self.staged_recent}",
            *(f"HILANG / MISSING: {name} dirujuk peristiwa tetapi tidak tersimpan / referenced but not stored"
              for name in self.missing),
        ]


def sweep_blobs(
    store: BlobStore,
    referenced: Callable[[], Collection[str]],
    *,
    grace_seconds: float,
    dry_run: bool = False,
    now: Callable[[], float] = time.time,
) -> BlobSweep:
    """Remove what no event references: stored blobs and staged uploads older than
    `grace_seconds`; promote staged uploads an event names (a save whose promotion failed).

    `referenced()` answers every SHA-256 the events name, as committed when it is called; it
    is called after the listings, and again after the orphans are moved out of reach: an
    upload saved in between promotes its blob after its save, so either the second call sees
    its event (the orphan is put back) or the blob is stored anew. A blob named by any event
    is never deleted. Staged uploads younger than the grace period are left alone: they may
    belong to a save still under way.
    """
    summary = BlobSweep(dry_run=dry_run, grace_seconds=grace_seconds)
    if not dry_run:
        for parked in list(store.list_quarantined()):  # a sweep stopped half-way: decide again
            store.restore(parked)
    cutoff = now() - grace_seconds
    staged = list(store.list_staged())
    stored = {blob.sha256: blob for blob in store.list_blobs()}
    names = set(referenced())
    summary.blobs, summary.referenced = len(stored), len(names)

    for copy in staged:
        if copy.modified > cutoff:
            summary.staged_recent += 1
        elif copy.sha256 is not None and copy.sha256 in names and copy.sha256 not in stored:
            if not dry_run:
                try:
                    store.promote(copy)
                except BlobNotFound:
                    continue  # promoted or discarded meanwhile
            summary.staged_promoted.append(copy.sha256)
        else:  # unreferenced, or a duplicate of a stored blob, or a partial write
            if not dry_run:
                store.discard(copy)
            summary.staged_deleted += 1

    orphans = []
    for name, blob in stored.items():
        if name in names:
            continue
        if blob.modified > cutoff:
            summary.kept_recent += 1
        else:
            orphans.append(blob)
    if dry_run:
        summary.deleted = [blob.sha256 for blob in orphans]
        summary.bytes_freed = sum(blob.size for blob in orphans)
    elif orphans:
        parked_now = [(blob, q) for blob in orphans if (q := store.quarantine(blob.sha256)) is not None]
        names = set(referenced())  # what was saved while we looked
        for blob, parked in parked_now:
            if parked.sha256 in names:
                store.restore(parked)
                summary.restored += 1
            else:
                store.purge(parked)
                summary.deleted.append(blob.sha256)
                summary.bytes_freed += blob.size
    present = set(stored) | set(summary.staged_promoted)
    summary.missing = sorted(
        n for n in names if n not in present and _SHA256.fullmatch(n) and not store.exists(n)
    )
    log.info("blob_sweep", **summary.as_dict())
    return summary


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
