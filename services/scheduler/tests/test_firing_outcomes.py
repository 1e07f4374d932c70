"""What one firing records beside "once": each run's status and trigger, batches
that continue until nothing is due, missed due times, and jobs that cannot fire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_scheduler import store

from .test_firing_layers import DUE, firer


async def add_job(conn: asyncpg.Connection, **values: Any) -> UUID:
    job_id = uuid6.uuid7()
    task = {
        "kind": "task",
        "name": f"t-{job_id}",
        "cron": "0 3 * * *",
        "event_type": "server.command_requested",
        "server_id": uuid6.uuid7(),
        "action": "restart",
        "next_run_at": DUE,
        "next_fire_at": DUE,
    }
    await store.insert_job(conn, job_id, {**task, **values})
    return job_id


async def runs_of(conn: asyncpg.Connection, job_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM runs WHERE job_id = $1", job_id)


async def events_for(conn: asyncpg.Connection, runs: list[asyncpg.Record]) -> int:
    ids = [r["event_id"] for r in runs if r["event_id"] is not None]
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[])", ids)


async def lead(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        term = await store.claim_lease(conn, "a", 30, None)
    assert term is not None
    return term


async def test_a_task_run_waits_for_its_outcome_and_another_job_is_done_once_fired(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        task = await add_job(conn)
        system = await add_job(
            conn, kind="system", event_type="job.fired", server_id=None, action=None
        )
    assert await firer(pool, "a").fire_due(await lead(pool)) == 2
    async with pool.acquire() as conn:
        (task_run,) = await runs_of(conn, task)
        (system_run,) = await runs_of(conn, system)
        assert (task_run["status"], task_run["trigger"]) == ("pending", "schedule")
        assert (system_run["status"], system_run["trigger"]) == ("fired", "schedule")
        assert await events_for(conn, [task_run, system_run]) == 2


async def test_due_jobs_fire_batch_after_batch_until_none_is_due(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        jobs = [await add_job(conn) for _ in range(5)]
    small = firer(pool, "a")
    small.batch_size = 2
    term = await lead(pool)
    assert await small.fire_due(term) == 5
    assert await small.fire_due(term) == 0
    async with pool.acquire() as conn:
        for job in jobs:
            assert len(await runs_of(conn, job)) == 1


async def test_a_due_time_missed_beyond_grace_fires_only_if_the_job_catches_up(
    pool: asyncpg.Pool,
) -> None:
    long_ago = DUE - timedelta(days=3)  # 03:00 three days running missed, past grace
    async with pool.acquire() as conn:
        skipping = await add_job(conn, next_run_at=long_ago, next_fire_at=long_ago)
        catching = await add_job(conn, next_run_at=long_ago, next_fire_at=long_ago, catch_up="once")
    assert await firer(pool, "a").fire_due(await lead(pool)) == 2  # one run each
    async with pool.acquire() as conn:
        (skipped,) = await runs_of(conn, skipping)
        (caught,) = await runs_of(conn, catching)
        assert (skipped["status"], skipped["trigger"], skipped["event_id"]) == (
            "skipped",
            "catch_up",
            None,
        )
        assert (caught["status"], caught["trigger"]) == ("pending", "catch_up")
        assert caught["missed_count"] == skipped["missed_count"] == 3
        assert await events_for(conn, [caught]) == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        for job in (skipping, catching):
            after = await store.get_job(conn, job, "task")
            assert after["next_run_at"] == DUE  # today's, still within grace, is next


async def test_a_job_that_cannot_fire_is_disabled_and_the_others_still_fire(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        broken = await add_job(conn, cron="not a schedule")
        fine = await add_job(conn)
    assert await firer(pool, "a").fire_due(await lead(pool)) == 1
    async with pool.acquire() as conn:
        after = await store.get_job(conn, broken, "task")
        assert (after["enabled"], after["next_run_at"], after["last_status"]) == (
            False,
            None,
            "error",
        )
        assert await runs_of(conn, broken) == []
        assert len(await runs_of(conn, fine)) == 1


async def test_an_interval_job_keeps_its_anchor_however_late_it_fired(pool: asyncpg.Pool) -> None:
    """Every hour from its anchor: fired five seconds late, the next due time is still
    anchor + k hours, not an hour after the firing (no drift run after run)."""
    anchor = DUE - timedelta(hours=2)
    async with pool.acquire() as conn:
        job = await add_job(conn, cron=None, interval_seconds=3600, anchor_at=anchor)
    assert await firer(pool, "a").fire_due(await lead(pool)) == 1
    async with pool.acquire() as conn:
        after = await store.get_job(conn, job, "task")
        assert after["next_run_at"] == DUE + timedelta(hours=1)
