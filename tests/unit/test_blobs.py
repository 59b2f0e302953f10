"""The filesystem blob store, media type sniffing and the blob settings.

The same put/get/exists contract runs against S3 (moto's server) in
tests/integration/test_blobs_s3.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.blobs import (
    BlobCorrupt,
    BlobNotFound,
    FilesystemBlobStore,
    S3BlobStore,
    make_blob_store,
    sha256_hex,
    sniff_media_type,
    sweep_blobs,
)
from shared.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- filesystem store -------------------------------------------------------------------------


def test_round_trip_returns_the_sha256_of_the_content(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    assert name == hashlib.sha256(PDF).hexdigest()
    assert store.exists(name)
    assert store.get(name) == PDF


def test_the_path_is_the_hash_in_two_levels_of_directories(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    path = store.root / name[:2] / name[2:4] / name
    assert _files(store.root) == [path]
    assert path.read_bytes() == PDF
    assert store.path_of(name) == path


def test_storing_the_same_content_twice_keeps_one_untouched_file(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    path = store.path_of(name)
    before = path.stat()
    assert store.put(bytes(PDF)) == name
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _files(store.root) == [path]


def test_different_content_gets_a_different_name(store: FilesystemBlobStore) -> None:
    assert store.put(b"one") != store.put(b"two")
    assert len(_files(store.root)) == 2


def test_empty_content_is_a_blob_too(store: FilesystemBlobStore) -> None:
    name = store.put(b"")
    assert name == hashlib.sha256(b"").hexdigest()
    assert store.get(name) == b""


def test_an_unknown_hash_is_not_found(store: FilesystemBlobStore) -> None:
    unknown = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(unknown)
    with pytest.raises(BlobNotFound):
        store.get(unknown)


def test_uppercase_hex_names_the_same_blob(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    assert store.exists(name.upper())
    assert store.get(name.upper()) == PDF


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "../" * 20 + "etc/passwd",
        "",
        "abc",
        "g" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "/" + "a" * 63,
        "aa/bb/" + "a" * 58,
        "a" * 62 + "..",
        "٣" * 64,  # Arabic-Indic digits: \d would take them, hex must not
    ],
)
def test_a_malformed_hash_is_rejected_before_touching_the_disk(store: FilesystemBlobStore, bad: str) -> None:
    for call in (store.get, store.exists, store.path_of):
        with pytest.raises(ValueError, match="SHA-256"):
            call(bad)


def test_a_file_that_no_longer_matches_its_name_is_never_returned(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    store.path_of(name).write_bytes(PDF[:10])  # truncated behind the store's back
    with pytest.raises(BlobCorrupt):
        store.get(name)


def test_no_temporary_files_are_left_behind(store: FilesystemBlobStore) -> None:
    names = {store.put(f"document {i}".encode()) for i in range(20)}
    store.put(b"document 3")
    assert {p.name for p in _files(store.root)} == names


def test_a_failed_write_leaves_neither_a_blob_nor_a_temporary_file(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(b"already there")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(PDF)
    monkeypatch.undo()

    name = hashlib.sha256(PDF).hexdigest()
    assert not store.exists(name)
    assert [p.name for p in _files(store.root)] == [hashlib.sha256(b"already there").hexdigest()]
    assert store.put(PDF) == name  # and the next attempt works
    assert store.get(name) == PDF


def test_blobs_are_private_to_the_platform_user(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    assert store.path_of(name).stat().st_mode & 0o077 == 0


def test_concurrent_puts_of_the_same_document_store_it_once(store: FilesystemBlobStore) -> None:
    data = os.urandom(256 * 1024)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def put() -> None:
        barrier.wait()
        results.append(store.put(data))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    name = hashlib.sha256(data).hexdigest()
    assert results == [name] * 8
    assert _files(store.root) == [store.path_of(name)]
    assert store.get(name) == data


# -- staging: nothing reachable before the event is saved --------------------------------------


def _age(path: Path, seconds: float) -> None:
    """Make a file look `seconds` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_staged_upload_is_not_a_blob_until_promoted(store: FilesystemBlobStore) -> None:
    staged = store.stage(PDF)
    name = hashlib.sha256(PDF).hexdigest()
    assert staged.sha256 == name
    assert not store.exists(name)
    with pytest.raises(BlobNotFound):
        store.get(name)
    assert [p.parent for p in _files(store.root)] == [store.staging]
    assert list(store.list_blobs()) == []

    store.promote(staged)
    assert store.get(name) == PDF
    assert _files(store.root) == [store.path_of(name)]
    store.promote(staged)  # idempotent: already done
    assert _files(store.root) == [store.path_of(name)]


def test_a_discarded_upload_leaves_nothing(store: FilesystemBlobStore) -> None:
    staged = store.stage(PDF)
    store.discard(staged)
    store.discard(staged)  # twice is fine
    assert _files(store.root) == []
    with pytest.raises(BlobNotFound):
        store.promote(staged)


def test_discarding_a_duplicate_upload_keeps_the_blob_another_event_references(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    before = store.path_of(name).stat()
    store.discard(store.stage(PDF))  # a lost race with the same content
    after = store.path_of(name).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _files(store.root) == [store.path_of(name)]
    assert store.get(name) == PDF


def test_promoting_known_content_leaves_the_stored_file_untouched(store: FilesystemBlobStore) -> None:
    name = store.put(PDF)
    before = store.path_of(name).stat()
    store.promote(store.stage(PDF))
    after = store.path_of(name).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _files(store.root) == [store.path_of(name)]


def test_concurrent_uploads_of_the_same_content_get_their_own_staged_copies(store: FilesystemBlobStore) -> None:
    one, two = store.stage(PDF), store.stage(PDF)
    assert one.ref != two.ref and one.sha256 == two.sha256
    store.discard(one)  # the loser's cleanup never touches the winner's copy
    store.promote(two)
    assert _files(store.root) == [store.path_of(two.sha256)]


def test_a_failed_staging_write_leaves_no_file(store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.stage(PDF)
    monkeypatch.undo()
    assert _files(store.root) == []


def test_a_staged_copy_whose_promotion_failed_can_be_promoted_later(store: FilesystemBlobStore) -> None:
    staged = store.stage(PDF)
    assert store.promote_staged(staged.sha256)
    assert store.get(staged.sha256) == PDF
    assert store.promote_staged(staged.sha256)  # already stored
    assert not store.promote_staged(sha256_hex(b"never uploaded"))


def test_a_partial_staged_write_is_never_promoted(store: FilesystemBlobStore) -> None:
    name = sha256_hex(PDF)
    store.staging.mkdir(parents=True)
    (store.staging / f"{name}-abc123.part").write_bytes(PDF[:5])  # a writer still at work, or crashed
    assert not store.promote_staged(name)
    assert not store.exists(name)


# -- the sweeper ------------------------------------------------------------------------------

HOUR = 3600


def test_the_sweeper_deletes_old_unreferenced_blobs_and_keeps_referenced_and_recent_ones(
    store: FilesystemBlobStore,
) -> None:
    referenced, orphan, recent = store.put(b"referenced"), store.put(b"orphan"), store.put(b"recent orphan")
    for name in (referenced, orphan):
        _age(store.path_of(name), 2 * HOUR)
    summary = sweep_blobs(store, lambda: {referenced}, grace_seconds=HOUR)
    assert summary.deleted == [orphan]
    assert summary.bytes_freed == len(b"orphan")
    assert (summary.blobs, summary.referenced, summary.kept_recent) == (3, 1, 1)
    assert store.exists(referenced) and store.exists(recent) and not store.exists(orphan)
    assert summary.missing == []
    assert not list(store.list_quarantined())


def test_a_dry_run_reports_and_changes_nothing(store: FilesystemBlobStore) -> None:
    orphan = store.put(b"orphan")
    _age(store.path_of(orphan), 2 * HOUR)
    staged = store.stage(b"abandoned upload")
    _age(store.root / staged.ref, 2 * HOUR)
    before = _files(store.root)
    summary = sweep_blobs(store, set, grace_seconds=HOUR, dry_run=True)
    assert (summary.deleted, summary.bytes_freed, summary.staged_deleted) == ([orphan], 6, 1)
    assert _files(store.root) == before
    assert "akan dihapus / would delete" in "\n".join(summary.lines())


def test_the_sweeper_handles_staged_uploads_by_age_and_reference(store: FilesystemBlobStore) -> None:
    saved = store.stage(b"saved, promotion failed")
    abandoned = store.stage(b"save failed, discard failed too")
    duplicate = store.stage(b"already stored")
    store.put(b"already stored")
    under_way = store.stage(b"an upload still under way")
    for old in (saved, abandoned, duplicate):
        _age(store.root / old.ref, 2 * HOUR)
    store.staging.joinpath(f"{'a' * 64}-crash.part").write_bytes(b"half")  # a writer killed mid-write
    _age(store.staging / f"{'a' * 64}-crash.part", 2 * HOUR)
    legacy_dir = store.path_of("b" * 64).parent
    legacy_dir.mkdir(parents=True)
    (legacy_dir / ".tmp-x1y2").write_bytes(b"older versions wrote here")
    _age(legacy_dir / ".tmp-x1y2", 2 * HOUR)

    names = {saved.sha256, duplicate.sha256, under_way.sha256}
    summary = sweep_blobs(store, lambda: names, grace_seconds=HOUR)
    assert summary.staged_promoted == [saved.sha256]
    assert (summary.staged_deleted, summary.staged_recent) == (4, 1)
    assert store.get(saved.sha256) == b"saved, promotion failed"
    assert not store.exists(abandoned.sha256)
    assert [s.ref for s in store.list_staged()] == [under_way.ref]
    assert summary.missing == [under_way.sha256]  # its save is under way: not stored yet


def test_an_upload_saved_while_the_sweeper_runs_keeps_its_blob(store: FilesystemBlobStore) -> None:
    """The sweeper reads the references, an upload of the same content saves its event (and,
    finding the blob stored, discards its staged copy), then the sweeper would delete."""
    name = store.put(PDF)
    _age(store.path_of(name), 2 * HOUR)
    calls: list[int] = []

    def references() -> set[str]:
        calls.append(1)
        if len(calls) == 1:
            return set()  # as the sweeper first saw it
        return {name}  # the upload's event, committed before the second look

    summary = sweep_blobs(store, references, grace_seconds=HOUR)
    assert len(calls) == 2
    assert (summary.deleted, summary.restored) == ([], 1)
    assert store.get(name) == PDF
    assert not list(store.list_quarantined())


def test_blobs_left_in_the_trash_by_an_interrupted_sweep_are_put_back_and_decided_again(
    store: FilesystemBlobStore,
) -> None:
    referenced, orphan = store.put(b"referenced"), store.put(b"orphan")
    for name in (referenced, orphan):
        _age(store.path_of(name), 2 * HOUR)
    assert store.quarantine(referenced) is not None and store.quarantine(orphan) is not None  # then a crash
    summary = sweep_blobs(store, lambda: {referenced}, grace_seconds=HOUR)
    assert summary.deleted == [orphan]
    assert store.get(referenced) == b"referenced"
    assert _files(store.root) == [store.path_of(referenced)]


def test_the_sweeper_reports_referenced_blobs_that_are_missing(store: FilesystemBlobStore) -> None:
    lost = sha256_hex(b"deleted by hand")
    summary = sweep_blobs(store, lambda: {lost}, grace_seconds=HOUR)
    assert summary.missing == [lost]
    assert any("HILANG" in line and lost in line for line in summary.lines())


# -- media types ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"
TIFF_LE = b"II*\x00\x08\x00\x00\x00\x00\x00"
TIFF_BE = b"MM\x00*\x00\x00\x00\x08\x00\x00"


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"\xff\xd8\xff\xdb\x00\x43", "image/jpeg"),
        (WEBP, "image/webp"),
        (TIFF_LE, "image/tiff"),
        (TIFF_BE, "image/tiff"),
        (b"II+\x00\x08\x00\x00\x00", "image/tiff"),
    ],
)
def test_sniff_recognises_documents_by_their_magic_bytes(data: bytes, media_type: str) -> None:
    assert sniff_media_type(data) == media_type


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF",  # too short to be the header
        b"hello, world",
        b"<html><body>%PDF-1.7</body></html>",  # the magic must lead
        b"PK\x03\x04\x14\x00\x06\x00",  # a .docx/.zip
        b"GIF89a\x01\x00\x01\x00",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"\x89PNG\r\n",  # truncated PNG signature
        b"\x00" * 32,
    ],
)
def test_sniff_says_none_for_anything_else(data: bytes) -> None:
    assert sniff_media_type(data) is None


# -- settings and the factory ----------------------------------------------------------------


def test_the_default_store_is_the_filesystem_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"KSD_DATA_DIR": str(tmp_path)})
    store = make_blob_store(settings)
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path.resolve() / "blobs"
    assert settings.max_document_bytes == 20_000_000


def test_blob_dir_moves_the_filesystem_store(tmp_path: Path) -> None:
    store = make_blob_store(Settings.from_env({"KSD_BLOB_DIR": str(tmp_path / "docs")}))
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == (tmp_path / "docs").resolve()
    name = store.put(PDF)
    assert (tmp_path / "docs" / name[:2] / name[2:4] / name).is_file()


def test_s3_settings_make_an_s3_store() -> None:
    settings = Settings.from_env(
        {
            "KSD_BLOB_STORE": "s3",
            "KSD_S3_BUCKET": "ksd-documents",
            "KSD_S3_PREFIX": "prod/",
            "KSD_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "KSD_S3_REGION": "ap-southeast-3",
            "KSD_S3_ACCESS_KEY_ID": "id",
            "KSD_S3_SECRET_ACCESS_KEY": "secret",
            "KSD_MAX_DOCUMENT_BYTES": "5000000",
        }
    )
    store = make_blob_store(settings)  # builds a client; no request is sent
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("ksd-documents", "prod/")
    assert store.key_of("A" * 64) == "prod/" + "a" * 64
    with pytest.raises(ValueError):
        store.key_of("../other-bucket")
    assert settings.max_document_bytes == 5_000_000


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KSD_BLOB_STORE": "s3"}, "KSD_S3_BUCKET"),
        ({"KSD_BLOB_STORE": "azure"}, "KSD_BLOB_STORE"),
        ({"KSD_MAX_DOCUMENT_BYTES": "0"}, "KSD_MAX_DOCUMENT_BYTES"),
        ({"KSD_MAX_DOCUMENT_BYTES": "lots"}, "KSD_MAX_DOCUMENT_BYTES"),
        ({"KSD_BLOB_STORE": "s3", "KSD_S3_BUCKET": "b", "KSD_S3_ACCESS_KEY_ID": "id"}, "KSD_S3_SECRET_ACCESS_KEY"),
        ({"KSD_S3_SECRET_ACCESS_KEY": "secret"}, "KSD_S3_ACCESS_KEY_ID"),
        ({"KSD_BLOB_STORE": "s3", "KSD_S3_BUCKET": "b", "KSD_S3_ENDPOINT_URL": "minio:9000"}, "KSD_S3_ENDPOINT_URL"),
    ],
)
def test_a_bad_blob_setting_fails_with_the_variable_named(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_the_factory_refuses_s3_without_a_bucket_even_unchecked() -> None:
    with pytest.raises(SettingsError, match="KSD_S3_BUCKET"):
        make_blob_store(Settings(blob_store="s3"))


def test_the_filesystem_default_does_not_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from shared.blobs import make_blob_store\n"
        "from shared.settings import Settings\n"
        f"make_blob_store(Settings(data_dir={str(tmp_path)!r})).put(b'x')\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
