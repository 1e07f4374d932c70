"""Each layer of "fire once" on its own: the fence, the run insert, the advance.

The replica tests prove them together; here each is the only thing standing
between a due job and a second firing, so breaking any one of them fails a test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import uuid6

from nodebyte_scheduler import store
from nodebyte_scheduler.clock import Clock
from nodebyte_scheduler.firing import Firer, LostLease

NOW = datetime(2024, 1, 1, 3, 0, 5, tzinfo=UTC)
DUE = datetime(2024, 1, 1, 3, tzinfo=UTC)  # due five seconds ago


def firer(pool: asyncpg.Pool, replica: str) -> Firer:
    # A clock stopped five seconds after the due time (speed 0: it never moves).
    clock = Clock(speed=0.0, start=NOW, origin=0.0)
    return Firer(pool, clock, replica, grace=timedelta(minutes=10))


async def due_job(conn: asyncpg.Connection) -> asyncpg.Record:
    job_id = uuid6.uuid7()
    await store.insert_job(
        conn,
        job_id,
        {
            "kind": "task",
            "name": "t",
            "cron": "0 3 * * *",
            "event_type": "server.command_requested",
            "server_id": uuid6.uuid7(),
            "action": "restart",
            "next_run_at": DUE,
            "next_fire_at": DUE,
        },
    )
    return await store.get_job(conn, job_id, "task")


async def recorded_by_another_leader(conn: asyncpg.Connection, job_id: object) -> store.NewRun:
    run_id = uuid6.uuid7()
    run = store.NewRun(run_id, job_id, DUE, "schedule", "pending", DUE, 0, run_id, {})  # type: ignore[arg-type]
    assert await store.insert_runs(conn, [run], "the-previous-leader") == {run.id}
    return run


async def events_published(conn: asyncpg.Connection) -> int:
    """What the firing handed to its relay (the events it publishes)."""
    return await conn.fetchval("SELECT count(*) FROM outbox")


async def test_a_replica_that_does_not_hold_the_lease_fires_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await due_job(conn)
        term = await store.claim_lease(conn, "a", 30, None)
    assert term is not None
    with pytest.raises(LostLease):
        await firer(pool, "b").fire_due(term)  # a's term, but b is not a
    async with pool.acquire() as conn:
        _, total = await store.job_runs(conn, job["id"], 10, 0)
        assert total == 0
        assert await events_published(conn) == 0


async def test_a_due_time_another_leader_recorded_publishes_nothing_more(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        job = await due_job(conn)
        await recorded_by_another_leader(conn, job["id"])
        term = await store.claim_lease(conn, "a", 30, None)
    assert await firer(pool, "a").fire_due(term) == 0
    async with pool.acquire() as conn:
        assert await events_published(conn) == 0


async def test_a_due_time_another_leader_recorded_moves_the_job_on_without_a_run(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        job = await due_job(conn)
        await recorded_by_another_leader(conn, job["id"])
        term = await store.claim_lease(conn, "a", 30, None)
    await firer(pool, "a").fire_due(term)
    async with pool.acquire() as conn:
        after = await store.get_job(conn, job["id"], "task")
        assert after["next_run_at"] == DUE + timedelta(days=1)
        # Its run is the other leader's to note: none of this leader's is counted.
        assert after["run_count"] == 0
        assert after["last_run_id"] is None
        _, total = await store.job_runs(conn, job["id"], 10, 0)
        assert total == 1


async def test_the_leader_fires_a_due_job_once_with_its_event(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await due_job(conn)
        term = await store.claim_lease(conn, "a", 30, None)
    leader = firer(pool, "a")
    assert await leader.fire_due(term) == 1
    assert await leader.fire_due(term) == 0  # moved on to tomorrow
    async with pool.acquire() as conn:
        history, total = await store.job_runs(conn, job["id"], 10, 0)
        assert total == 1
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        assert await conn.fetchval("SELECT id FROM outbox") == history[0]["event_id"]
        after = await store.get_job(conn, job["id"], "task")
        assert (after["last_run_id"], after["run_count"]) == (history[0]["id"], 1)
