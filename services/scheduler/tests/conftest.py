"""The scheduler's tables in a schema of each test's own, on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import nodebyte_scheduler
from nodebyte_devstack.schemas import migrated_schema

MIGRATIONS = Path(nodebyte_scheduler.__file__).parent / "migrations"


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_schema(database, MIGRATIONS, "sched", max_size=4) as pool:
        yield pool
