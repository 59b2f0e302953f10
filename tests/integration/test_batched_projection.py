"""Projections apply events in batches: one transaction per batch, ending with the position of
its last event; a batch holding an event that cannot be applied is applied again in halves, down
to one event at a time around it, so that event alone becomes a dead letter; the rows are those
the event store renders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from eventsourcing.persistence import Tracking
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.registry.app import create_app as create_registry
from services.registry.application import Registry, StartAgreement
from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement
from services.registry.projections.agreements import VIEW_VERSION, api_json
from services.registry.setup import projection_lag, registry_env
from services.registry.worker import make_runner
from shared.auth import Identity, TokenService
from shared.periods import local_date
from shared.projection import BatchedView
from shared.settings import Settings
from tests.conftest import fresh_database, wait_for
from tests.e2e.workers import WorkerThread
from tests.integration.test_dead_letters import stored_agreement

OPERATOR = Identity(sub="op-batch", name="Operator", tenant="32.73", roles=("operator",))


@pytest.fixture
def url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_batches") as database:
        migrate_all(database)
        yield database


@pytest.fixture
def app(url: str) -> Iterator[Registry]:
    registry = Registry(registry_env(url, pool_size=1))
    yield registry
    registry.close()


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (first, last) positions of every batch a view opens from now on (rolled back or not)."""
    opened: list[tuple[int, int]] = []
    batch = BatchedView.batch

    def counted(self: BatchedView, first: Tracking, last: Tracking) -> Any:
        opened.append((first.notification_id, last.notification_id))
        return batch(self, first, last)

    monkeypatch.setattr(BatchedView, "batch", counted)
    return opened


def start(app: Registry, title: str) -> Agreement:
    return app.start_agreement(OPERATOR, StartAgreement(
        form="KSDD", category="sukarela", title=title, object="Pengelolaan sampah", urusan=["1.03"],
        parties=[{"region": "32.04"}],
    )).agreement


def offer(app: Registry, agreement: Agreement, number: str) -> None:
    sent_on = local_date(agreement.created_on)  # sent the day it was prepared
    app.act(OPERATOR, agreement.id, agreement.version, c.SubmitOffer(number, sent_on))


def catch_up(url: str) -> None:
    with make_runner(url) as runner, psycopg.connect(url, autocommit=True) as conn:
        for _ in range(600):
            if projection_lag(conn) == 0:
                return
            runner.run_forever(timeout=0.05)
    raise AssertionError("the projection did not catch up")


def stored_rows(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return {str(i): (v, api) for i, v, api in conn.execute("SELECT id, version, api FROM registry.agreements")}


def test_events_recorded_while_no_worker_ran_are_applied_as_the_event_store_renders_them(
    app: Registry, url: str, transactions: list[tuple[int, int]],
) -> None:
    """Several events of one agreement in one batch: the row is its state after the last."""
    made = [start(app, f"Batch {i}") for i in range(40)]
    for i, agreement in enumerate(made[::2]):
        offer(app, agreement, f"005/B{i}")
    catch_up(url)
    # 60 events: one or two transactions (the store is read 500 at a time), never one per event.
    assert 1 <= len(transactions) <= 2 and transactions[0][0] == 1
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM registry.dead_letters").fetchone()[0] == 0
    rows = stored_rows(url)
    assert len(rows) == 40
    for agreement in made:
        current = app.repository.get(agreement.id)
        assert rows[str(agreement.id)] == (current.version, api_json(current))
    with psycopg.connect(url) as conn:
        tracked = conn.execute("SELECT notification_id FROM registry.agreements_tracking"
                               " WHERE application_name = 'registry'").fetchone()[0]
        assert tracked == conn.execute("SELECT max(notification_id) FROM registry.registry_events").fetchone()[0]


@pytest.mark.parametrize(("n", "most"), [(5, None), (250, 50)])
def test_one_event_that_cannot_be_applied_fails_alone_and_the_rest_of_its_batch_is_applied(
    app: Registry, url: str, transactions: list[tuple[int, int]], n: int, most: int | None,
) -> None:
    """The failing batch is applied again in halves, down to one event per transaction around
    the failing event: batches hold up to 5,000 events, and one transaction per event made one
    bad event in a catch-up cost as many (502 events took 501; now a few dozen)."""
    before = [start(app, f"Sebelum {i}") for i in range(n)]
    bad = stored_agreement(app, "Sampah\x00regional")  # text columns refuse NUL
    offer(app, bad, "005/NUL")  # a later event of it waits behind it
    after = [start(app, f"Sesudah {i}") for i in range(n)]
    offer(app, before[0], "005/OK")
    catch_up(url)

    with psycopg.connect(url) as conn:
        letters = conn.execute("SELECT originator_id, originator_version, error_type FROM registry.dead_letters"
                               " ORDER BY notification_id").fetchall()
    assert letters == [(bad.id, 1, "DataError"), (bad.id, 2, "BlockedByEarlierDeadLetter")]
    rows = stored_rows(url)
    assert len(rows) == 2 * n and str(bad.id) not in rows
    for agreement in before + after:
        current = app.repository.get(agreement.id)
        assert rows[str(agreement.id)] == (current.version, api_json(current))
    assert msgspec.json.decode(rows[str(before[0].id)][1])["stage"] == "penawaran"
    if most is not None:
        assert len(transactions) <= most, len(transactions)


def test_a_live_event_after_a_rebuild_applies_to_the_row_the_batch_wrote(app: Registry, url: str) -> None:
    """The batch's in-memory agreements are gone after its commit: the next batch reads the row."""
    agreement = start(app, "Lanjut")
    catch_up(url)
    offer(app, agreement, "005/L")
    catch_up(url)
    current = app.repository.get(agreement.id)
    assert stored_rows(url)[str(agreement.id)] == (current.version, api_json(current))


# -- built beside ------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(tmp_path), log_level="warning",
        worker_metrics_port=0, worker_heartbeat_seconds=0.3, db_pool_max=2,
    )


def table_present(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def names(url: str, catalog: str, column: str, schema: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            f"SELECT {column} FROM {catalog} WHERE schemaname = %s AND tablename = %s",
            (schema, table))}


def test_a_new_shape_is_built_beside_the_live_view_and_switched_over_while_readers_read(
    app: Registry, url: str, settings: Settings,
) -> None:
    made = [start(app, f"Beside {i}") for i in range(30)]
    for i, agreement in enumerate(made[::3]):
        offer(app, agreement, f"005/S{i}")
    worker = WorkerThread("registry", settings, url)
    wait_for(lambda: caught_up_now(url), "the registry worker to catch up")
    worker.close()
    # The live view as an older release left it: another version, another rendering.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("COMMENT ON TABLE registry.agreements IS 'ksd view version 4'")
        conn.execute("UPDATE registry.agreements SET api = jsonb_set(api::jsonb, '{title}', '\"LAMA\"')::text")
    migrate_all(url)
    assert table_present(url, "registry.agreements_next")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM registry.agreements WHERE api::jsonb->>'title' = 'LAMA'"
                            ).fetchone()[0] == 30, "the live view is left as it is"
    # The new shape is filled without its readers' (GIN) indexes: they are made at the switch.
    built_with = names(url, "pg_indexes", "indexname", "registry", "agreements_next")
    assert {"agreements_next_pkey", "agreements_next_position_key", "agreements_next_signed_on"} <= built_with
    assert not built_with & {"agreements_next_visible_to", "agreements_next_party_regions",
                             "agreements_next_urusan", "agreements_next_search"}

    seen: list[tuple[int, frozenset[str]]] = []
    failures: list[str] = []
    reading = threading.Event()
    reading.set()
    bearer = {"Authorization": f"Bearer {TokenService(settings).issue(tenant='32.73', roles=('operator',))}"}

    def read() -> None:
        with TestClient(create_registry(settings, database_url=url), raise_server_exceptions=False) as client:
            while reading.is_set():
                response = client.get("/agreements", params={"limit": 100}, headers=bearer)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                titles = [item["title"] for item in response.json()["items"]]
                seen.append((len(titles), frozenset("LAMA" if t == "LAMA" else "baru" for t in titles)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: len(seen) >= 3, "the reader to read the live view")
    late = start(app, "Beside sesudah")  # recorded while the new shape is being built
    worker = WorkerThread("registry", settings, url)
    try:
        wait_for(lambda: not table_present(url, "registry.agreements_next") and caught_up_now(url),
                 "the worker to build the new shape and switch over", timeout=60)
        wait_for(lambda: len(seen) >= 3 and seen[-1][1] == {"baru"}, "the reader to read the new view")
        later = start(app, "Beside sesudah switch")  # followed by the switched view
        wait_for(lambda: caught_up_now(url), "the worker to follow the switched view")
    finally:
        reading.clear()
        reader.join(timeout=30)
        worker.close()

    assert not failures, failures[:3]
    # Every answer was the old view whole or the new view whole, never a part or a mix.
    assert {kinds for _, kinds in seen} <= {frozenset({"LAMA"}), frozenset({"baru"})}
    assert all(n == 30 for n, kinds in seen if kinds == {"LAMA"})
    assert all(n >= 31 for n, kinds in seen if kinds == {"baru"})
    assert seen[0][1] == {"LAMA"} and seen[-1][1] == {"baru"}
    rows = stored_rows(url)
    for agreement in [*made, late, later]:
        current = app.repository.get(agreement.id)
        assert rows[str(agreement.id)] == (current.version, api_json(current))
    # The new table carries the live names: indexes, policy, tracking, version.
    assert names(url, "pg_indexes", "indexname", "registry", "agreements") == {
        "agreements_pkey", "agreements_position_key", "agreements_signed_on", "agreements_visible_to",
        "agreements_party_regions", "agreements_urusan", "agreements_search"}
    with psycopg.connect(url) as conn:  # the readers' indexes as a fresh install makes them
        assert conn.execute("SELECT count(*) FROM pg_class WHERE oid = ANY(%s::regclass[])"
                            " AND reloptions @> ARRAY['gin_pending_list_limit=64']",
                            ([f"registry.agreements_{c}" for c in ("visible_to", "party_regions", "urusan", "search")],)
                            ).fetchone()[0] == 4
    assert names(url, "pg_policies", "policyname", "registry", "agreements") == {"agreements_tenant_read"}
    assert table_present(url, "registry.agreements_tracking")
    assert not table_present(url, "registry.agreements_next_tracking")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT obj_description('registry.agreements'::regclass, 'pg_class')").fetchone()[0] \
            == f"ksd view version {VIEW_VERSION}"
    migrate_all(url)  # nothing more to build
    assert not table_present(url, "registry.agreements_next")
    assert len(stored_rows(url)) == 32


def caught_up_now(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return projection_lag(conn) == 0


def test_every_gin_index_keeps_a_short_pending_list(url: str) -> None:
    """GIN queues inserts in a pending list that every read of the index scans to its end: at
    the default 4 MB, after a rebuild, a kab/kota's list read 3.5 ms instead of 0.28 ms."""
    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT n.nspname || '.' || c.relname, c.reloptions FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam"
            " WHERE a.amname = 'gin' AND n.nspname IN ('registry', 'monitoring', 'reporting')").fetchall()
    assert len(indexes) >= 10
    assert {name for name, options in indexes if "gin_pending_list_limit=64" not in (options or [])} == set()
