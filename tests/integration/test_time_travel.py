"""Time travel against replay: a generated history of 1,000 events, one minute apart, read
back at every version and at every moment, must equal a plain fold of the stored events
(and the snapshots that make it fast must not change a thing)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from services.registry.application import Registry, StartAgreement
from services.registry.audit import Audit
from services.registry.domain import commands as c
from services.registry.setup import registry_env
from shared.auth import Identity
from shared.clock import ManualClock
from shared.errors import NotFound

EVENTS = 1_000
KOTA, KAB = "32.73", "32.04"
DAY = date(2025, 12, 1)


def operator(region: str) -> Identity:
    return Identity(sub=f"op-{region}", name="", tenant=region, roles=("operator",))


AUDITOR = Identity(sub="bpk-1", name="", tenant="national", roles=("auditor",))


@pytest.fixture(scope="module")
def long_history(migrated_url: str) -> Iterator[tuple[Registry, UUID, dict[int, Any]]]:
    """A KSDD with 1,000 events: offer, answer, framework, then addenda one after another."""
    clock = ManualClock()
    registry = Registry(registry_env(migrated_url, pool_size=2), clock=clock)
    started = registry.start_agreement(
        operator(KOTA),
        StartAgreement(form="KSDD", category="wajib", title="Riwayat panjang", object="Uji perjalanan waktu",
                       urusan=["2.11"], parties=[{"region": KAB}], drafted_on=DAY),
    )
    agreement_id = started.agreement.id
    times = {1: clock.now()}
    steps: list[tuple[str, Any]] = [
        (KOTA, c.SubmitOffer("005/2025", DAY)),
        (KAB, c.RecordOfferResponse("accepted", "415/2025", DAY)),
        (KOTA, c.SignFramework(
            number="KB/01/2025", signed_on=DAY, valid_from=DAY, valid_until=date(2030, 11, 30),
            signatories=tuple(c.Signatory(r, f"Kepala {r}", "Kepala Daerah", c.Capacity.KEPALA_DAERAH)
                              for r in (KOTA, KAB)))),
    ]
    steps += [
        (KOTA if i % 2 else KAB,
         c.Amend("framework", f"ADD/{i:04d}/2025", DAY, f"perubahan ke-{i}",
                 value_idr=1_000_000 * i if i % 3 else None))
        for i in range(1, EVENTS - 3)
    ]
    # The first steps through the application, the rest decided in memory and saved 50
    # events at a time (the chain links many events of one aggregate in one insert).
    version = 1
    for region, command in steps[:3]:
        clock.advance(minutes=1)
        version = registry.act(operator(region), agreement_id, version, command).version
        times[version] = clock.now()
    agreement = registry.repository.get(agreement_id)
    for region, command in steps[3:]:
        clock.advance(minutes=1)
        agreement.execute(command, by=c.Caller(region, operator(region).actor()), at=clock.now(), policy=c.Policy())
        times[agreement.version] = clock.now()
        if agreement.version % 50 == 0 or agreement.version == EVENTS:
            registry.save(agreement)  # snapshots every 50 versions, as in production
    assert registry.repository.get(agreement_id).version == EVENTS
    yield registry, agreement_id, times
    registry.close()


def replayed_states(registry: Registry, agreement_id: UUID) -> dict[int, dict[str, Any]]:
    """The state after each version by folding the stored events one by one (no snapshots)."""
    states, aggregate = {}, None
    for event in registry.events.get(agreement_id):
        aggregate = event.mutate(aggregate)
        states[aggregate.version] = copy.deepcopy(aggregate.to_state())
    return states


def test_every_version_and_moment_equals_replay(long_history, migrated_url: str) -> None:
    registry, agreement_id, times = long_history
    expected = replayed_states(registry, agreement_id)
    assert sorted(expected) == list(range(1, EVENTS + 1))
    with psycopg.connect(migrated_url) as conn:
        snapshots = conn.execute("SELECT count(*) FROM registry.registry_snapshots WHERE originator_id = %s",
                                 (agreement_id,)).fetchone()[0]
    assert snapshots == EVENTS // 50  # the long history is read from snapshots

    reader = operator(KAB)
    for version in range(1, EVENTS + 1):
        assert registry.get_agreement(reader, agreement_id, version=version).to_state() == expected[version], version
        # A moment resolves to the version recorded last at or before it...
        assert registry.recorder.version_at(agreement_id, times[version]) == version
        if version < EVENTS:  # ...so just before the next event it is still this one.
            later = times[version] + (times[version + 1] - times[version]) / 2
            assert registry.recorder.version_at(agreement_id, later) == version
        if version % 20 == 1 or version == EVENTS:  # and the whole path, every 20 versions
            at = registry.get_agreement(reader, agreement_id, as_of=times[version])
            assert at.to_state() == expected[version], version

    with pytest.raises(NotFound):
        registry.get_agreement(reader, agreement_id, version=EVENTS + 1)
    with pytest.raises(NotFound):
        registry.get_agreement(reader, agreement_id, as_of=times[1] - timedelta(seconds=1))
    with pytest.raises(NotFound):  # another province's operator
        registry.get_agreement(operator("35.78"), agreement_id, version=10)


def test_the_long_history_verifies(long_history) -> None:
    registry, agreement_id, _ = long_history
    audit = Audit(registry)
    result = audit.verify(AUDITOR, agreement_id)
    assert (result["valid"], result["events"]) == (True, EVENTS)
    history = audit.history(AUDITOR, agreement_id)
    assert [e["version"] for e in history] == list(range(1, EVENTS + 1))
    assert history[-1]["hash"] == result["head_hash"]
