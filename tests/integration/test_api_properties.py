"""Property-based tests of every gateway route from its own OpenAPI document.

Schemathesis generates valid and invalid requests for each operation of
`/schema/openapi.json`; none may answer 5xx, and every answer must match the
documented schema. On a stack of its own: with every body declared, the generated
writes are valid often enough to change settings the shared stack's tests rely on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nodebyte_devstack.processes import Stack

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


@pytest.mark.timeout(900)
def test_no_route_answers_5xx_for_generated_requests(own_stack: Stack, tmp_path: Path) -> None:
    stack = own_stack
    gateway = stack.config.url("gateway")
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{gateway}/schema/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"X-API-Key: {stack.config.admin_api_key}",
        "--max-examples",
        "5",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "20",
        "--generation-deterministic",
        # One worker: hypothesis describes strategies with `ast` in each worker thread, and
        # CPython 3.11's parser is not thread-safe there ("AST constructor recursion depth
        # mismatch" on a random operation).
        "--workers",
        "1",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(  # noqa: S603 - our own tool on our own stack
        command, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout[:12000] + result.stderr[-2000:]
