"""The sync's tables in a schema of each test's own, on the real PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import nodebyte_sync
from nodebyte_common.db import create_pool
from nodebyte_common.migrations import migrate

MIGRATIONS = Path(nodebyte_sync.__file__).parent / "migrations"


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose search_path is a freshly migrated sync schema."""
    schema = f"sync_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await migrate(admin, schema, MIGRATIONS)
    finally:
        await admin.close()
    pool = await create_pool(database, schema, max_size=1)
    try:
        async with pool.acquire() as connection:
            yield connection
    finally:
        await pool.close()
        admin = await asyncpg.connect(database)
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
