"""The `nodebyte` CLI against the running stack: admins and keys straight into
the gateway database, a sync followed to its end, every service's readiness.

Two tests run the installed entry point as a process; the others call the same
`main(argv)` in a worker thread with the same environment, sparing a Python
start-up per case."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import new_email, new_password
from nodebyte_devstack.processes import Stack
from nodebyte_gateway import cli

SERVICE_URLS = (
    "SYNC_URL",
    "HYTALE_AUTH_URL",
    "NOTIFIER_URL",
    "SCHEDULER_URL",
    "NODE_AGENT_GATEWAY_URL",
)


def cli_env(stack: Stack, api_key: str = "") -> dict[str, str]:
    gateway = stack.config.service_env("gateway")
    return {
        "DATABASE_URL": gateway["DATABASE_URL"],
        "NODEBYTE_GATEWAY_URL": stack.config.url("gateway"),
        "NODEBYTE_API_KEY": api_key,
        "BACKEND_API_KEY": "",
        **{name: gateway[name] for name in SERVICE_URLS},
    }


async def nodebyte_process(stack: Stack, *args: str, stdin: str = "") -> tuple[int, Any, str]:
    """Run the `nodebyte` console script; its exit code, JSON stdout, stderr."""
    executable = os.path.join(os.path.dirname(sys.executable), "nodebyte")
    process = await asyncio.create_subprocess_exec(
        executable,
        "--json",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **cli_env(stack)},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 180)
    text = out.decode()
    return process.returncode or 0, json.loads(text) if text.strip() else None, err.decode()


@pytest.fixture
def nodebyte(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    """`await nodebyte(*args, stdin=, api_key=)` → (exit code, JSON stdout, stderr)."""

    async def run(*args: str, stdin: str = "", api_key: str = "") -> tuple[int, Any, str]:
        for name, value in cli_env(stack, api_key).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        out, err = io.StringIO(), io.StringIO()

        def call() -> int:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    cli.main(["--json", *args])
                except SystemExit as exit_:
                    return int(exit_.code or 0)
            return 0

        code = await asyncio.to_thread(call)
        text = out.getvalue()
        return code, json.loads(text) if text.strip() else None, err.getvalue()

    return run


async def test_create_admin_with_the_console_script_then_sign_in(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    email, password = new_email("cli-admin"), new_password()
    code, user, err = await nodebyte_process(
        stack, "users", "create-admin", "--email", email, "--password-stdin", stdin=password + "\n"
    )
    assert code == 0, err
    assert user["roles"] == ["SUPER_ADMIN"]
    assert user["emailVerified"] is True
    login = await anonymous.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200
    token = login.json()["data"]["accessToken"]
    audit = await anonymous.get(
        "/api/admin/audit-logs",
        params={"action": "user.created", "targetId": user["id"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    (entry,) = audit.json()["data"]
    assert entry["actor"]["type"] == "cli"
    assert password not in audit.text


async def test_status_with_the_console_script_shows_every_service_ready(stack: Stack) -> None:
    code, results, err = await nodebyte_process(stack, "status", "--timeout", "20")
    assert code == 0, err
    assert set(results) == {
        "gateway",
        "sync",
        "hytale-auth",
        "notifier",
        "scheduler",
        "node-agent-gateway",
    }
    assert all(r["ready"] for r in results.values()), results


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "not-an-email"], "Secret123", "not a valid email"),
        (["--email", "weak@example.test"], "weak", "at least 8"),
        (["--email", "norole@example.test", "--role", "OVERLORD"], "Secret123", "unknown roles"),
        (["--email", "nopass@example.test"], "", "no terminal"),
    ],
)
async def test_create_user_refusals(nodebyte, args: list[str], stdin: str, message: str) -> None:
    flags = ["--password-stdin"] if stdin else []
    code, out, err = await nodebyte("users", "create", *args, *flags, stdin=stdin)
    assert code == 2
    assert out is None
    assert message in err


async def test_create_user_with_roles_and_refuse_a_duplicate(
    nodebyte, anonymous: httpx.AsyncClient
) -> None:
    email, password = new_email("cli-user"), new_password()
    args = ("users", "create", "--email", email, "--role", "SUPPORT_TEAM", "--password-stdin")
    code, user, err = await nodebyte(*args, stdin=password)
    assert code == 0, err
    assert user["roles"] == ["SUPPORT_TEAM"]
    login = await anonymous.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert "user.read" in login.json()["data"]["user"]["permissions"]
    again = await nodebyte(*args, stdin=password)
    assert again[0] == 2
    assert "exists" in again[2]


async def test_api_key_lifecycle_and_a_followed_sync(
    nodebyte, anonymous: httpx.AsyncClient
) -> None:
    code, key, err = await nodebyte("api-keys", "create", "--name", "cli-sync", "--scope", "sync.*")
    assert code == 0, err
    assert key["key"].startswith("nbk_")
    assert key["scopes"] == ["sync.*"]

    code, status, err = await nodebyte("sync", "locations", api_key=key["key"])
    assert code == 0, err
    assert status["status"] == "COMPLETED"
    assert status["itemsSynced"] > 0
    queued = await nodebyte("sync", "--no-follow", "--skip-users", api_key=key["key"])
    assert queued[0] == 0, queued[2]
    assert queued[1]["status"] == "PENDING"

    code, listed, _ = await nodebyte("api-keys", "list")
    assert key["id"] in {k["id"] for k in listed}
    assert key["key"] not in json.dumps(listed)
    code, revoked, err = await nodebyte("api-keys", "revoke", key["id"])
    assert code == 0, err
    assert revoked["revokedAt"]
    refused = await anonymous.post(
        "/api/v1/sync/locations", json={}, headers={"X-API-Key": key["key"]}
    )
    assert refused.status_code == 401
    again = await nodebyte("api-keys", "revoke", key["id"])
    assert again[0] == 2
    assert "revoked already" in again[2]
    code, _, err = await nodebyte("sync", "locations", api_key=key["key"])
    assert code == 2
    assert "401" in err


async def test_bad_scope_missing_key_bad_id(nodebyte) -> None:
    code, _, err = await nodebyte("api-keys", "create", "--name", "x", "--scope", "Not A Scope")
    assert code == 2
    assert "scopes" in err
    code, _, err = await nodebyte("sync")
    assert code == 2
    assert "NODEBYTE_API_KEY" in err
    code, _, err = await nodebyte("api-keys", "revoke", "not-a-uuid")
    assert code == 2
    assert "not a key id" in err
