"""Settings come from the environment, typed, with errors that name the variable."""

import base64

import pytest

from shared.audit.signing import generate_private_key, private_key_pem, public_key_raw
from shared.settings import Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert (settings.registry_port, settings.monitoring_port, settings.reporting_port) == (8001, 8002, 8003)
    assert settings.pks_max_years == 5


def test_values_are_read_from_ksd_variables_and_database_url() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://u@h/db", "KSD_REGISTRY_PORT": "9001", "KSD_PKS_MAX_YEARS": "7"}
    )
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.registry_port == 9001
    assert settings.pks_max_years == 7


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"KSD_REGISTRY_PORT": "eighty"}, "KSD_REGISTRY_PORT"),
        ({"KSD_REGISTRY_PORT": "70000"}, "KSD_REGISTRY_PORT"),
        ({"KSD_LOG_FORMAT": "xml"}, "KSD_LOG_FORMAT"),
        ({"KSD_PAGE_SIZE_DEFAULT": "500"}, "KSD_PAGE_SIZE_DEFAULT"),
        ({"KSD_ENVIRONMENT": "production"}, "KSD_JWT_SECRET"),
        ({"KSD_ENVIRONMENT": "production", "KSD_JWT_ALGORITHM": "RS256"}, "KSD_JWT_PUBLIC_KEY"),
        ({"KSD_ENVIRONMENT": "production", "KSD_JWT_SECRET": "s" * 32}, "KSD_AUDIT_SIGNING_KEY"),
        ({"KSD_AUDIT_SIGNING_KEY": "not a key"}, "KSD_AUDIT_SIGNING_KEY"),
        ({"KSD_AUDIT_SIGNING_KEY": base64.b64encode(b"x" * 31).decode()}, "KSD_AUDIT_SIGNING_KEY"),
        ({"KSD_AUDIT_HEAD_INTERVAL_SECONDS": "0"}, "KSD_AUDIT_HEAD_INTERVAL_SECONDS"),
    ],
)
def test_a_bad_value_fails_with_the_variable_named(env: dict, variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_unrelated_environment_is_ignored() -> None:
    assert Settings.from_env({"HOME": "/root", "KSD_UNKNOWN_THING": "1"}).registry_port == 8001


def test_production_starts_with_an_audit_signing_key() -> None:
    key = generate_private_key()
    settings = Settings.from_env(
        {
            "KSD_ENVIRONMENT": "production",
            "KSD_JWT_SECRET": "s" * 32,
            "KSD_AUDIT_SIGNING_KEY": private_key_pem(key),
            "KSD_AUDIT_HEAD_INTERVAL_SECONDS": "5",
        }
    )
    assert settings.audit_head_interval_seconds == 5
    assert settings.audit_signing_key is not None


def test_a_malformed_audit_key_is_not_echoed_in_the_error() -> None:
    seed = base64.b64encode(public_key_raw(generate_private_key())).decode()
    with pytest.raises(SettingsError, match="KSD_AUDIT_SIGNING_KEY") as raised:
        Settings.from_env({"KSD_AUDIT_SIGNING_KEY": seed[:-4]})
    assert seed[:-4] not in str(raised.value)
