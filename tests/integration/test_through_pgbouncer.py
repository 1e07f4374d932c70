"""The event bus works through a transaction-pooling PgBouncer, as prod's services work
through the CloudNativePG Pooler: the bus tests run again with NB_TEST_PGBOUNCER=1, each
schema owned by a role of its own that migrates and connects through a real PgBouncer
(nodebyte_devstack.pgbouncer), with asyncpg's statement cache off as in prod.

The same switch runs any integration test through it, the whole stack included:
    NB_TEST_PGBOUNCER=1 .venv/bin/python -m pytest tests/integration/test_sync_mirror.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.environ.get("NB_TEST_PGBOUNCER") == "1", reason="already through it")
@pytest.mark.timeout(600)  # a pytest run of its own: a minute or two on a loaded machine
def test_the_bus_tests_pass_through_pgbouncer_in_transaction_mode() -> None:
    assert shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists(), (
        "pgbouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "libs/common/tests/test_bus.py",
            # Broker reconnects: nothing of the database's, and the slowest of them.
            "-k",
            "not closes_its_connection",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "NB_TEST_PGBOUNCER": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
