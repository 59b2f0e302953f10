"""The whole platform for the reporting tests: the monitoring tests' platform (registry and
monitoring apps, their workers' feeds, one clock) plus the reporting app and the reporting
worker's feeds. `sync()` waits until every read model has every event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from typing import Any

import psycopg
from litestar.testing import TestClient

from services.reporting.app import create_app as create_reporting
from services.reporting.setup import feed_lag
from services.reporting.worker import make_runners, run_for
from tests.e2e.monitoring_platform import Platform, platform


class ReportingPlatform(Platform):
    reporting: TestClient
    reporting_runners: list[Any]

    def sync(self, timeout: float = 15.0) -> None:
        super().sync(timeout)
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url) as conn:
            while max(feed_lag(conn).values()) > 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"reporting feeds did not catch up: {feed_lag(conn)}")
                run_for(self.reporting_runners, 0.06)
                conn.commit()

    # -- the reporting chain, as officers drive it -------------------------------------------

    def draft(self, region: str, period: str, *, expect: int = 201, **text: Any) -> dict:
        self.sync()
        response = self.reporting.post("/reports", json={"period": period, **text}, headers=self.headers(region))
        assert response.status_code == expect, response.text
        return response.json()

    def submit(self, report: dict, *, expect: int = 200, reason: str | None = None) -> dict:
        self.sync()
        region = report["region"]["code"]
        response = self.reporting.post(f"/reports/{report['id']}/submit", json={"reason": reason} if reason else None,
                                       headers=self.headers(region, version=report["version"]))
        assert response.status_code == expect, response.text
        return response.json()

    def consolidation(self, province: str, period: str, tenant: str | None = None, **params: Any) -> dict:
        self.sync()
        response = self.reporting.get(f"/consolidations/{province}/{period}", params=params,
                                      headers=self.headers(tenant or province, "consolidator"))
        assert response.status_code == 200, response.text
        return response.json()

    def national(self, period: str) -> dict:
        self.sync()
        response = self.reporting.get(f"/national/{period}", headers=self.headers("national", "monitor"))
        assert response.status_code == 200, response.text
        return response.json()["content"]


@contextmanager
def reporting_platform(
    pg_server_url: str, *, start: date = date(2026, 1, 5), **settings: Any
) -> Iterator[ReportingPlatform]:
    # Three apps and six feeds on one test server: small pools, so the suite stays well under
    # the server's connection limit.
    settings.setdefault("db_pool_max", 3)
    with platform(pg_server_url, start=start, **settings) as base, ExitStack() as stack:
        base.__class__ = ReportingPlatform
        p: ReportingPlatform = base  # type: ignore[assignment]
        p.reporting = stack.enter_context(TestClient(create_reporting(p.settings, database_url=p.url, clock=p.clock),
                                                     raise_server_exceptions=False))
        p.reporting_runners = stack.enter_context(make_runners(p.url))
        yield p
