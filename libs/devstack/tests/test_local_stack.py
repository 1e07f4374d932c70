"""`make up`'s configuration: secrets kept across runs, the shell winning, real upstreams."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from nodebyte_devstack.local_stack import local_config, write_cli_settings


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"NB_STACK_DIR": str(tmp_path / ".stack"), **extra}


def test_secrets_are_drawn_once_kept_private_and_reused(tmp_path: Path) -> None:
    first = local_config(env(tmp_path))
    secrets_file = tmp_path / ".stack" / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / ".stack").stat().st_mode) == 0o700
    again = local_config(env(tmp_path))
    for name in ("encryption_keys", "jwt_private_key", "service_token", "api_key"):
        assert getattr(again, name) == getattr(first, name)
    assert first.encryption_keys.startswith("dev:")


def test_an_explicit_environment_value_wins_over_the_kept_one(tmp_path: Path) -> None:
    kept = local_config(env(tmp_path))
    mine = "mine:" + "ab" * 32
    config = local_config(env(tmp_path, ENCRYPTION_KEYS=mine, BACKEND_API_KEY="nbk_mine"))
    assert config.encryption_keys == mine
    assert config.service_env("sync")["ENCRYPTION_KEYS"] == mine
    assert config.service_env("gateway")["BACKEND_API_KEY"] == "nbk_mine"
    assert config.jwt_private_key == kept.jwt_private_key  # the others stay kept
    # ... and the kept file is not rewritten with the shell's value
    assert local_config(env(tmp_path)).encryption_keys == kept.encryption_keys


def test_database_prefix_and_ports_move_for_a_second_stack(tmp_path: Path) -> None:
    config = local_config(
        env(tmp_path, NB_DATABASE="other", NB_AMQP_PREFIX="other", NB_PORT_OFFSET="1000")
    )
    assert (config.database, config.prefix) == ("other", "other")
    assert config.url("gateway") == "http://127.0.0.1:9080"
    assert config.service_env("notifier")["DISCORD_WEBHOOK_URL"].startswith(
        "http://127.0.0.1:9091/"
    )


def test_emulators_are_wired_unless_the_shell_names_a_real_upstream(tmp_path: Path) -> None:
    emulated = local_config(env(tmp_path)).service_env("sync")
    assert emulated["PTERODACTYL_URL"] == "http://127.0.0.1:8090"

    real = local_config(env(tmp_path, PTERODACTYL_URL="https://panel.example.com"))
    for service in ("sync", "hytale-auth"):
        wired = real.service_env(service)
        # Left to the shell: the service process inherits the shell's values.
        assert "PTERODACTYL_URL" not in wired
        assert "PTERODACTYL_API_KEY" not in wired
    assert "HYTALE_OAUTH_URL" in real.service_env("hytale-auth")  # Hytale still emulated
    assert "DISCORD_WEBHOOK_URL" in real.service_env("notifier")

    mail = local_config(env(tmp_path, SMTP_HOST="smtp.example.com")).service_env("notifier")
    assert not {"EMAIL_PROVIDER", "SMTP_HOST", "RESEND_API_URL", "SMTP_CA_FILE"} & set(mail)


def test_the_cli_settings_name_the_gateway_database_and_urls(tmp_path: Path) -> None:
    config = local_config(env(tmp_path, NB_PORT_OFFSET="5"))
    path = write_cli_settings(config, tmp_path / ".stack")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = json.loads(path.read_text())
    assert settings["DATABASE_URL"].startswith("postgresql://nb_gateway@")
    assert settings["NODEBYTE_GATEWAY_URL"] == "http://127.0.0.1:8085"
    assert settings["NODE_AGENT_GATEWAY_URL"] == "http://127.0.0.1:8090"
