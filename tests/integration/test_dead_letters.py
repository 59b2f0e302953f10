"""A stored event never stops a projection: what a read model cannot hold becomes a dead
letter (recorded with its error, its position passed in the same transaction), the worker
goes on with the rest, `/ready`, `/metrics` and `ksd status` show it, and
`ksd replay-dead-letters` applies it once the code can."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner

from services.ksd.cli import app as cli
from services.ksd.cli import migrate_all
from services.monitoring.application import Monitoring
from services.monitoring.domain.reports import ProgressReport
from services.monitoring.setup import feed_lag as monitoring_lag
from services.monitoring.setup import monitoring_env
from services.registry.app import create_app as create_registry
from services.registry.application import Registry, StartAgreement
from services.registry.domain import commands as c
from services.registry.domain.agreement import Agreement
from services.registry.projections import agreements as agreements_view
from services.registry.setup import projection_lag, registry_env
from services.reporting.setup import feed_lag as reporting_lag
from shared.auth import Identity, TokenService
from shared.periods import Period
from shared.settings import Settings
from tests.conftest import fresh_database, wait_for
from tests.e2e.workers import WorkerThread

OPERATOR = Identity(sub="op-dl", name="Operator", tenant="32.73", roles=("operator",))
GIANT_TITLE = " ".join(f"kata{i}" for i in range(200_000))


@pytest.fixture(scope="module")
def url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_dead_letters") as database:
        migrate_all(database)
        yield database


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.from_env(
        {}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(tmp_path_factory.mktemp("data")), log_level="warning",
        worker_metrics_port=0, worker_heartbeat_seconds=0.3, db_pool_max=2,
    )


@pytest.fixture(scope="module")
def registry_app(url: str) -> Iterator[Registry]:
    app = Registry(registry_env(url, pool_size=1))
    yield app
    app.close()


@pytest.fixture(scope="module")
def registry_worker(settings: Settings, url: str) -> Iterator[WorkerThread]:
    worker = WorkerThread("registry", settings, url)
    yield worker
    worker.close()


def stored_agreement(app: Registry, title: str, value_idr: int | None = None) -> Agreement:
    """An agreement saved through the application layer, as an older release (before the
    edge refused such input) stored it: no HTTP validation, no domain check on the text."""
    agreement = Agreement._create(  # noqa: SLF001 - the event as it was stored then
        Agreement.Started, id=uuid4(), timestamp=app.clock.now(), actor=OPERATOR.actor(), form="KSDD",
        category="sukarela", title=title, object="Pengelolaan sampah", urusan=("1.03",),
        parties=({"kind": "region", "region": "32.73", "role": "initiator"},
                 {"kind": "region", "region": "32.04", "role": "partner"}),
        value_idr=value_idr, burdens_community=False, budgeted_in_apbd=False,
    )
    app.save(agreement)
    return agreement


def good_agreement(app: Registry, title: str) -> Agreement:
    return app.start_agreement(OPERATOR, StartAgreement(
        form="KSDD", category="sukarela", title=title, object="Pengelolaan sampah", urusan=["1.03"],
        parties=[{"region": "32.04"}],
    )).agreement


def dead_letters(url: str, schema: str = "registry") -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            f"SELECT * FROM {schema}.dead_letters ORDER BY notification_id"  # the test's own constant
        ).fetchall()


def caught_up(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return projection_lag(conn) == 0


def ksd(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": url, "KSD_LOG_LEVEL": "warning"})


@pytest.fixture(scope="module")
def client(settings: Settings, url: str) -> Iterator[TestClient]:
    with TestClient(create_registry(settings, database_url=url), raise_server_exceptions=False) as c:
        yield c


def bearer(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenService(settings).issue(tenant='32.73', roles=('operator',))}"}


def titles(client: TestClient, settings: Settings) -> list[str]:
    response = client.get("/agreements", params={"limit": 100}, headers=bearer(settings))
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def test_events_the_read_model_cannot_hold_become_dead_letters_and_the_rest_is_served(
    registry_app: Registry, registry_worker: WorkerThread, client: TestClient, settings: Settings, url: str,
) -> None:
    nul = stored_agreement(registry_app, "Sampah\x00regional")  # text columns refuse NUL
    huge = stored_agreement(registry_app, "Nilai raksasa", value_idr=10**20)  # numeric(20, 0) overflows
    # A later event of the overflowing agreement waits behind it (no hole in its history).
    registry_app.act(OPERATOR, huge.id, 1, c.SubmitOffer("005/DL", date(2026, 1, 5)))
    # A program limit (SQLSTATE 54, an OperationalError to psycopg): the search vector of a
    # 1.4 MB title. It fails the same way every time: a dead letter, not a retry forever.
    giant = stored_agreement(registry_app, GIANT_TITLE)
    good = good_agreement(registry_app, "Sesudah racun")
    wait_for(lambda: caught_up(url), "the registry worker to pass every event")

    letters = dead_letters(url)
    assert [(r["originator_id"], r["originator_version"]) for r in letters] == [
        (nul.id, 1), (huge.id, 1), (huge.id, 2), (giant.id, 1)]
    assert [r["error_type"] for r in letters] == [
        "DataError", "NumericValueOutOfRange", "BlockedByEarlierDeadLetter", "ProgramLimitExceeded"]
    assert "NUL" in letters[0]["error_message"] and "tsvector" in letters[3]["error_message"]
    assert all(r["projection"] == "agreements" and r["application_name"] == "registry" for r in letters)
    assert all(r["topic"].startswith("services.registry.domain.agreement:Agreement.") for r in letters)
    assert all(r["attempts"] == 1 and r["replayed_at"] is None for r in letters)

    # The worker went on: the later agreement is listed, the poisoned ones are not.
    assert "Sesudah racun" in titles(client, settings)
    assert "Nilai raksasa" not in titles(client, settings)
    assert client.get(f"/agreements/{good.id}", headers=bearer(settings)).status_code == 200

    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text  # dead letters are reported, the rest is served
    assert ready.json()["dead_letters"] == {"open": 4, "feeds": {"agreements": 4}}
    assert ready.json()["workers"]["live"] == 1
    metrics = client.get("/metrics").text
    assert re.search(r'^ksd_dead_letters_open\{projection="agreements",service="registry"\} 4\.0$', metrics, re.M)
    total = re.search(r'^ksd_dead_letters_total\{projection="agreements",service="registry"\} (\d+)\.0$', metrics, re.M)
    assert total and int(total.group(1)) >= 4

    status = ksd(url, "status")
    assert status.exit_code == 1, status.output
    assert "4 terbuka / open (agreements 4)" in status.output
    assert "registry: 4 dead letter terbuka" in status.output


def test_replay_reports_what_still_fails_and_applies_it_once_the_code_can(
    registry_app: Registry, registry_worker: WorkerThread, client: TestClient, settings: Settings, url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len([r for r in dead_letters(url) if r["replayed_at"] is None]) == 4  # from the test above

    unfixed = ksd(url, "replay-dead-letters", "--service", "registry")
    assert unfixed.exit_code == 1, unfixed.output
    assert unfixed.output.count("✗") == 4
    assert "registry: 0 diterapkan / applied, 4 masih gagal / still failing" in unfixed.output
    assert [r["attempts"] for r in dead_letters(url)] == [2, 2, 2, 2]
    # The overflowing agreement's second event was not tried before its first.
    assert dead_letters(url)[2]["error_type"] == "BlockedByEarlierDeadLetter"

    # The fix: the read model keeps what it can (no NUL; a value beyond the column unset; a
    # title cut to what a search vector holds).
    row_of = agreements_view.row_of

    def fixed_row_of(agreement: Agreement, state: dict[str, Any] | None = None) -> dict[str, Any]:
        agreement.title = agreement.title.replace("\x00", " ")[:20_000]
        if agreement.value_idr is not None and agreement.value_idr >= 10**20:
            agreement.value_idr = None
        if state is not None:  # the record the row (and the API's JSON after it) is rendered from
            state.update(title=agreement.title, value_idr=agreement.value_idr)
        return row_of(agreement, state)

    monkeypatch.setattr(agreements_view, "row_of", fixed_row_of)
    fixed = ksd(url, "replay-dead-letters", "--service", "registry")
    assert fixed.exit_code == 0, fixed.output
    assert "registry: 4 diterapkan / applied, 0 masih gagal / still failing" in fixed.output
    assert all(r["replayed_at"] is not None for r in dead_letters(url))
    listed = titles(client, settings)
    assert "Sampah regional" in listed and "Nilai raksasa" in listed and GIANT_TITLE[:20_000] in listed
    huge = next(i for i in client.get("/agreements", params={"q": "raksasa"}, headers=bearer(settings)).json()["items"])
    assert (huge["stage"], huge["version"]) == ("penawaran", 2)  # both events, in order

    again = ksd(url, "replay-dead-letters", "--service", "registry")
    assert again.exit_code == 0 and "tidak ada dead letter terbuka" in again.output
    assert client.get("/ready").json()["dead_letters"]["open"] == 0

    # Later events of a replayed aggregate are applied by the worker as usual.
    huge_id = next(r["originator_id"] for r in dead_letters(url) if r["originator_version"] == 2)
    partner = Identity(sub="op-dl-2", name="Operator", tenant="32.04", roles=("operator",))
    registry_app.act(partner, huge_id, 2, c.RecordOfferResponse("accepted", "jawab/1", date(2026, 1, 6)))
    wait_for(lambda: caught_up(url), "the worker to apply the next event")
    assert client.get(f"/agreements/{huge_id}", headers=bearer(settings)).json()["version"] == 3
    assert len(dead_letters(url)) == 4


def test_an_event_the_current_code_cannot_decode_is_a_dead_letter_too(
    registry_app: Registry, registry_worker: WorkerThread, client: TestClient, settings: Settings, url: str,
) -> None:
    vanished = uuid4()
    with psycopg.connect(url, autocommit=True) as conn:  # an event of a class since removed
        conn.execute(
            "INSERT INTO registry.registry_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, 'services.registry.domain.agreement:Agreement.Vanished', '{}')", (vanished,))
    good_agreement(registry_app, "Sesudah peristiwa asing")
    wait_for(lambda: caught_up(url), "the worker to pass the undecodable event")
    (letter,) = [r for r in dead_letters(url) if r["originator_id"] == vanished]
    assert letter["error_type"] == "UnknownTopic" and letter["replayed_at"] is None
    assert "Sesudah peristiwa asing" in titles(client, settings)


def test_the_other_workers_pass_a_poisoned_event_too_and_keep_projecting(
    registry_app: Registry, settings: Settings, url: str,
) -> None:
    """The same stored agreement (and a progress report with a NUL) reach the monitoring and
    reporting read models through their own feeds: dead letters there, the rest projected."""
    agreement = stored_agreement(registry_app, "Laporan\x00beracun")
    good = good_agreement(registry_app, "Laporan sehat")
    monitoring = Monitoring(monitoring_env(url, pool_size=1))
    try:
        for target, obstacles in ((agreement, "Hambatan\x00"), (good, "Hambatan\x00juga")):
            report = ProgressReport.file(
                agreement_id=target.id, region="32.73", period=Period.parse("2025-S2"),
                content={"activities": [{"name": "Rapat"}], "obstacles": obstacles}, actor=OPERATOR.actor(),
                at=monitoring.clock.now(),
            )
            monitoring.save(report)
    finally:
        monitoring.close()
    # One worker at a time: few connections.
    for service, lag in (("monitoring", monitoring_lag), ("reporting", reporting_lag)):
        worker = WorkerThread(service, settings, url)
        try:
            def caught_up_here(lag: Callable[[psycopg.Connection], dict[str, int]] = lag) -> bool:
                with psycopg.connect(url) as conn:
                    return max(lag(conn).values()) == 0

            wait_for(caught_up_here, f"the {service} worker to pass every event", timeout=60)
        finally:
            worker.close()
    for schema, feeds in (("monitoring", {"registry_feed", "monitoring_feed"}),
                          ("reporting", {"agreements", "monitoring_records"})):
        letters = dead_letters(url, schema)
        assert {r["projection"] for r in letters} == feeds, letters
        assert agreement.id in {r["originator_id"] for r in letters}
    with psycopg.connect(url) as conn:
        for schema in ("monitoring", "reporting"):
            assert conn.execute(f"SELECT count(*) FROM {schema}.agreements WHERE id = %s",
                                (good.id,)).fetchone()[0] == 1
        beats = conn.execute("SELECT worker, status FROM monitoring.worker_heartbeats"
                             " UNION ALL SELECT worker, status FROM reporting.worker_heartbeats").fetchall()
    assert sorted(beats) == [("monitoring", "stopped"), ("reporting", "stopped")]  # a clean stop says so
