"""The `ksd` command line."""

from typer.testing import CliRunner

from shared.auth import TokenService
from shared.cli import app
from shared.settings import Settings

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
