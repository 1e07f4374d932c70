"""`nodebyte` as a newcomer runs it: from the local stack's settings (`.stack/cli.json`),
checking them before any prompt, and with URLs whole in an 80-column pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodebyte_devstack.local_stack import write_cli_settings
from nodebyte_devstack.processes import Stack

NODEBYTE = os.path.join(os.path.dirname(sys.executable), "nodebyte")
OURS = ("DATABASE_URL", "NODEBYTE_", "BACKEND_API_KEY", "NB_STACK_DIR", "COLUMNS", "_URL")


def nodebyte(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""):
    """The installed command in `cwd`, with none of our variables but `env`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not any(k.startswith(o) or k.endswith(o) for o in OURS)
    }
    return subprocess.run(  # noqa: S603 - the installed console script
        [NODEBYTE, *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def checkout(stack: Stack, tmp_path: Path) -> Path:
    """A directory whose .stack/cli.json describes the test stack, as `make up` writes it."""
    (tmp_path / ".stack").mkdir()
    write_cli_settings(stack.config, tmp_path / ".stack")
    (tmp_path / "services").mkdir()
    return tmp_path


def test_the_cli_finds_the_local_stack_from_any_folder_of_the_checkout(checkout: Path) -> None:
    created = nodebyte(
        "--json",
        "api-keys",
        "create",
        "--name",
        "local",
        "--scope",
        "sync.read",
        cwd=checkout / "services",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["key"].startswith("nbk_")


def test_status_keeps_every_url_whole_in_an_80_column_pipe(stack: Stack, checkout: Path) -> None:
    shown = nodebyte("status", cwd=checkout)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for service in (
        "gateway",
        "sync",
        "hytale-auth",
        "notifier",
        "scheduler",
        "node-agent-gateway",
    ):
        row = next(line for line in lines if line.split()[:1] == [service])
        assert stack.config.url(service) in row


def test_without_settings_the_cli_says_so_before_asking_for_a_password(tmp_path: Path) -> None:
    asked = nodebyte("users", "create-admin", "--email", "a@example.com", cwd=tmp_path)
    assert asked.returncode == 2
    assert "DATABASE_URL is not set" in asked.stdout
    assert "make up" in asked.stdout
    assert "Password" not in asked.stdout + asked.stderr


def test_an_unreachable_database_is_reported_before_the_password(tmp_path: Path) -> None:
    asked = nodebyte(
        "users",
        "create-admin",
        "--email",
        "a@example.com",
        "--password-stdin",
        cwd=tmp_path,
        env={"DATABASE_URL": "postgresql://nb_gateway@127.0.0.1:1/nowhere"},
        stdin="Long-enough-pass-1\n",
    )
    assert asked.returncode == 2
    assert "cannot reach the gateway database" in asked.stdout
