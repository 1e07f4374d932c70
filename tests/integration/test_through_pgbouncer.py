"""The event bus and the sync work through a transaction-pooling PgBouncer, as prod's services work
through the CloudNativePG Pooler: the bus and sync tests run again with NB_TEST_PGBOUNCER=1, each
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


# What runs again through PgBouncer: the bus (outbox, relay, inbox, consumers) and the
# sync (its fenced lease, bulk writes and prune) over a whole stack.
SUITES = {
    # Broker reconnects: nothing of the database's, and the slowest of them.
    "bus": ("libs/common/tests/test_bus.py", "not closes_its_connection"),
    "sync": (
        "tests/integration/test_sync_mirror.py",
        "full_sync or unchanged_resync or pruned or never_interleave",
    ),
}


@pytest.mark.skipif(os.environ.get("NB_TEST_PGBOUNCER") == "1", reason="already through it")
@pytest.mark.timeout(600)  # a pytest run of its own: a minute or two on a loaded machine
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_the_tests_pass_through_pgbouncer_in_transaction_mode(suite: str) -> None:
    assert shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists(), (
        "pgbouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)"
    )
    path, selection = SUITES[suite]
    done = subprocess.run(  # noqa: S603 - our own pytest on our own test files
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path, "-k", selection],
        cwd=REPO_ROOT,
        env={**os.environ, "NB_TEST_PGBOUNCER": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
