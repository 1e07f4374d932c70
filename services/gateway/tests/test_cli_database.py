"""`nodebyte db …` run as the operator runs it (the console script, a subprocess)
against a scratch database of its own."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from nodebyte_common.bootstrap import with_database
from nodebyte_devstack.cleanup import drop_database

NODEBYTE = os.path.join(os.path.dirname(sys.executable), "nodebyte")


@pytest.fixture
def scratch(admin_dsn: str) -> Iterator[str]:
    """The URL of a database that does not exist yet; dropped afterwards."""
    name = f"nb_dbcli_{secrets.token_hex(4)}"
    yield with_database(admin_dsn, name)
    asyncio.run(drop_database(admin_dsn, name))


@pytest.fixture
async def conn(scratch: str) -> AsyncIterator[Any]:
    """Opened on demand (the database exists only after `db init`)."""
    opened: list[asyncpg.Connection] = []

    async def connect() -> asyncpg.Connection:
        opened.append(await asyncpg.connect(scratch))
        return opened[-1]

    yield connect
    for c in opened:
        await c.close()


def nodebyte(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(  # noqa: S603 (our own console script)
        [NODEBYTE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300
    )


def status(url: str) -> tuple[int, dict[str, dict[str, Any]]]:
    done = nodebyte("--json", "db", "status", "--database", url)
    return done.returncode, {row["schema"]: row for row in json.loads(done.stdout)}


async def test_init_status_migrate_and_reset_every_schema(scratch: str, conn: Any) -> None:
    listed = nodebyte("--json", "db", "list")
    assert listed.returncode == 0, listed.stderr
    migrations = json.loads(listed.stdout)
    schemas = {"gateway", "sync", "hytale_auth", "notifier", "scheduler", "agents"}
    assert {m["schema"] for m in migrations} == schemas

    missing = nodebyte("db", "status", "--database", scratch)
    assert missing.returncode == 2
    assert "does not exist" in missing.stdout + missing.stderr

    init = nodebyte("db", "init", "--database", scratch)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "[1/6] gateway" in init.stdout
    assert "applied service:0006_panel_accounts.sql" in init.stdout
    code, rows = status(scratch)
    assert code == 0
    assert all(row["pending"] == [] and row["changed"] == [] for row in rows.values())
    assert sum(row["applied"] for row in rows.values()) == len(migrations)
    db = await conn()
    # Each table belongs to its service's role, as when the service migrates itself.
    owner = await db.fetchval(
        "SELECT tableowner FROM pg_tables WHERE schemaname = 'sync' AND tablename = 'panel_users'"
    )
    assert owner == "nb_sync"

    # One schema behind: status says so (exit 1); migrating that schema alone catches up.
    await db.execute("DROP SCHEMA agents CASCADE; CREATE SCHEMA agents AUTHORIZATION nb_agents")
    code, rows = status(scratch)
    assert code == 1
    assert rows["agents"]["applied"] == 0
    assert rows["agents"]["pending"]
    assert rows["sync"]["pending"] == []
    one = nodebyte("--json", "db", "migrate", "--schema", "agents", "--database", scratch)
    assert one.returncode == 0, one.stderr
    assert list(json.loads(one.stdout)) == ["agents"]
    assert "[1/1] agents" in one.stderr  # progress goes to stderr under --json
    assert status(scratch)[0] == 0

    # An applied migration edited afterwards is reported and refused.
    version = "service:0002_panel_mirror.sql"
    await db.execute("UPDATE sync.schema_migrations SET checksum = 'x' WHERE version = $1", version)
    code, rows = status(scratch)
    assert (code, rows["sync"]["changed"]) == (1, [version])
    refused = nodebyte("db", "migrate", "--database", scratch)
    assert refused.returncode == 2
    assert "changed after it was applied" in refused.stdout

    # Reset asks for the database's name; a wrong answer drops nothing.
    await db.execute("CREATE TABLE sync.operator_marker ()")
    await db.close()
    wrong = nodebyte("db", "reset", "--database", scratch, stdin="nodebyte\n")
    assert wrong.returncode == 2
    db = await conn()
    assert await db.fetchval("SELECT to_regclass('sync.operator_marker')") is not None
    await db.close()
    name = scratch.rsplit("/", 1)[-1]
    reset = nodebyte("db", "reset", "--database", scratch, stdin=f"{name}\n")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "dropped schema sync" in reset.stdout
    db = await conn()
    assert await db.fetchval("SELECT to_regclass('sync.operator_marker')") is None
    assert status(scratch)[0] == 0


def test_unknown_schema_and_missing_url_are_refused() -> None:
    unknown = nodebyte("db", "migrate", "--schema", "nope", "--database", "postgresql://x/y")
    assert unknown.returncode == 2
    assert "no schema 'nope'" in unknown.stdout
    no_url = nodebyte("db", "status")
    assert no_url.returncode == 2
    assert "DATABASE_URL" in no_url.stdout
