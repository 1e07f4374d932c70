"""schemathesis over the whole gateway API, NUL bytes allowed, as an administrator:
no operation answers 5xx, whatever it is sent.

It runs on a stack of its own: an administrator's fuzzed writes (panel settings,
mail settings, jobs, users) would change what the other tests' stack does.
Bounded in time: a few examples per operation, one worker per core.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from nodebyte_devstack.accounts import create_signed_in_user
from nodebyte_devstack.processes import Stack

MAX_EXAMPLES = 8
WORKERS = 2
SECONDS = 240  # the whole run: about 70 s on an idle 2-core machine
# Streams answer forever (Server-Sent Events), WebSockets are not HTTP operations.
NOT_FUZZED = r"/stream|/ws$|/console$|/live$"


@pytest.mark.timeout(SECONDS + 120)  # the stack's start, then the run
def test_no_operation_answers_5xx(own_stack: Stack, tmp_path: Path) -> None:
    gateway = own_stack.config.url("gateway")
    admin = asyncio.run(
        create_signed_in_user(gateway, own_stack.config.admin_api_key, roles=["SUPER_ADMIN"])
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{gateway}/schema/openapi.json",
        "--checks=not_a_server_error",
        "--generation-allow-x00=true",
        f"--max-examples={MAX_EXAMPLES}",
        "--phases=fuzzing",
        f"--workers={WORKERS}",
        "--request-timeout=15",
        "--seed=14",
        f"--exclude-path-regex={NOT_FUZZED}",
        f"--header=Authorization: Bearer {admin.access_token}",
        "--suppress-health-check=all",
        "--no-color",
    ]
    log = tmp_path / "schemathesis.log"
    with log.open("w") as out:
        run = subprocess.run(  # noqa: S603 - our own interpreter's schemathesis, our arguments
            command, stdout=out, stderr=subprocess.STDOUT, timeout=SECONDS, check=False
        )
    output = log.read_text()
    assert run.returncode == 0, output[-20_000:]
    assert "Test cases:" in output, output[-20_000:]  # it ran, and said what it found
