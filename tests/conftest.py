"""Project-wide pytest harness: the database.

Tests never touch a real database: `DATABASE_URL` from the developer's shell is never read
here. Every run gets a fresh, uniquely named database on a server where we may create
databases, found in this order:

1. `KSD_TEST_SERVER_URL` (a `postgresql://` URL), e.g. CI's own server;
2. a local PostgreSQL on 127.0.0.1:5432 that lets `postgres` in without a password;
3. a private cluster under `<repo>/.data/test-pg`, started with `shared.pgembed` (and stopped
   at the end of the run if this run started it).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from shared import pgembed

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_CLUSTER_DIR = REPO_ROOT / ".data" / "test-pg"


def _may_create_databases(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers within `timeout` and its role may create databases.

    A TCP probe first: libpq's connect_timeout cannot go below 2 s, and a closed port should
    cost nothing.
    """
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=timeout):
            pass
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except (OSError, psycopg.Error):
        return False
    return bool(row and row[0])


def _with_dbname(url: str, dbname: str) -> str:
    """`url` pointing at database `dbname` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/" + quote(dbname, safe="")))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server on which the tests may create and drop databases."""
    explicit = os.environ.get("KSD_TEST_SERVER_URL")
    if explicit:
        if not explicit.startswith(("postgresql://", "postgres://")):
            pytest.fail(f"KSD_TEST_SERVER_URL must be a postgresql:// URL, not {explicit!r}", pytrace=False)
        yield explicit
        return
    if _may_create_databases(LOCAL_SERVER_URL):
        yield LOCAL_SERVER_URL
        return
    try:
        server = pgembed.ensure_server(TEST_CLUSTER_DIR, dbname="postgres")
    except pgembed.EmbeddedPostgresError as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database for this test run, dropped (even if still in use) afterwards."""
    name = f"ksd_test_{secrets.token_hex(6)}"
    ident = sql.Identifier(name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
    try:
        yield _with_dbname(pg_server_url, name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
