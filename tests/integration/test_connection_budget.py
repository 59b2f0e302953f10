"""The connection budget: every pool has a fixed ceiling, pooled connections are checked before
use, the budget of the processes `ksd run` starts is computed from the settings and compared
with the server's limit, and the suite's own sampler (tests/conftest.py) sees what it counts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from shared.db import (
    ServerLimits,
    check_budget,
    connection_budget,
    eventsourcing_env,
    make_async_pool,
    server_limits,
)
from shared.settings import Settings
from tests.conftest import CONNECTION_BOUND, connection_sampler, fresh_database


@pytest.fixture(scope="module")
def pool_db(pg_server_url: str) -> Iterator[str]:
    """A database of its own: every connection to it is one of the pool's under test."""
    with fresh_database(pg_server_url, prefix="ksd_pools") as url:
        yield url


def connections_to(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def terminate_others(url: str) -> int:
    """What a server restart or an idle timeout does to pooled connections."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def event_store_datastore(url: str, pool_size: int):  # noqa: ANN201 - eventsourcing's PostgresDatastore
    env = eventsourcing_env(url, schema="public", pool_size=pool_size)
    return InfrastructureFactory.construct(env=Environment("budget", env)).datastore  # type: ignore[attr-defined]


def test_an_event_store_pool_never_opens_more_than_its_size(pool_db: str) -> None:
    datastore = event_store_datastore(pool_db, pool_size=3)
    peak = 0
    try:
        def hold() -> None:
            with datastore.get_connection() as conn:
                conn.execute("SELECT pg_sleep(0.4)")

        threads = [threading.Thread(target=hold) for _ in range(8)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, connections_to(pool_db))
            time.sleep(0.05)
    finally:
        datastore.close()
    assert 1 <= peak <= 3  # eventsourcing's own default would have allowed 5 + 10


def test_a_read_pool_never_opens_more_than_its_size(pool_db: str) -> None:
    async def main() -> int:
        pool = make_async_pool(pool_db, min_size=1, max_size=2, name="budget-test")
        await pool.open()
        try:
            async def hold() -> None:
                async with pool.connection() as conn:
                    await conn.execute("SELECT pg_sleep(0.3)")

            tasks = [asyncio.create_task(hold()) for _ in range(6)]
            await asyncio.sleep(0.15)
            seen = await asyncio.to_thread(connections_to, pool_db)
            await asyncio.gather(*tasks)
            return seen
        finally:
            await pool.close()

    assert asyncio.run(main()) == 2


def test_a_pooled_event_store_connection_the_server_dropped_is_replaced_before_use(pool_db: str) -> None:
    datastore = event_store_datastore(pool_db, pool_size=1)
    try:
        with datastore.get_connection() as conn:
            conn.execute("SELECT 1")
        assert terminate_others(pool_db) == 1
        time.sleep(0.2)
        with datastore.get_connection() as conn:  # without POSTGRES_PRE_PING: OperationalError
            assert conn.execute("SELECT 41 + 1 AS answer").fetchone()["answer"] == 42
    finally:
        datastore.close()


def test_a_pooled_read_connection_the_server_dropped_is_replaced_before_use(pool_db: str) -> None:
    async def main() -> int:
        pool = make_async_pool(pool_db, min_size=1, max_size=1, name="budget-test")
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            assert await asyncio.to_thread(terminate_others, pool_db) == 1
            await asyncio.sleep(0.2)
            async with pool.connection() as conn:  # without the pool's check: OperationalError
                cur = await conn.execute("SELECT 41 + 1 AS answer")
                return (await cur.fetchone())["answer"]
        finally:
            await pool.close()

    assert asyncio.run(main()) == 42


def test_the_budget_of_every_process_comes_from_the_settings() -> None:
    budget = connection_budget(Settings(db_pool_max=5))
    assert budget == {
        "registry": 10, "monitoring": 10, "reporting": 10,  # a read pool and an event-store pool each
        "registry-worker": 5, "monitoring-worker": 10, "reporting-worker": 13,  # 4 per feed, + heartbeat, outbox
    }
    assert sum(connection_budget(Settings(db_pool_max=2)).values()) == 3 * 4 + 28


def test_a_budget_that_cannot_fit_with_headroom_is_refused_and_a_tight_one_warned() -> None:
    limits = ServerLimits(max_connections=100, reserved=3, in_use=5, superuser=False)
    budget = connection_budget(Settings())  # 58
    assert check_budget(limits, budget, headroom=10).fits
    assert check_budget(limits, budget, headroom=10).warnings == []
    refused = check_budget(limits, budget, headroom=40)
    assert not refused.fits and "KSD_DB_POOL_MAX" in refused.message and "PgBouncer" in refused.message
    busy = check_budget(limits._replace(in_use=60), budget, headroom=10)
    assert busy.fits and "already open" in busy.warnings[0]
    superuser = check_budget(limits._replace(superuser=True), budget, headroom=10)
    assert any("superuser" in w for w in superuser.warnings)


def test_the_server_limits_are_read_from_the_server(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        limits = server_limits(conn)
        expected = conn.execute("SHOW max_connections").fetchone()[0]
    assert limits.max_connections == int(expected)
    assert 0 < limits.available < limits.max_connections and limits.in_use >= 1


def test_the_suites_sampler_counts_the_connections_to_this_runs_databases(
    database_url: str, pg_server_url: str
) -> None:
    sampler = connection_sampler(pg_server_url)
    assert database_url.rsplit("/", 1)[1] in sampler.databases
    with psycopg.connect(pg_server_url, autocommit=True) as probe:
        baseline = sampler.sample(probe)
        held = [psycopg.connect(database_url) for _ in range(3)]
        try:
            assert sampler.sample(probe) == baseline + 3
        finally:
            for conn in held:
                conn.close()
    assert sampler.peak >= baseline + 3
    assert CONNECTION_BOUND < 100  # well under the server's max_connections, which others share
