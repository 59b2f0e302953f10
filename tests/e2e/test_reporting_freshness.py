"""No submission freezes a read model that lags behind the event logs: it waits, then
answers 503 and stores nothing. On the run's shared database, where no reporting worker runs
(every event recorded there is lag); its own module, so no platform's connections are open."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import psycopg
from litestar.testing import TestClient

from services.reporting.app import create_app
from shared.auth import TokenService
from shared.clock import ManualClock
from shared.settings import Settings


def reporting_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM reporting.reporting_events").fetchone()[0]


def test_no_submission_freezes_a_read_model_that_lags_behind(migrated_url: str, settings: Settings) -> None:
    config = msgspec.structs.replace(settings, report_fresh_wait_seconds=0.3)
    clock = ManualClock(datetime(2026, 8, 10, 1, 0, tzinfo=UTC))
    headers = {"Authorization": f"Bearer {TokenService(config).issue(tenant='33.02', roles=['operator'])}"}
    with TestClient(create_app(config, database_url=migrated_url, clock=clock)) as client:
        draft = client.post("/reports", json={"period": "2026-S1", "narrative": "Banyumas."}, headers=headers)
        assert draft.status_code == 201, draft.text
        before = reporting_events(migrated_url)
        response = client.post(f"/reports/{draft.json()['id']}/submit", headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 503, response.text
        problem = response.json()
        assert problem["code"] == "read_model_behind" and problem["projection_lag"]["reports_feed"] >= 1
        assert reporting_events(migrated_url) == before
