"""The SQL the guarantees rest on: lease terms, one run per due time, outcomes, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import uuid6

from nodebyte_scheduler import store

DUE = datetime(2024, 1, 1, 3, tzinfo=UTC)


async def test_lease_terms(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        first = await store.claim_lease(conn, "a", 30, None)
        assert first is not None
        assert await store.claim_lease(conn, "a", 30, first) == first  # renewed
        assert await store.claim_lease(conn, "b", 30, None) is None  # held by a
        restarted = await store.claim_lease(conn, "a", 30, None)
        assert restarted is None  # a new process of the same name waits for the lease too
        await conn.execute("UPDATE leadership SET expires_at = clock_timestamp()")
        second = await store.claim_lease(conn, "b", 30, None)
        assert second == first + 1
        assert await store.fence(conn, "b", second, 5)
        assert not await store.fence(conn, "a", first, 5)  # the old leader is fenced
        assert await store.claim_lease(conn, "a", 30, first) is None
        await store.release_lease(conn, "b", second)
        assert not await store.fence(conn, "b", second, 5)
        assert await store.claim_lease(conn, "a", 30, None) == second + 1


async def _job(conn: asyncpg.Connection, **values: object) -> asyncpg.Record:
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
            **values,
        },
    )
    return await store.get_job(conn, job_id, "task")


def _run(job_id: object, due: datetime = DUE, status: str = "pending") -> store.NewRun:
    run_id = uuid6.uuid7()
    return store.NewRun(run_id, job_id, due, "schedule", status, due, 0, run_id, {})  # type: ignore[arg-type]


async def test_a_due_time_is_recorded_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await _job(conn)
        first, again = _run(job["id"]), _run(job["id"])
        assert await store.insert_runs(conn, [first], "a") == {first.id}
        assert await store.insert_runs(conn, [again], "b") == set()  # another leader, same due
        asked_at = DUE + timedelta(microseconds=1)  # run-now: due when it was asked for
        manual = store.NewRun(
            uuid6.uuid7(), job["id"], asked_at, "manual", "pending", asked_at, 0, None, {}
        )
        assert await store.insert_runs(conn, [manual], "a") == {manual.id}
        history, total = await store.job_runs(conn, job["id"], 10, 0)
        assert total == 2
        assert [r["id"] for r in history] == [manual.id, first.id]  # newest first


async def test_advance_applies_only_to_the_due_time_read(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await _job(conn)
        run = _run(job["id"])
        moved = DUE + timedelta(days=1)
        await store.advance_jobs(conn, [store.Advance(job["id"], DUE, moved, moved, run)])
        after = await store.get_job(conn, job["id"], "task")
        assert after["next_run_at"] == moved
        assert (after["last_run_id"], after["run_count"]) == (run.id, 1)
        # A stale advance (read before an edit moved the job) changes nothing.
        stale = DUE + timedelta(days=7)
        await store.advance_jobs(conn, [store.Advance(job["id"], DUE, stale, stale, None)])
        assert (await store.get_job(conn, job["id"], "task"))["next_run_at"] == moved


async def test_a_failure_always_wins_over_sent(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await _job(conn)
        run = _run(job["id"])
        await store.insert_runs(conn, [run], "a")
        await store.advance_jobs(conn, [store.Advance(job["id"], DUE, DUE, DUE, run)])
        await conn.execute("UPDATE runs SET recorded_at = now() - interval '1 hour'")
        assert await store.settle_silent_runs(conn, 60) == 1
        assert (await store.get_job(conn, job["id"], "task"))["last_status"] == "sent"
        assert await store.record_failure(conn, run.id, "node offline")  # arrived late
        status, error = await conn.fetchrow("SELECT status, error FROM runs WHERE id = $1", run.id)
        assert (status, error) == ("failed", "node offline")
        job_now = await store.get_job(conn, job["id"], "task")
        assert (job_now["last_status"], job_now["last_error"]) == ("failed", "node offline")
        assert await store.settle_silent_runs(conn, 60) == 0  # never back to sent
        assert not await store.record_failure(conn, uuid6.uuid7(), "not ours")


async def test_pruning_keeps_recent_runs_and_each_jobs_latest(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        job = await _job(conn)
        runs = [_run(job["id"], DUE + timedelta(days=n), "sent") for n in range(4)]
        await store.insert_runs(conn, runs, "a")
        latest = runs[-1]
        await store.advance_jobs(conn, [store.Advance(job["id"], DUE, DUE, DUE, latest)])
        await conn.execute(
            "UPDATE runs SET recorded_at = now() - interval '100 days' WHERE id <> $1", runs[2].id
        )
        await conn.execute(
            "UPDATE runs SET recorded_at = now() - interval '100 days' WHERE id = $1", latest.id
        )
        assert await store.prune_runs(conn, 90) == 2
        kept = {r["id"] for r in await conn.fetch("SELECT id FROM runs")}
        assert kept == {runs[2].id, latest.id}


async def test_an_acknowledged_run_is_never_success_and_a_failure_still_wins(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        job = await _job(conn)
        run = _run(job["id"])
        await store.insert_runs(conn, [run], "a")
        await store.advance_jobs(conn, [store.Advance(job["id"], DUE, DUE, DUE, run)])
        assert await store.record_acknowledged(conn, run.id, "transport")
        await conn.execute("UPDATE runs SET recorded_at = now() - interval '1 hour'")
        assert await store.settle_silent_runs(conn, 60) == 0
        assert (await store.get_job(conn, job["id"], "task"))["last_status"] == "acknowledged"
        assert await store.record_failure(conn, run.id, "container exited")
        assert not await store.record_acknowledged(conn, run.id, "agent")  # failed stays failed
        status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run.id)
        assert status == "failed"
