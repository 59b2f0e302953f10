"""The private PostgreSQL cluster (`shared.pgembed`) and the test database fixture.

These start real servers, so each cluster lives in its own directory and is stopped at the
end of its test whatever happens.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared import pgembed


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A cluster base directory that an unprivileged `postgres` user can reach.

    Not pytest's tmp_path: as root its base (/tmp/pytest-of-root) is mode 0700, which the user
    running PostgreSQL cannot enter. A 0755 directory directly under /tmp can be.
    """
    path = Path(tempfile.mkdtemp(prefix="ksd-pgembed-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        pgembed.stop_server(path)
        shutil.rmtree(path, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_data_and_url_survive_a_restart(base_dir: Path) -> None:
    first = pgembed.ensure_server(base_dir)
    assert first.started_here
    assert first.url.startswith("postgresql://ksd@127.0.0.1:") and first.url.endswith("/ksd")
    assert first.data_dir == base_dir / "pg"
    with psycopg.connect(first.url) as conn:
        conn.execute("CREATE TABLE kerja_sama (id int PRIMARY KEY, judul text)")
        conn.execute("INSERT INTO kerja_sama VALUES (1, 'Pengelolaan sampah bersama')")

    first.stop()
    assert not _answers(first.url)
    assert not (first.data_dir / "postmaster.pid").exists()

    second = pgembed.ensure_server(base_dir)
    try:
        assert second.started_here
        assert second.url == first.url
        with psycopg.connect(second.url) as conn:
            rows = conn.execute("SELECT id, judul FROM kerja_sama").fetchall()
        assert rows == [(1, "Pengelolaan sampah bersama")]
    finally:
        second.stop()
    assert not _answers(second.url)


def test_a_running_cluster_is_reused_and_only_its_starter_stops_it(base_dir: Path) -> None:
    starter = pgembed.ensure_server(base_dir)
    reuser = pgembed.ensure_server(base_dir, dbname="lain")
    assert starter.started_here
    assert not reuser.started_here
    assert reuser.url == starter.url.rsplit("/", 1)[0] + "/lain"
    assert _answers(reuser.url)  # the other database was created on the running server

    reuser.stop()  # not ours to stop: a no-op
    assert _answers(starter.url)

    starter.stop()
    assert not _answers(starter.url)
    pgembed.stop_server(base_dir)  # stopping a stopped cluster is fine


def test_the_port_is_remembered_and_an_explicit_one_wins(base_dir: Path) -> None:
    server = pgembed.ensure_server(base_dir)
    server.stop()
    port = int(server.url.split(":")[-1].split("/")[0])
    assert (server.data_dir / "ksd-port").read_text().strip() == str(port)

    # Another cluster (a developer's `make run`, a parallel CI job) may hold the next port: take
    # the first free one after ours, so the test checks the rule and not the machine's state.
    other = next(p for p in range(port + 1, port + 200) if pgembed._port_free(p))
    moved = pgembed.ensure_server(base_dir, port=other)
    try:
        assert moved.url == f"postgresql://ksd@127.0.0.1:{other}/ksd"
    finally:
        moved.stop()
    again = pgembed.ensure_server(base_dir)
    try:
        assert again.url == moved.url
    finally:
        again.stop()


def test_without_postgresql_the_error_is_one_line_saying_what_to_install(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgembed, "_candidate_binaries", lambda: [])
    with pytest.raises(pgembed.EmbeddedPostgresUnavailable) as caught:
        pgembed.ensure_server(base_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install postgresql" in message and "pip install pgserver" in message
    assert "DATABASE_URL" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another user")
def test_as_root_an_unreachable_directory_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = Path(tempfile.mkdtemp(prefix="ksd-pgembed-hidden-"))  # 0700, owned by root
    try:
        with pytest.raises(pgembed.EmbeddedPostgresUnavailable) as caught:
            pgembed.ensure_server(hidden / "data")
        message = str(caught.value)
        assert "\n" not in message
        assert str(hidden) in message and "KSD_DATA_DIR" in message
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


@pytest.mark.skipif(importlib.util.find_spec("pgserver") is None, reason="pip package pgserver not installed")
def test_pgserver_binaries_are_used_when_the_machine_has_none(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgembed, "_system_binaries", lambda: [])
    server = pgembed.ensure_server(base_dir)
    try:
        with psycopg.connect(server.url) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 160000
    finally:
        server.stop()


def test_database_url_is_this_runs_own_database(database_url: str, pg_server_url: str) -> None:
    """The run's database is created for it (other tests may have filled it by now)."""
    assert database_url.startswith("postgresql://")
    with psycopg.connect(database_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0].startswith("ksd_test_")
    with psycopg.connect(pg_server_url) as conn:
        others = conn.execute("SELECT datname FROM pg_database WHERE datname = %s", (name[0],)).fetchall()
    assert len(others) == 1
