"""Upstream selection by environment, and refusals of bad settings."""

from __future__ import annotations

import pytest

from nodebyte_common.settings import SettingsError, load_settings
from nodebyte_hytale_auth.app import build_app
from nodebyte_hytale_auth.settings import HytaleAuthSettings, endpoints

REQUIRED = {
    "DATABASE_URL": "postgresql://x@127.0.0.1/db",
    "SERVICE_TOKEN": "t",
    "PTERODACTYL_URL": "http://panel",
    "PTERODACTYL_API_KEY": "ptla_x",
    "ENCRYPTION_KEYS": "k1:" + "ab" * 32,
}


def settings(**env: str) -> HytaleAuthSettings:
    return load_settings(HytaleAuthSettings, {**REQUIRED, **env})


def test_production_is_the_default() -> None:
    chosen = endpoints(settings())
    assert chosen.environment == "production"
    assert chosen.oauth == "https://oauth.accounts.hytale.com"
    assert chosen.account_data == "https://account-data.hytale.com"
    assert chosen.sessions == "https://sessions.hytale.com"
    assert chosen.issuer == "https://sessions.hytale.com"


@pytest.mark.parametrize(
    "env",
    [
        {"HYTALE_USE_STAGING": "true"},
        {"HYTALE_ENVIRONMENT": "staging"},
        {"HYTALE_ENVIRONMENT": "Staging", "HYTALE_USE_STAGING": "false"},
    ],
)
def test_staging_swaps_the_domain(env: dict[str, str]) -> None:
    chosen = endpoints(settings(**env))
    assert chosen.environment == "staging"
    assert chosen.oauth == "https://oauth.accounts.arcanitegames.ca"
    assert chosen.sessions == "https://sessions.arcanitegames.ca"
    assert chosen.issuer == "https://sessions.arcanitegames.ca"


def test_the_environment_variable_wins_over_the_flag() -> None:
    chosen = endpoints(settings(HYTALE_ENVIRONMENT="production", HYTALE_USE_STAGING="true"))
    assert chosen.environment == "production"


def test_hosts_can_be_pointed_elsewhere_without_changing_the_issuer() -> None:
    chosen = endpoints(settings(HYTALE_SESSIONS_URL="http://127.0.0.1:9/", HYTALE_OAUTH_URL="x/"))
    assert chosen.sessions == "http://127.0.0.1:9"
    assert chosen.oauth == "x"
    assert chosen.issuer == "https://sessions.hytale.com"


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="HYTALE_ENVIRONMENT"):
        endpoints(settings(HYTALE_ENVIRONMENT="prod"))


def test_the_panel_is_required() -> None:
    env = {k: v for k, v in REQUIRED.items() if k != "PTERODACTYL_URL"}
    with pytest.raises(SettingsError, match="PTERODACTYL_URL is required"):
        load_settings(HytaleAuthSettings, env)


def test_the_service_will_not_start_without_an_encryption_key() -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEYS"):
        build_app(settings(ENCRYPTION_KEYS=""))


def test_an_empty_token_audience_switches_the_audience_check_off() -> None:
    assert settings(HYTALE_TOKEN_AUDIENCE="").hytale_token_audience == ""
    assert settings().hytale_token_audience == "hytale-server"
