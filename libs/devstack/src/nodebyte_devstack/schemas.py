"""A service's tables in a schema of a test's own, on the real PostgreSQL."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from nodebyte_common.db import create_pool
from nodebyte_common.migrations import migrate


@contextlib.asynccontextmanager
async def migrated_schema(
    database: str, migrations: Path, prefix: str, *, max_size: int
) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose search_path is a freshly migrated schema, dropped afterwards."""
    schema = f"{prefix}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await migrate(admin, schema, migrations)
    finally:
        await admin.close()
    pool = await create_pool(database, schema, max_size=max_size)
    try:
        yield pool
    finally:
        await pool.close()
        admin = await asyncpg.connect(database)
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
