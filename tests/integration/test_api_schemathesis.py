"""schemathesis over every operation of the gateway's OpenAPI document, as an administrator.

All its checks (no 5xx, statuses, content types, headers and bodies as documented,
invalid data refused, valid data accepted, `Allow` on OPTIONS and 405, credentials
required, deleted resources gone, created ones readable), with valid and invalid data
(`--mode all`), in all its phases: the document's examples, coverage of each
constraint's edges, random fuzzing, and stateful sequences that follow the document's
links from each create route to the routes that take what it made. The exceptions,
one check on one operation each with its reason, are in schemathesis.toml beside
this file. A second, short run fuzzes with NUL bytes allowed in every string.

On a stack of its own: an administrator's generated writes (panel settings, mail
settings, jobs, users) would change what the other tests' stack does. Bounded: a few
examples per operation, a fixed seed, one worker.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nodebyte_devstack.accounts import create_signed_in_user
from nodebyte_devstack.processes import Stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 14
MAX_EXAMPLES = 5
# One worker: hypothesis describes strategies with `ast` in each worker thread, and
# CPython 3.11's parser is not thread-safe there ("AST constructor recursion depth
# mismatch" on a random operation, seen with two).
WORKERS = 1
# Each run's bound. Measured with the two cores shared with other stacks (load 9-17): the
# first run 264 s (~8,900 cases), the second under a minute; the margin is for a loaded CI.
SECONDS = 600
# Not HTTP operations a test can finish: Server-Sent Event streams answer for as long as
# the client listens (`/api/servers/{id}/stream`, `/api/admin/sync/stream/{log_id}`).
# WebSockets (console, live stats) are not in the document at all.
NOT_HTTP_OPERATIONS = r"/stream(/|$)"


@pytest.fixture(scope="module")
def admin_bearer(own_stack: Stack) -> str:
    """A SUPER_ADMIN's access token: every permission, as a signed-in person has them."""
    gateway = own_stack.config.url("gateway")
    admin = asyncio.run(
        create_signed_in_user(gateway, own_stack.config.admin_api_key, roles=["SUPER_ADMIN"])
    )
    return admin.access_token


def schemathesis(stack: Stack, bearer: str, log: Path, *options: str) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        f"--config-file={CONFIG}",
        "run",
        f"{stack.config.url('gateway')}/schema/openapi.json",
        f"--header=Authorization: Bearer {bearer}",
        f"--exclude-path-regex={NOT_HTTP_OPERATIONS}",
        f"--seed={SEED}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--workers={WORKERS}",
        "--request-timeout=20",
        "--suppress-health-check=all",
        "--no-color",
        *options,
    ]
    with log.open("w") as out:
        run = subprocess.run(  # noqa: S603 - our own interpreter's schemathesis, our arguments
            command, stdout=out, stderr=subprocess.STDOUT, timeout=SECONDS, check=False
        )
    return run.returncode, log.read_text()


@pytest.mark.timeout(SECONDS + 240)  # the stack's start, then the run
def test_every_operation_passes_every_check(
    own_stack: Stack, admin_bearer: str, tmp_path: Path
) -> None:
    code, output = schemathesis(
        own_stack,
        admin_bearer,
        tmp_path / "all-checks.log",
        # Every check: schemathesis runs them all when none is named (naming them with
        # --checks=all would override the per-operation exceptions of schemathesis.toml).
        "--mode=all",
        "--phases=examples,coverage,fuzzing,stateful",
    )
    assert code == 0, output[-30_000:]
    assert "Test cases:" in output, output[-30_000:]  # it ran, and said what it found
    covered = re.search(r"API Links:\s+(\d+) covered", output)
    assert covered, output[-30_000:]
    assert int(covered.group(1)) > 0, output[-30_000:]  # the links were followed


@pytest.mark.timeout(SECONDS + 60)
def test_nul_bytes_anywhere_are_refused_not_a_crash(
    own_stack: Stack, admin_bearer: str, tmp_path: Path
) -> None:
    code, output = schemathesis(
        own_stack,
        admin_bearer,
        tmp_path / "nul-bytes.log",
        "--checks=not_a_server_error,response_schema_conformance,content_type_conformance",
        "--generation-allow-x00=true",
        "--phases=fuzzing",
    )
    assert code == 0, output[-30_000:]
    assert "Test cases:" in output, output[-30_000:]
