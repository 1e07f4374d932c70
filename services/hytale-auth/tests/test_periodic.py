"""Periodic tasks: scheduler ticks first, one fallback run per interval across replicas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import nodebyte_hytale_auth
from nodebyte_common.db import create_pool
from nodebyte_common.migrations import migrate
from nodebyte_hytale_auth.periodic import PeriodicTask, PeriodicTasks

MIGRATIONS = Path(nodebyte_hytale_auth.__file__).parent / "migrations"
SCHEMA = "hytale_periodic_probe"


@pytest.fixture
async def pool(database: str, admin_conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Pool]:
    await admin_conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    await migrate(admin_conn, SCHEMA, MIGRATIONS)
    made = await create_pool(database, SCHEMA, max_size=4)
    yield made
    await made.close()
    await admin_conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE; SET search_path TO public")


class Counter:
    def __init__(self, hold: float = 0.0) -> None:
        self.runs = 0
        self.hold = hold

    async def __call__(self) -> int:
        self.runs += 1
        await asyncio.sleep(self.hold)
        return self.runs


async def run_for(replicas: list[PeriodicTasks], seconds: float) -> None:
    loops = [asyncio.create_task(r.run_fallbacks()) for r in replicas]
    await asyncio.sleep(seconds)
    for loop in loops:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    for replica in replicas:
        await replica.stop()


async def test_without_ticks_one_replica_runs_the_task_per_interval(pool: asyncpg.Pool) -> None:
    counter = Counter()
    task = PeriodicTask("hytale.refresh", counter, interval=60, fallback_after=0)
    replicas = [PeriodicTasks(lambda: pool, [task], check_every=0.02) for _ in range(3)]
    await run_for(replicas, 1.0)
    assert counter.runs == 1  # three replicas checked ~50 times each; one run was claimed


async def test_a_recent_tick_keeps_the_fallback_quiet(pool: asyncpg.Pool) -> None:
    counter = Counter()
    task = PeriodicTask("hytale.refresh", counter, interval=0, fallback_after=600)
    replica = PeriodicTasks(lambda: pool, [task], check_every=0.02)
    async with pool.acquire() as conn:
        assert await replica.record_tick(conn, "hytale.refresh")
        assert not await replica.record_tick(conn, "sync.full")  # not ours
    await run_for([replica], 0.5)
    assert counter.runs == 0


async def test_triggers_during_a_run_coalesce_into_one_more_run(pool: asyncpg.Pool) -> None:
    counter = Counter(hold=0.2)
    task = PeriodicTask("hytale.cleanup", counter, interval=60, fallback_after=60)
    replica = PeriodicTasks(lambda: pool, [task])
    for _ in range(5):
        replica.trigger("hytale.cleanup")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.6)
    assert counter.runs == 2
    await replica.stop()
