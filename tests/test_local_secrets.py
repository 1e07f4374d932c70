"""`make up`'s kept secrets: the SFTP host key is drawn once and outlives restarts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import asyncssh

from nodebyte_devstack.local_secrets import SECRETS_FILE, load_or_create
from nodebyte_devstack.local_stack import local_config


def test_the_host_key_is_drawn_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    assert asyncssh.import_private_key(first.sftp_host_key).algorithm == b"ssh-ed25519"
    assert load_or_create(tmp_path) == first
    assert stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode) == 0o600


def test_secrets_kept_before_sftp_gain_a_host_key_and_keep_the_rest(tmp_path: Path) -> None:
    old = {"encryption_keys": "dev:" + "0" * 64, "jwt_private_key": "pem"}
    old |= {"service_token": "token", "api_key": "nbk_dev_key"}
    (tmp_path / SECRETS_FILE).write_text(json.dumps(old))
    completed = load_or_create(tmp_path)
    assert completed.sftp_host_key
    assert (completed.service_token, completed.api_key) == ("token", "nbk_dev_key")
    assert load_or_create(tmp_path) == completed
    assert stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode) == 0o600


def test_make_up_serves_sftp_on_2022_with_the_kept_key(tmp_path: Path) -> None:
    kept = load_or_create(tmp_path)
    env = local_config({"NB_STACK_DIR": str(tmp_path)}).service_env("node-agent-gateway")
    assert (env["SFTP_PORT"], env["SFTP_HOST_KEY"]) == ("2022", kept.sftp_host_key)
    shell = {"NB_STACK_DIR": str(tmp_path), "SFTP_HOST_KEY": "from the shell"}
    assert local_config(shell).service_env("node-agent-gateway")["SFTP_HOST_KEY"] == (
        "from the shell"
    )
