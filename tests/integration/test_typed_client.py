"""A frontend's typed client proves the OpenAPI document, where the frontend stands.

TypeScript types are generated from the running gateway's `/schema/openapi.json`
with openapi-typescript; the client in clients/typescript (openapi-fetch over those
types) must pass `tsc --strict`, which it can only if every body and answer it uses
is described; then it runs against this stack and must do what it set out to do.
The npm packages are pinned in clients/typescript/package-lock.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.discord_hooks import hook_url
from nodebyte_devstack.processes import Stack

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
pytestmark = pytest.mark.timeout(600)


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    program = shutil.which("npm")
    if program is None:
        pytest.fail("npm (Node.js) is needed: it is on every machine of this kind")
    done = subprocess.run(  # noqa: S603 - npm with our own arguments, in our own folder
        [program, *args],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    said = f"npm {' '.join(args)}:\n{done.stdout[-6000:]}{done.stderr[-6000:]}"
    assert done.returncode == 0, said
    return done.stdout


@pytest.fixture(scope="module")
def built_client(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The client, its types generated from this gateway's document, compiled strictly."""
    if not (CLIENT / "node_modules").is_dir():
        npm("ci", "--no-audit", "--no-fund")
    document = tmp_path_factory.mktemp("openapi") / "openapi.json"
    answer = httpx.get(stack.config.url("gateway") + "/schema/openapi.json", timeout=60)
    answer.raise_for_status()
    document.write_bytes(answer.content)
    npm("run", "-s", "types", env={"OPENAPI_DOCUMENT": str(document)})
    npm("run", "-s", "build")
    return CLIENT / "dist" / "journey.js"


async def test_the_typed_client_compiles_strictly_and_does_its_journey(
    built_client: Path, stack: Stack, user_factory: Callable[..., Awaitable[SignedInUser]]
) -> None:
    user = await user_factory(["MEMBER"])
    _, webhook_url = hook_url(stack)
    output = await asyncio.to_thread(
        npm,
        "run",
        "-s",
        "journey",
        env={
            "GATEWAY_URL": stack.config.url("gateway"),
            "BACKEND_API_KEY": stack.config.admin_api_key,
            "WEBHOOK_URL": webhook_url,
            "NEW_ACCOUNT_EMAIL": "typed-" + user.email,
            "ACCOUNT_EMAIL": user.email,
            "ACCOUNT_PASSWORD": user.password,
        },
    )
    report = json.loads(output.strip().splitlines()[-1])
    assert report["syncStatus"] == "COMPLETED"
    assert report["logs"][:1] == ["COMPLETED"]
    assert report["webhooksListed"] >= 1
    assert report["hytaleUserCode"]
    assert report["verificationRequired"] is True
    assert report["account"] == user.email
