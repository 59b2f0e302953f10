"""The agreements read model: exactly once, restart-safe, and walled by row-level security."""

from __future__ import annotations

import asyncio

import msgspec
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.registry import contract
from services.registry.application import Registry, StartAgreement
from services.registry.projections.agreements import AgreementFilter, AgreementsReadModel
from services.registry.setup import agreements_view, projection_lag, registry_env
from services.registry.worker import make_runner
from shared.auth import Identity
from shared.db import make_async_pool
from shared.periods import local_date

OPERATOR = Identity(sub="op-9", name="Operator", tenant="64.72", roles=("operator",))


def command(title: str) -> StartAgreement:
    return StartAgreement(
        form="KSDD", category="sukarela", title=title, object="Pengembangan pariwisata sungai Mahakam",
        urusan=["3.26"], parties=[{"region": "64.02"}],
    )


def rows_for(url: str, title: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM registry.agreements WHERE title = %s", (title,)).fetchone()[0]


def catch_up(url: str, runner) -> None:
    with psycopg.connect(url) as conn:
        for _ in range(200):
            if projection_lag(conn) == 0:
                return
            runner.run_forever(timeout=0.05)
    raise AssertionError("projection did not catch up")


def test_worker_restart_neither_loses_nor_repeats_an_event(registry_app: Registry, migrated_url: str) -> None:
    registry_app.start_agreement(OPERATOR, command("Mahakam 1"))
    with make_runner(migrated_url) as runner:
        catch_up(migrated_url, runner)
    assert rows_for(migrated_url, "Mahakam 1") == 1
    # Recorded while no worker runs; the next worker resumes from its tracking position.
    registry_app.start_agreement(OPERATOR, command("Mahakam 2"))
    with make_runner(migrated_url) as runner:
        catch_up(migrated_url, runner)
    assert rows_for(migrated_url, "Mahakam 1") == 1
    assert rows_for(migrated_url, "Mahakam 2") == 1


def test_replaying_a_processed_position_changes_nothing(registry_app: Registry, migrated_url: str) -> None:
    started = registry_app.start_agreement(OPERATOR, command("Mahakam 3")).agreement
    with make_runner(migrated_url) as runner:
        catch_up(migrated_url, runner)
    with psycopg.connect(migrated_url) as conn:
        position = conn.execute("SELECT position FROM registry.agreements WHERE id = %s", (started.id,)).fetchone()[0]
    view = agreements_view(registry_env(migrated_url, pool_size=1))
    log = contract.Log(registry_env(migrated_url, pool_size=1))  # the event as the projection reads it
    (stored,) = log.recorder.select_events(started.id)
    event = log.mapper.to_domain_event(stored)
    log.close()
    from services.registry.projections.agreements import AgreementsProjection

    with pytest.raises(IntegrityError):
        AgreementsProjection(view).process_event(event, Tracking(Registry.name, position))
    view.datastore.close()
    assert rows_for(migrated_url, "Mahakam 3") == 1


def run(coro):
    return asyncio.run(coro)


async def _list_as(url: str, tenant: str, *, bypass_app_filter: bool) -> list[str]:
    pool = make_async_pool(url, min_size=1, max_size=1, name="test")
    await pool.open()
    try:
        if not bypass_app_filter:
            page = await AgreementsReadModel(pool).list(tenant, AgreementFilter(q="Mahakam"), limit=100)
            return [msgspec.json.decode(r["api"])["title"] for r in page.rows]
        # The second wall alone: no tenant filter in the SQL, only row-level security.
        from shared.db import tenant_transaction

        async with tenant_transaction(pool, tenant) as conn:
            cur = await conn.execute("SELECT title FROM registry.agreements WHERE title LIKE 'Mahakam%%'")
            return [r["title"] for r in await cur.fetchall()]
    finally:
        await pool.close()


@pytest.mark.parametrize("bypass", [False, True], ids=["application-filter", "row-level-security-only"])
def test_readers_see_only_their_tenants_rows(registry_app: Registry, migrated_url: str, bypass: bool) -> None:
    registry_app.start_agreement(OPERATOR, command("Mahakam 4"))
    with make_runner(migrated_url) as runner:
        catch_up(migrated_url, runner)
    assert "Mahakam 4" in run(_list_as(migrated_url, "64", bypass_app_filter=bypass))
    assert "Mahakam 4" in run(_list_as(migrated_url, "64.02", bypass_app_filter=bypass))
    assert "Mahakam 4" in run(_list_as(migrated_url, "national", bypass_app_filter=bypass))
    assert run(_list_as(migrated_url, "32.73", bypass_app_filter=bypass)) == []
    assert run(_list_as(migrated_url, "63", bypass_app_filter=bypass)) == []


async def _write_as_reader(url: str) -> None:
    from shared.db import tenant_transaction

    pool = make_async_pool(url, min_size=1, max_size=1, name="test")
    await pool.open()
    try:
        async with tenant_transaction(pool, "national") as conn:
            await conn.execute("UPDATE registry.agreements SET title = 'hacked'")
    finally:
        await pool.close()


def test_a_read_transaction_cannot_write(migrated_url: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run(_write_as_reader(migrated_url))


async def _escalate(url: str, tenant: str) -> list[str]:
    from shared.db import tenant_transaction

    pool = make_async_pool(url, min_size=1, max_size=1, name="test")
    await pool.open()
    try:
        async with tenant_transaction(pool, tenant) as conn:
            # Settings a reader can change must not unlock other tenants' rows.
            await conn.execute("SELECT set_config('ksd.writer', 'projection', true)")
            cur = await conn.execute("SELECT title FROM registry.agreements WHERE title LIKE 'Mahakam%%'")
            return [r["title"] for r in await cur.fetchall()]
    finally:
        await pool.close()


def test_no_setting_a_reader_controls_widens_what_it_sees(registry_app: Registry, migrated_url: str) -> None:
    registry_app.start_agreement(OPERATOR, command("Mahakam 5"))
    with make_runner(migrated_url) as runner:
        catch_up(migrated_url, runner)
    assert run(_escalate(migrated_url, "32.73")) == []


def test_a_read_model_of_an_older_shape_is_rebuilt_beside_it_from_the_events(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`ksd migrate` leaves a view whose shape changed in place and creates the new shape
    beside it; the worker replays the event store into that one, later events included, and
    puts it in the old one's place."""
    from services.ksd.cli import migrate_all
    from services.registry.domain import commands as c
    from shared.settings import Settings
    from tests.conftest import fresh_database, wait_for
    from tests.e2e.workers import WorkerThread
    from tests.integration.test_batched_projection import table_present

    settings = Settings.from_env(
        {}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(tmp_path_factory.mktemp("data")), log_level="warning",
        worker_metrics_port=0, worker_heartbeat_seconds=0.3, db_pool_max=2,
    )
    with fresh_database(pg_server_url) as url:
        migrate_all(url)
        app = Registry(registry_env(url, pool_size=1))
        try:
            started = app.start_agreement(OPERATOR, command("Mahakam lama")).agreement
            with make_runner(url) as runner:
                catch_up(url, runner)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ALTER TABLE registry.agreements DROP COLUMN state")  # as an older release left it
                conn.execute("COMMENT ON TABLE registry.agreements IS 'ksd view version 1'")
            migrate_all(url)
            assert rows_for(url, "Mahakam lama") == 1  # still served, as it is
            # Sent the day it was prepared: a date in WIB, like every legal date.
            app.act(OPERATOR, started.id, 1, c.SubmitOffer("005/1", local_date(started.created_on)))
            worker = WorkerThread("registry", settings, url)
            try:
                wait_for(lambda: not table_present(url, "registry.agreements_next"), "the switch-over")
                with psycopg.connect(url) as conn:
                    wait_for(lambda: projection_lag(conn) == 0, "the worker to follow the new view")
            finally:
                worker.close()
            with psycopg.connect(url) as conn:
                stage, version = conn.execute(
                    "SELECT stage, (state->>'_version')::int FROM registry.agreements WHERE id = %s", (started.id,)
                ).fetchone()
            assert (stage, version) == ("penawaran", 2)
        finally:
            app.close()
