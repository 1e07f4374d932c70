"""The sync's tables in a schema of each test's own, on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import nodebyte_sync
from nodebyte_devstack.schemas import migrated_schema

MIGRATIONS = Path(nodebyte_sync.__file__).parent / "migrations"


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose search_path is a freshly migrated sync schema."""
    async with (
        migrated_schema(database, MIGRATIONS, "sync", max_size=1) as pool,
        pool.acquire() as connection,
    ):
        yield connection
