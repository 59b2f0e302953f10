"""Group commit (shared.group_commit): concurrent commands share one transaction of the
registry's event store; a version conflict fails only its own command, an outage fails the
whole batch, and nothing is acknowledged before it committed."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from services.registry.application import Registry
from services.registry.audit import Audit
from services.registry.domain.agreement import Agreement, Category, Form, RegionParty
from services.registry.domain.commands import Caller, RecordOfferResponse, SubmitOffer
from services.registry.setup import registry_env
from shared.auth import Identity
from shared.errors import VersionConflict
from shared.group_commit import GroupCommitter, GroupCommitterClosed
from shared.regions import load_regions
from tests.conftest import wait_for

OPERATOR = Identity(sub="op-gc", name="Operator", tenant="32.73", roles=("operator",))
PARTNER = Identity(sub="op-gc-2", name="Operator", tenant="32.04", roles=("operator",))
CALLER = Caller(OPERATOR.tenant, OPERATOR.actor())
# Legal dates fixed in the past, in order (never "today": a module constant outlives midnight).
DRAFTED_ON = date(2026, 1, 5)
OFFER = SubmitOffer("005/KS/2026", date(2026, 1, 12))
ACCEPTED = RecordOfferResponse(decision="accepted", reference="006/KS/2026", responded_on=date(2026, 1, 20))


def _registry(url: str, group_commit: str = "1", pool_size: int = 3) -> Registry:
    return Registry({**registry_env(url, pool_size=pool_size), "KSD_GROUP_COMMIT": group_commit})


@pytest.fixture()
def app(migrated_url: str) -> Iterator[Registry]:
    registry = _registry(migrated_url)
    yield registry
    registry.close()


def seed(app: Registry, n: int) -> list[UUID]:
    """n new agreements of Kota Bandung with Kab. Bandung, saved in one transaction."""
    regions, now = load_regions(), datetime.now(UTC)
    agreements = [
        Agreement.start(
            id=uuid4(), actor=OPERATOR.actor(), at=now, form=Form.KSDD, category=Category.SUKARELA,
            title=f"Pengelolaan sampah {i}", object="TPPAS Legok Nangka", urusan=["2.11"], initiator="32.73",
            partners=[RegionParty("32.04")], value_idr=None, burdens_community=False, budgeted_in_apbd=False,
            adjacency=regions, drafted_on=DRAFTED_ON,
        )
        for i in range(n)
    ]
    app.save(*agreements)
    return [a.id for a in agreements]


def stored_versions(url: str, ids: list[UUID]) -> dict[UUID, list[int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version FROM registry.registry_events"
            " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version", (ids,)
        ).fetchall()
    found: dict[UUID, list[int]] = {i: [] for i in ids}
    for originator_id, version in rows:
        found[originator_id].append(version)
    return found


class Held:
    """The writer's first batch waits (`holding` set) until `release` is set, so the commands
    sent meanwhile queue up, as they do while a batch commits; `sizes`: each batch's events."""

    def __init__(self, app: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
        self.holding, self.release, self.sizes = threading.Event(), threading.Event(), []
        real = app._record

        def record(processing: Any) -> Any:
            if not self.sizes and not self.release.is_set():
                self.holding.set()
                self.release.wait(30)
            self.sizes.append(len(processing.events))
            return real(processing)

        monkeypatch.setattr(app, "_record", record)

    def wait_holding(self) -> None:
        assert self.holding.wait(30), "the writer never took the first command"


def queued(app: Registry) -> int:
    committer = app._committer
    return 0 if committer is None else len(committer._queue)


def act_all(app: Registry, ids: list[UUID], threads: int) -> list[Any]:
    """`act` (submit an offer, If-Match 1) on each id, from `threads` threads at once; each
    result is the new state or the exception raised."""

    def one(agreement_id: UUID) -> Any:
        try:
            return app.act(OPERATOR, agreement_id, 1, OFFER)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, ids))


# -- behaviour -------------------------------------------------------------------------------


def test_many_threads_acting_at_once_all_get_their_results(app: Registry, migrated_url: str) -> None:
    ids = seed(app, 240)
    results = act_all(app, ids, threads=24)
    assert [type(r) for r in results] == [Agreement] * len(ids)
    assert [r.version for r in results] == [2] * len(ids)
    assert all(v == [1, 2] for v in stored_versions(migrated_url, ids).values())
    assert app._committer is not None and app._committer.commands == len(ids)


def test_commands_queued_while_a_batch_commits_share_the_next_transaction(
    app: Registry, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = seed(app, 41)
    held = Held(app, monkeypatch)
    with ThreadPoolExecutor(41) as pool:
        first = pool.submit(app.act, OPERATOR, ids[0], 1, OFFER)
        held.wait_holding()
        rest = [pool.submit(app.act, OPERATOR, i, 1, OFFER) for i in ids[1:]]
        wait_for(lambda: queued(app) == 40, "the commands to queue")
        held.release.set()
        answers = [first.result(), *(f.result() for f in rest)]
    assert held.sizes == [1, 40]
    assert all(a.version == 2 for a in answers)
    assert all(v == [1, 2] for v in stored_versions(migrated_url, ids).values())


def test_two_requests_on_the_same_version_in_one_batch_the_later_gets_the_409(
    app: Registry, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contested, *ids = seed(app, 21)
    held = Held(app, monkeypatch)
    with ThreadPoolExecutor(23) as pool:
        blocker = pool.submit(app.act, OPERATOR, ids[0], 1, OFFER)
        held.wait_holding()
        winner = pool.submit(app.act, OPERATOR, contested, 1, OFFER)
        wait_for(lambda: queued(app) == 1, "the commands to queue")
        loser = pool.submit(app.act, OPERATOR, contested, 1, OFFER)  # decided on version 1 too
        rest = [pool.submit(app.act, OPERATOR, i, 1, OFFER) for i in ids[1:]]
        wait_for(lambda: queued(app) == 21, "the commands to queue")
        held.release.set()
        assert blocker.result().version == 2
        assert winner.result().version == 2
        with pytest.raises(VersionConflict) as conflict:
            loser.result()
        assert all(f.result().version == 2 for f in rest)
    assert conflict.value.extra == {"current_version": 2}
    assert held.sizes == [1, 20]  # the loser never reached the store
    assert all(v == [1, 2] for v in stored_versions(migrated_url, [contested, *ids]).values())
    (stored,) = app.events.get(contested, gt=1)
    assert stored.timestamp == winner.result().modified_on


def decided_then_overtaken(app: Registry, url: str, agreement_id: UUID) -> Agreement:
    """An offer decided on version 1, after which another writer stored version 2."""
    stale = app.repository.get(agreement_id)
    stale.execute(OFFER, by=CALLER, at=datetime.now(UTC), policy=app.policy)
    other = Registry(registry_env(url, pool_size=1))
    try:
        assert other.act(OPERATOR, agreement_id, 1, OFFER).version == 2
    finally:
        other.close()
    return stale


@pytest.mark.parametrize("others", [20, 230], ids=["pipelined-insert", "bulk-copy"])
@pytest.mark.parametrize("named", [True, False], ids=["named-by-version-check", "found-by-halving"])
def test_a_stale_command_in_a_batch_fails_alone_and_the_rest_are_stored(
    app: Registry, migrated_url: str, monkeypatch: pytest.MonkeyPatch, others: int, named: bool
) -> None:
    """A command decided on a version another writer has stored since, queued in one batch
    with `others` commands on other agreements: it alone gets the 409, the rest commit.
    (230 commands: the recorder's COPY path; 20: eventsourcing's pipelined insert. Without the
    version check, as in a race with another writer, the batch is halved down to it.)"""
    stale_id, *ids = seed(app, others + 1)
    stale = decided_then_overtaken(app, migrated_url, stale_id)
    held = Held(app, monkeypatch)
    with ThreadPoolExecutor(others + 2) as pool:
        blocker = pool.submit(app.act, OPERATOR, ids[0], 1, OFFER)
        held.wait_holding()
        if not named:
            monkeypatch.setattr(app._committer, "_stale", lambda batch: set())
        loser = pool.submit(app.save_or_conflict, stale)
        wait_for(lambda: queued(app) == 1, "the commands to queue")
        rest = [pool.submit(app.act, OPERATOR, i, 1, OFFER) for i in ids[1:]]
        wait_for(lambda: queued(app) == others, "the commands to queue")
        held.release.set()
        assert blocker.result().version == 2
        with pytest.raises(VersionConflict) as conflict:
            loser.result()
        assert all(f.result().version == 2 for f in rest)
    assert conflict.value.extra == {"current_version": 2}
    assert held.sizes[:2] == [1, others]  # the second batch held all of them, then failed
    if named:
        assert held.sizes[2:] == [others - 1]  # ... and the rest were saved together
    assert all(v == [1, 2] for v in stored_versions(migrated_url, [stale_id, *ids]).values())
    (stored,) = app.events.get(stale_id, gt=1)
    assert stored.actor == OPERATOR.actor() and stored.timestamp != stale.modified_on


def test_an_outage_fails_every_command_of_the_batch_and_stores_none(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _registry(migrated_url)
    try:
        ids = seed(app, 11)
        held = Held(app, monkeypatch)
        with ThreadPoolExecutor(11) as pool:
            futures = [pool.submit(app.act, OPERATOR, ids[0], 1, OFFER)]
            held.wait_holding()
            futures += [pool.submit(app.act, OPERATOR, i, 1, OFFER) for i in ids[1:]]
            wait_for(lambda: queued(app) == 10, "the commands to queue")
            app.recorder.datastore.pool.close()  # the database is gone for this application
            held.release.set()
            for future in futures:
                with pytest.raises(OperationalError):
                    future.result()
        assert all(v == [1] for v in stored_versions(migrated_url, ids).values())
    finally:
        app.close()
    assert not app._committer.running


def test_the_hash_chain_verifies_and_versions_have_no_gaps_after_concurrent_batches(
    app: Registry, migrated_url: str
) -> None:
    ids = seed(app, 30)
    rng = random.Random(7)
    # Racing requests on randomly drawn agreements, each on the version it just read (an offer,
    # then the partner's acceptance): some win, some lose with a 409 (or find the step taken);
    # whatever won is stored without gaps, and every chain verifies.
    targets = [rng.choice(ids) for _ in range(200)]

    def one(agreement_id: UUID) -> Any:
        current = app.repository.get(agreement_id).version
        try:
            if current == 1:
                return app.act(OPERATOR, agreement_id, current, OFFER)
            return app.act(PARTNER, agreement_id, current, ACCEPTED)
        except VersionConflict as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a rule refusal (already answered): fine here
            return exc

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, targets))
    assert {r.version for r in results if isinstance(r, Agreement)} == {2, 3}
    audit = Audit(app)
    for agreement_id, versions in stored_versions(migrated_url, ids).items():
        assert versions == list(range(1, len(versions) + 1))
        assert audit.check(agreement_id)["valid"], agreement_id


def test_group_commit_off_saves_in_the_callers_thread(migrated_url: str) -> None:
    app = _registry(migrated_url, group_commit="0")
    try:
        ids = seed(app, 8)
        results = act_all(app, ids, threads=4)
        assert all(isinstance(r, Agreement) and r.version == 2 for r in results)
        assert app._committer is None
    finally:
        app.close()


def test_close_saves_what_is_queued_stops_the_writer_and_refuses_more(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _registry(migrated_url)
    ids = seed(app, 6)
    held = Held(app, monkeypatch)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(app.act, OPERATOR, ids[0], 1, OFFER)]
        held.wait_holding()
        futures += [pool.submit(app.act, OPERATOR, i, 1, OFFER) for i in ids[1:5]]
        wait_for(lambda: queued(app) == 4, "the commands to queue")
        committer = app._committer
        assert isinstance(committer, GroupCommitter) and committer.running
        closing = pool.submit(app.close)
        wait_for(lambda: committer._closed, "close to begin")
        held.release.set()
        closing.result()
        assert [f.result().version for f in futures] == [2] * 5
    assert not committer.running
    assert committer._thread not in threading.enumerate()
    assert all(v == [1, 2] for v in stored_versions(migrated_url, ids[:5]).values())
    late = Registry(registry_env(migrated_url, pool_size=1))
    try:
        aggregate = late.repository.get(ids[5])
    finally:
        late.close()
    aggregate.execute(OFFER, by=CALLER, at=datetime.now(UTC), policy=app.policy)
    with pytest.raises(GroupCommitterClosed):
        committer.commit(aggregate)
