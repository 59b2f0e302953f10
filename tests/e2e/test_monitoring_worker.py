"""The monitoring worker as it runs (`services.monitoring.worker.run`), started on a store
that already holds history: it must not crash on the waiting events, and a catch-up over
old events must alert on the present only (no opened-then-cleared flood)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import psycopg
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.monitoring.worker import run
from services.registry.app import create_app as create_registry
from shared.clock import ManualClock
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.e2e.monitoring_platform import Platform


def test_the_worker_catches_up_on_history_and_alerts_only_on_the_present(pg_server_url: str) -> None:
    with fresh_database(pg_server_url, prefix="ksd_monitoring_worker") as url:
        migrate_all(url)
        clock = ManualClock(datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
        settings = Settings.from_env({}, jwt_secret="test-secret-" + "x" * 32, log_level="warning")
        with TestClient(create_registry(settings, database_url=url, clock=clock)) as registry:
            # Legacy agreements entered before the worker ever ran: a framework signed in
            # 2024 whose PKS followed months later, and one that never got a PKS.
            p = Platform(url, settings, clock, registry, None, None, None)  # type: ignore[arg-type]
            followed = p.start("34.71", ["34.04"], title="Lama, ditindaklanjuti")
            p.sign_framework(followed, signed_on=date(2024, 1, 10), valid_until=date(2029, 1, 9))
            p.sign_pks(followed, signed_on=date(2024, 9, 1), start_on=date(2024, 9, 1), end_on=date(2029, 1, 9))
            stalled = p.start("64.02", ["64.72"], title="Lama, berhenti di kesepakatan")
            p.sign_framework(stalled, signed_on=date(2024, 3, 1), valid_until=date(2029, 2, 28))
        stop = threading.Event()
        worker = threading.Thread(target=run, args=(settings, url, stop, clock), daemon=True)
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with psycopg.connect(url) as conn:
                    kinds = {r[0] for r in conn.execute("SELECT kind FROM monitoring.alerts WHERE cleared_at IS NULL")}
                if "kb_without_pks" in kinds:
                    break
                assert worker.is_alive(), "the worker stopped"
                time.sleep(0.2)
        finally:
            stop.set()
            worker.join(timeout=10)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM monitoring.agreements").fetchone()[0] == 2
            alerts = conn.execute(
                "SELECT kind, agreement_id::text, cleared_at IS NULL FROM monitoring.alerts ORDER BY kind").fetchall()
            transitions = {r[0] for r in conn.execute("SELECT transition FROM monitoring.notifications")}
    kinds_by_agreement = {(kind, agreement) for kind, agreement, _open in alerts}
    # The stalled one is alerted; the one followed by a PKS (even late, in 2024) never was.
    assert ("kb_without_pks", stalled["id"]) in kinds_by_agreement
    assert not any(a == followed["id"] for _, a in kinds_by_agreement if _ == "kb_without_pks")
    assert all(is_open for *_, is_open in alerts), alerts  # nothing opened and then cleared
    assert transitions == {"opened"}
