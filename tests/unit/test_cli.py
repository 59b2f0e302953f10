"""The `ksd` command line: tokens, and expected failures told in one line without a traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shared.settings
from services.ksd.cli import app
from shared.audit.log_store import LogInconsistent
from shared.auth import TokenService
from shared.settings import Settings
from tests.conftest import free_port

ENV = {"KSD_JWT_SECRET": "c" * 40}


def test_token_prints_a_token_for_the_tenant_and_roles() -> None:
    result = CliRunner().invoke(app, ["token", "--tenant", "32.73", "--role", "operator", "--role", "monitor"], env=ENV)
    assert result.exit_code == 0, result.output
    identity = TokenService(Settings.from_env(ENV)).verify(result.output.strip())
    assert identity.tenant == "32.73"
    assert identity.roles == ("operator", "monitor")


def test_token_refuses_an_unknown_role_with_a_clear_message() -> None:
    result = CliRunner().invoke(app, ["token", "--tenant", "32.73", "--role", "raja"], env=ENV)
    assert result.exit_code == 2
    assert "roles must be some of" in result.output


def test_invalid_configuration_is_reported_by_variable_name() -> None:
    result = CliRunner().invoke(app, ["token", "--tenant", "32", "--role", "operator"], env={"KSD_REGISTRY_PORT": "x"})
    assert result.exit_code == 2
    assert "KSD_REGISTRY_PORT" in result.output


# -- `ksd token` outside the repository root ------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KSD_JWT_SECRET", "KSD_DATA_DIR", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)


def test_a_relative_data_dir_is_the_checkouts_whatever_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert shared.settings.project_root() == REPO
    assert Settings.from_env({}).data_path == REPO / ".data"
    assert Settings.from_env({"KSD_DATA_DIR": str(tmp_path / "x")}).data_path == tmp_path / "x"


def test_token_run_elsewhere_signs_with_the_platforms_secret_and_creates_none_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_secret_in_env: None
) -> None:
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    (checkout / ".data").mkdir(parents=True)
    (checkout / ".data" / "jwt-secret").write_text("s" * 48)
    elsewhere.mkdir()
    monkeypatch.setattr(shared.settings, "project_root", lambda: checkout)
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(app, ["token", "--tenant", "32.73", "--role", "operator"])
    assert result.exit_code == 0, result.output
    identity = TokenService(Settings.from_env({}, jwt_secret="s" * 48)).verify(result.output.strip())
    assert identity.tenant == "32.73"
    assert not (elsewhere / ".data").exists()


def test_token_refuses_when_no_secret_exists_instead_of_making_one_no_service_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_secret_in_env: None
) -> None:
    monkeypatch.setattr(shared.settings, "project_root", lambda: tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["token", "--tenant", "32.73", "--role", "operator"])
    assert result.exit_code == 2
    assert "make run" in result.output and "KSD_JWT_SECRET" in result.output
    assert str(tmp_path / ".data" / "jwt-secret") in result.output
    assert not (tmp_path / ".data").exists()


# -- expected failures: one line, no traceback ----------------------------------------------------


def _ksd(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`ksd ARGS` in a fresh process, as a user types it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KSD_") and k != "DATABASE_URL"}
    ports = {f"KSD_{s.upper()}_PORT": str(free_port()) for s in ("registry", "monitoring", "reporting", "web")}
    return subprocess.run(
        [sys.executable, "-m", "services.ksd.cli", *args], env={**base, **ports, **env},
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_run_without_a_reachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    nowhere = f"postgresql://ksd@127.0.0.1:{free_port()}/ksd"
    result = _ksd("run", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 3
    line = _one_clear_line(result)
    assert "PostgreSQL tidak dapat dihubungi / cannot reach PostgreSQL" in line


def test_run_with_a_port_in_use_names_the_port_and_its_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        nowhere = f"postgresql://ksd@127.0.0.1:{free_port()}/ksd"
        result = _ksd("run", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path),
                                  "KSD_MONITORING_PORT": str(port)})
    assert result.returncode == 4
    line = _one_clear_line(result)
    assert str(port) in line and "KSD_MONITORING_PORT" in line


def test_run_with_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = _ksd("run", env={"KSD_DATA_DIR": str(tmp_path), "KSD_DB_POOL_MAX": "0"})
    assert result.returncode == 2
    assert "KSD_DB_POOL_MAX" in _one_clear_line(result)


def test_run_when_the_embedded_database_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "not-a-cluster.txt").write_text("x")
    result = _ksd("run", env={"KSD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 3
    line = _one_clear_line(result)
    assert "embedded PostgreSQL cannot start" in line and "not a PostgreSQL cluster" in line


def test_migrate_without_a_reachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    nowhere = f"postgresql://ksd@127.0.0.1:{free_port()}/ksd"
    result = _ksd("migrate", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 3
    assert "cannot reach PostgreSQL" in _one_clear_line(result)


def test_audit_digest_without_a_reachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    nowhere = f"postgresql://ksd@127.0.0.1:{free_port()}/ksd"
    result = _ksd("audit", "digest", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 3
    assert "cannot reach PostgreSQL" in _one_clear_line(result)


def test_audit_digest_refused_says_why_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import services.ksd.cli
    import services.registry.audit
    import services.registry.setup

    class Refusing:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def sign_heads(self, budget_seconds: float = 0.0) -> None:
            raise LogInconsistent("the stored log is not consistent with the head of size 7")

    class Closing:
        def close(self) -> None:
            pass

    monkeypatch.setattr(services.ksd.cli, "_probe", lambda url: None)
    monkeypatch.setattr(services.registry.setup, "open_registry", lambda url: Closing())
    monkeypatch.setattr(services.registry.audit, "Audit", Refusing)
    result = CliRunner().invoke(app, ["audit", "digest"], env={
        "DATABASE_URL": "postgresql://ksd@127.0.0.1:1/ksd", "KSD_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not a crash
    assert "tree head refused: the stored log is not consistent with the head of size 7" in result.output
    assert "Traceback" not in result.output


# -- `ksd worker-alive`: the workers' liveness probe ------------------------------------------------


@pytest.fixture
def beats(migrated_url: str):  # noqa: ANN201 - a function that writes one heartbeat row
    """Write the reporting worker's heartbeat rows as a worker would; all removed afterwards."""
    import psycopg

    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("DELETE FROM reporting.worker_heartbeats")

        def beat(*, age_seconds: float, status: str = "running", host: str | None = None) -> None:
            conn.execute(
                "INSERT INTO reporting.worker_heartbeats (instance, worker, host, pid, started_at, beat_at, status)"
                " VALUES (%(host)s || ':1:' || md5(random()::text), 'reporting', %(host)s, 1, now(),"
                " now() - make_interval(secs => %(age)s), %(status)s)",
                {"host": host or socket.gethostname(), "age": age_seconds, "status": status},
            )

        yield beat
        conn.execute("DELETE FROM reporting.worker_heartbeats")


def _alive(url: str, *args: str):  # noqa: ANN202 - click's Result
    env = {"DATABASE_URL": url, "KSD_WORKER_STALE_AFTER_SECONDS": "30"}
    return CliRunner().invoke(app, ["worker-alive", "reporting", *args], env=env)


def test_worker_alive_exits_0_while_this_machines_worker_beats(migrated_url: str, beats) -> None:  # noqa: ANN001
    beats(age_seconds=2)
    result = _alive(migrated_url)
    assert result.exit_code == 0, result.output
    assert "worker reporting hidup / alive" in result.output and socket.gethostname() in result.output


def test_worker_alive_exits_1_when_the_heartbeat_is_older_than_the_stale_limit(
    migrated_url: str, beats  # noqa: ANN001
) -> None:
    beats(age_seconds=90)
    result = _alive(migrated_url)
    assert result.exit_code == 1, result.output
    assert "TIDAK HIDUP / not alive" in result.output and "batas / limit 30 s" in result.output


def test_worker_alive_exits_1_when_the_worker_said_it_stopped(migrated_url: str, beats) -> None:  # noqa: ANN001
    beats(age_seconds=0, status="stopped")
    assert _alive(migrated_url).exit_code == 1


def test_worker_alive_counts_a_retrying_worker_as_alive(migrated_url: str, beats) -> None:  # noqa: ANN001
    # A worker waiting out a failure with backoff is alive: restarting it would not help.
    beats(age_seconds=1, status="retrying")
    assert _alive(migrated_url).exit_code == 0


def test_worker_alive_reads_only_this_machines_heartbeat_unless_told_any_host(
    migrated_url: str, beats  # noqa: ANN001
) -> None:
    beats(age_seconds=1, host="another-pod-7f9c")
    mine = _alive(migrated_url)
    assert mine.exit_code == 1 and "tidak ada detak" in mine.output, mine.output
    assert _alive(migrated_url, "--any-host").exit_code == 0


def test_worker_alive_cannot_tell_without_a_database_and_does_not_fail_the_probe(tmp_path: Path) -> None:
    nowhere = f"postgresql://ksd@127.0.0.1:{free_port()}/ksd"
    result = _ksd("worker-alive", "reporting", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "cannot tell, database unavailable" in _one_clear_line(result)
    strict = _ksd("worker-alive", "reporting", "--strict", env={"DATABASE_URL": nowhere, "KSD_DATA_DIR": str(tmp_path)})
    assert strict.returncode == 3
    assert "cannot tell" in _one_clear_line(strict)


def test_worker_alive_refuses_an_unknown_worker() -> None:
    result = CliRunner().invoke(app, ["worker-alive", "keuangan"], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert result.exit_code == 2
    assert "workers: registry, monitoring, reporting" in result.output
