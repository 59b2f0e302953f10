"""End-to-end fixtures: the real apps on the run's fresh database, the real projection
worker following the event store, and tokens for any tenant."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from litestar.testing import TestClient

from services.registry.app import create_app as create_registry
from services.registry.setup import projection_lag
from services.registry.worker import make_runner
from shared.auth import TokenService
from shared.cli import migrate_all
from shared.clock import ManualClock
from shared.settings import Settings


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    migrate_all(database_url)
    return database_url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Never the developer's environment: only what the tests say.
    return Settings.from_env(
        {}, jwt_secret="test-secret-" + "x" * 32, data_dir=str(tmp_path_factory.mktemp("data")), log_level="warning"
    )


@pytest.fixture(scope="session")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def projection(migrated_url: str) -> Iterator[Callable[[], None]]:
    """The registry's projection runner, as the worker runs it; call it to wait for the
    read model to catch up with everything recorded so far."""
    with make_runner(migrated_url) as runner:

        def caught_up(timeout: float = 10.0) -> None:
            deadline = time.monotonic() + timeout
            with psycopg.connect(migrated_url) as conn:
                while projection_lag(conn) > 0:
                    if time.monotonic() > deadline:
                        raise AssertionError("projection did not catch up")
                    runner.run_forever(timeout=0.05)

        yield caught_up


@pytest.fixture(scope="session")
def registry(settings: Settings, migrated_url: str, clock: ManualClock) -> Iterator[TestClient]:
    app = create_registry(settings, database_url=migrated_url, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def token(settings: Settings) -> Callable[..., dict[str, str]]:
    tokens = TokenService(settings)

    def headers(tenant: str, *roles: str, sub: str | None = None) -> dict[str, str]:
        jwt = tokens.issue(tenant=tenant, roles=roles or ("operator",), sub=sub)
        return {"Authorization": f"Bearer {jwt}"}

    return headers
