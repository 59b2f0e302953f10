"""A whole platform for the monitoring tests: its own database, the registry and monitoring
HTTP apps, the monitoring worker's feeds, and one clock that the test moves forward.

`sync()` waits until the monitoring read model has every registry and monitoring event;
`tick()` is the worker's re-evaluation as time passes (what it does when the date changes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg
from litestar.testing import TestClient

from services.ksd.cli import migrate_all
from services.monitoring.app import create_app as create_monitoring
from services.monitoring.setup import feed_lag
from services.monitoring.worker import Runners, make_runners
from services.registry.app import create_app as create_registry
from services.registry.setup import projection_lag
from services.registry.worker import make_runner
from shared.auth import TokenService
from shared.clock import ManualClock
from shared.periods import local_date
from shared.settings import Settings
from tests.conftest import fresh_database


def kepala(region: str) -> dict[str, str]:
    return {"party": region, "name": f"Kepala Daerah {region}", "position": f"Kepala Daerah {region}",
            "capacity": "kepala_daerah"}


class Platform:
    def __init__(self, url: str, settings: Settings, clock: ManualClock, registry: TestClient,
                 monitoring: TestClient, runners: Runners, registry_runner: Any) -> None:
        self.url, self.settings, self.clock = url, settings, clock
        self.registry, self.monitoring, self.runners = registry, monitoring, runners
        self.registry_runner = registry_runner
        self.tokens = TokenService(settings)

    # -- time and the worker ---------------------------------------------------------------

    @property
    def today(self) -> date:
        return local_date(self.clock.now())

    def sync(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url) as conn:
            while max(feed_lag(conn).values()) > 0 or projection_lag(conn) > 0:
                if time.monotonic() > deadline:
                    raise AssertionError(f"feeds did not catch up: {feed_lag(conn)}")
                self.runners.run_for(0.04)
                self.registry_runner.run_forever(timeout=0.02)
                conn.commit()
        while self.runners.view.alerts.review_due():  # what the worker does once the feeds are live
            pass

    def tick(self) -> None:
        self.sync()
        self.runners.view.alerts.refresh_all(force=True)

    def advance_to(self, day: date) -> None:
        """Move the clock to 08:00 WIB on `day`, and let the worker re-evaluate."""
        now = self.clock.now()
        target = now + timedelta(days=(day - self.today).days)
        self.clock.advance(seconds=(target - now).total_seconds())
        self.tick()

    # -- callers ---------------------------------------------------------------------------

    def headers(self, tenant: str, *roles: str, version: int | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens.issue(tenant=tenant, roles=roles or ('operator',))}"}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return headers

    def alerts(self, tenant: str = "national", **params: Any) -> list[dict[str, Any]]:
        self.sync()
        response = self.monitoring.get(
            "/alerts", params={"limit": 100, **params}, headers=self.headers(tenant, "monitor")
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def alerts_of(self, agreement: dict, tenant: str = "national", **params: Any) -> set[tuple[str, str]]:
        return {(a["kind"], a["since"]) for a in self.alerts(tenant, agreement=agreement["id"], **params)}

    # -- the registry, as officers drive it -------------------------------------------------

    def start(self, initiator: str, partners: list[str], *, form: str = "KSDD", category: str | None = "sukarela",
              title: str = "Kerja sama", budgeted: bool = True, **extra: Any) -> dict:
        # Prepared long ago: the tests back-date the steps that follow.
        body = {"form": form, "title": title, "object": f"Objek {title}", "urusan": ["1.03"],
                "parties": [{"region": r} for r in partners], "budgeted_in_apbd": budgeted,
                "drafted_on": "2023-01-02", **extra}
        if form == "KSDD":
            body["category"] = category
        response = self.registry.post("/agreements", json=body, headers=self.headers(initiator))
        assert response.status_code == 201, response.text
        return response.json()

    def act(self, agreement: dict, action: str, body: dict, tenant: str) -> dict:
        response = self.registry.post(f"/agreements/{agreement['id']}/actions/{action}", json=body,
                                      headers=self.headers(tenant, version=agreement["version"]))
        assert response.status_code == 200, response.text
        agreement.clear()
        agreement.update(response.json())
        return agreement

    def sign_framework(self, agreement: dict, *, signed_on: date, valid_until: date) -> dict:
        regions = [p["region"] for p in agreement["parties"] if p["kind"] == "region"]
        initiator, partners = regions[0], regions[1:]
        self.act(agreement, "submit-offer", {"reference": "005/KS", "sent_on": signed_on.isoformat()}, initiator)
        for partner in partners:
            self.act(agreement, "record-offer-response", {"decision": "accepted", "reference": f"jawab/{partner}",
                                                          "responded_on": signed_on.isoformat()}, partner)
        return self.act(agreement, "sign-framework", {
            "number": f"KB/{agreement['id'][:4]}", "signed_on": signed_on.isoformat(),
            "valid_from": signed_on.isoformat(), "valid_until": valid_until.isoformat(),
            "signatories": [kepala(r) for r in regions],
        }, initiator)

    def sign_pks(self, agreement: dict, *, signed_on: date, start_on: date, end_on: date) -> dict:
        regions = [p["region"] for p in agreement["parties"] if p["kind"] == "region"]
        # Drafted the day it is signed (the default, today, may be after a back-dated signature).
        self.act(agreement, "draft-pks", {"title": "PKS", "object": "Pelaksanaan", "drafted_on": signed_on.isoformat()},
                 regions[0])
        pks_id = agreement["pks"][-1]["id"]
        return self.act(agreement, "sign-pks", {
            "pks": pks_id, "number": f"PKS/{pks_id}", "signed_on": signed_on.isoformat(),
            "start_on": start_on.isoformat(), "end_on": end_on.isoformat(),
            "signatories": [kepala(r) for r in regions],
        }, regions[0])

    def report(self, agreement: dict, region: str, period: str, *, version: int | None = None,
               expect: int = 201, **content: Any) -> Any:
        body = {"period": period, "activities": [{"name": "Rapat koordinasi"}],
                "indicators": [{"name": "Sampah terangkut", "unit": "ton", "target": 100, "achieved": 80}],
                "budget": {"planned_idr": 1_000_000_000, "realised_idr": 750_000_000}, **content}
        response = self.monitoring.post(f"/agreements/{agreement['id']}/progress-reports", json=body,
                                        headers=self.headers(region, version=version))
        assert response.status_code == expect, response.text
        return response


@contextmanager
def platform(pg_server_url: str, *, start: date = date(2026, 1, 5), **settings: Any) -> Iterator[Platform]:
    from datetime import UTC, datetime

    settings.setdefault("db_pool_max", 2)  # the suite's connections stay bounded (tests/README.md)
    with fresh_database(pg_server_url, prefix="ksd_monitoring") as url, ExitStack() as stack:
        migrate_all(url)
        clock = ManualClock(datetime(start.year, start.month, start.day, 1, 0, tzinfo=UTC))  # 08:00 WIB
        config = Settings.from_env({}, jwt_secret="test-secret-" + "x" * 32, log_level="warning", **settings)
        registry = stack.enter_context(TestClient(create_registry(config, database_url=url, clock=clock),
                                                  raise_server_exceptions=False))
        monitoring = stack.enter_context(TestClient(create_monitoring(config, database_url=url, clock=clock),
                                                    raise_server_exceptions=False))
        runners = stack.enter_context(make_runners(url, config, clock))
        registry_runner = stack.enter_context(make_runner(url))
        yield Platform(url, config, clock, registry, monitoring, runners, registry_runner)

