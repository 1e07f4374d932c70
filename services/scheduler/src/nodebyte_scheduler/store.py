"""SQL for the scheduler schema: jobs, runs and the leader's lease."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

JOBS_CHANGED = "scheduler_jobs"  # NOTIFY channel: wakes the leader when a schedule changes


# --- the lease ---------------------------------------------------------------


async def claim_lease(
    conn: asyncpg.Connection, replica: str, ttl_seconds: float, held_term: int | None
) -> int | None:
    """Renew the lease we hold (`held_term`), or take an expired or free one.

    Returns the term we now hold, or None. Taking the lease always starts a new
    term, even for a restarted process of the same name, so every incarnation
    of a leader is fenced from the ones before it.
    """
    renewing = "holder = $1 AND term = $3 AND expires_at > clock_timestamp()"
    return await conn.fetchval(
        f"""UPDATE leadership SET
               term = CASE WHEN {renewing} THEN term ELSE term + 1 END,
               acquired_at = CASE WHEN {renewing} THEN acquired_at ELSE clock_timestamp() END,
               holder = $1,
               heartbeat_at = clock_timestamp(),
               expires_at = clock_timestamp() + make_interval(secs => $2)
           WHERE id = 1 AND (({renewing}) OR holder IS NULL OR expires_at <= clock_timestamp())
           RETURNING term""",
        replica,
        ttl_seconds,
        held_term,
    )


async def release_lease(conn: asyncpg.Connection, replica: str, term: int) -> None:
    await conn.execute(
        """UPDATE leadership SET expires_at = clock_timestamp()
           WHERE id = 1 AND holder = $1 AND term = $2""",
        replica,
        term,
    )


async def fence(
    conn: asyncpg.Connection, replica: str, term: int, idle_limit_seconds: float
) -> bool:
    """Start a firing transaction: True while we hold the lease of `term`.

    The transaction is also limited in idleness: a leader paused inside it would
    keep its run rows locked and block the next leader's inserts, so the server
    ends it after `idle_limit_seconds` instead.
    """
    return bool(
        await conn.fetchval(
            """SELECT set_config('idle_in_transaction_session_timeout', $3, true) IS NOT NULL
                  AND EXISTS (SELECT 1 FROM leadership WHERE id = 1 AND holder = $1
                              AND term = $2 AND expires_at > clock_timestamp())""",
            replica,
            term,
            f"{max(1, int(idle_limit_seconds * 1000))}ms",
        )
    )


async def leadership(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT *, expires_at > clock_timestamp() AS alive, clock_timestamp() AS db_now "
        "FROM leadership WHERE id = 1"
    )


# --- jobs ----------------------------------------------------------------------


async def notify_jobs_changed(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", JOBS_CHANGED)


async def due_jobs(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM jobs WHERE enabled AND next_fire_at <= $1
           ORDER BY next_fire_at LIMIT $2""",
        now,
        limit,
    )


async def unscheduled_jobs(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM jobs WHERE enabled AND next_run_at IS NULL")


async def next_fire_time(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(next_fire_at) FROM jobs WHERE enabled")


async def set_first_due(
    conn: asyncpg.Connection, job_id: UUID, anchor: datetime, due: datetime, fire: datetime
) -> None:
    await conn.execute(
        """UPDATE jobs SET anchor_at = coalesce(anchor_at, $2), next_run_at = $3,
                  next_fire_at = $4
           WHERE id = $1 AND enabled AND next_run_at IS NULL""",
        job_id,
        anchor,
        due,
        fire,
    )


async def disable_broken(conn: asyncpg.Connection, job_id: UUID, error: str) -> None:
    """A stored job that can no longer be scheduled stops, saying why."""
    await conn.execute(
        """UPDATE jobs SET enabled = false, next_run_at = NULL, next_fire_at = NULL,
                  last_status = 'error', last_error = $2, updated_at = now()
           WHERE id = $1""",
        job_id,
        error[:500],
    )


async def get_job(conn: asyncpg.Connection, job_id: UUID, kind: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE id = $1 AND kind = $2", job_id, kind)


async def get_job_by_name(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE kind = 'system' AND name = $1", name)


async def list_jobs(
    conn: asyncpg.Connection, kind: str, server_id: UUID | None = None
) -> list[asyncpg.Record]:
    if server_id is not None:
        return await conn.fetch(
            "SELECT * FROM jobs WHERE kind = $1 AND server_id = $2 ORDER BY created_at, id",
            kind,
            server_id,
        )
    return await conn.fetch("SELECT * FROM jobs WHERE kind = $1 ORDER BY created_at, id", kind)


async def overdue_jobs(conn: asyncpg.Connection, before: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM jobs WHERE enabled AND next_fire_at < $1 ORDER BY next_fire_at", before
    )


JOB_COLUMNS = (
    "kind",
    "name",
    "description",
    "cron",
    "timezone",
    "interval_seconds",
    "anchor_at",
    "event_type",
    "payload",
    "server_id",
    "action",
    "enabled",
    "catch_up",
    "jitter_seconds",
    "next_run_at",
    "next_fire_at",
)


async def insert_job(conn: asyncpg.Connection, job_id: UUID, values: dict[str, Any]) -> None:
    columns = [c for c in JOB_COLUMNS if c in values]
    placeholders = ", ".join(f"${n}" for n in range(2, len(columns) + 2))
    await conn.execute(
        f"INSERT INTO jobs (id, {', '.join(columns)}) VALUES ($1, {placeholders})",
        job_id,
        *(values[c] for c in columns),
    )
    await notify_jobs_changed(conn)


async def update_job(conn: asyncpg.Connection, job_id: UUID, values: dict[str, Any]) -> None:
    columns = [c for c in JOB_COLUMNS if c in values]
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(columns, start=2))
    await conn.execute(
        f"UPDATE jobs SET {sets}, updated_at = now() WHERE id = $1",
        job_id,
        *(values[c] for c in columns),
    )
    await notify_jobs_changed(conn)


async def lock_job(conn: asyncpg.Connection, job_id: UUID, kind: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE id = $1 AND kind = $2 FOR UPDATE", job_id, kind
    )


async def delete_job(conn: asyncpg.Connection, job_id: UUID, kind: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM jobs WHERE id = $1 AND kind = $2 RETURNING true", job_id, kind
    )
    return bool(deleted)


async def delete_tasks_of_server(conn: asyncpg.Connection, server_id: UUID) -> int:
    """Remove every task of a server (with their runs); how many there were."""
    deleted = await conn.fetch(
        "DELETE FROM jobs WHERE kind = 'task' AND server_id = $1 RETURNING id", server_id
    )
    if deleted:
        await notify_jobs_changed(conn)
    return len(deleted)


# --- runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class NewRun:
    id: UUID
    job_id: UUID
    due_at: datetime
    trigger: str
    status: str
    fired_at: datetime
    missed_count: int
    event_id: UUID | None
    details: dict[str, Any]


async def run_with_key(conn: asyncpg.Connection, job_id: UUID, key: str) -> asyncpg.Record | None:
    """The run a hand-run request with this Idempotency-Key already made, if any."""
    return await conn.fetchrow(
        "SELECT id, status, details FROM runs WHERE job_id = $1 AND idempotency_key = $2",
        job_id,
        key,
    )


async def keep_run_key(conn: asyncpg.Connection, run_id: UUID, key: str) -> None:
    await conn.execute("UPDATE runs SET idempotency_key = $2 WHERE id = $1", run_id, key)


async def insert_runs(conn: asyncpg.Connection, runs: Sequence[NewRun], replica: str) -> set[UUID]:
    """Insert runs; one already recorded for its (job, due time) is left alone.

    Returns the ids actually inserted: only those may publish.
    """
    if not runs:
        return set()
    rows = await conn.fetch(
        """INSERT INTO runs (id, job_id, due_at, trigger, status, fired_at, missed_count,
                             event_id, details, replica)
           SELECT r.id, r.job_id, r.due_at, r.trigger, r.status, r.fired_at, r.missed_count,
                  r.event_id, r.details::jsonb, $10
           FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::int[], $8::uuid[], $9::text[])
                AS r(id, job_id, due_at, trigger, status, fired_at, missed_count, event_id,
                     details)
           ON CONFLICT (job_id, due_at) DO NOTHING
           RETURNING id""",
        [r.id for r in runs],
        [r.job_id for r in runs],
        [r.due_at for r in runs],
        [r.trigger for r in runs],
        [r.status for r in runs],
        [r.fired_at for r in runs],
        [r.missed_count for r in runs],
        [r.event_id for r in runs],
        [msgspec.json.encode(r.details).decode() for r in runs],
        replica,
    )
    return {row["id"] for row in rows}


@dataclass(frozen=True)
class Advance:
    job_id: UUID
    previous_due: datetime | None  # the due time read; the update applies only if unchanged
    next_run_at: datetime | None
    next_fire_at: datetime | None
    run: NewRun | None  # the run recorded now, if any


async def advance_jobs(conn: asyncpg.Connection, advances: Sequence[Advance]) -> None:
    """Move each job to its next due time and note its latest run."""
    if not advances:
        return
    await conn.execute(
        """UPDATE jobs j SET
               next_run_at = u.next_run_at,
               next_fire_at = u.next_fire_at,
               last_run_id = coalesce(u.run_id, j.last_run_id),
               last_status = coalesce(u.status, j.last_status),
               last_error = CASE WHEN u.run_id IS NULL THEN j.last_error END,
               last_run_at = CASE WHEN u.status IN ('fired', 'pending')
                                  THEN u.fired_at ELSE j.last_run_at END,
               run_count = j.run_count
                   + CASE WHEN u.status IN ('fired', 'pending') THEN 1 ELSE 0 END
           FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[],
                       $5::uuid[], $6::text[], $7::timestamptz[])
                AS u(id, previous_due, next_run_at, next_fire_at, run_id, status, fired_at)
           WHERE j.id = u.id AND j.next_run_at IS NOT DISTINCT FROM u.previous_due""",
        [a.job_id for a in advances],
        [a.previous_due for a in advances],
        [a.next_run_at for a in advances],
        [a.next_fire_at for a in advances],
        [a.run.id if a.run else None for a in advances],
        [a.run.status if a.run else None for a in advances],
        [a.run.fired_at if a.run else None for a in advances],
    )


async def note_manual_run(conn: asyncpg.Connection, run: NewRun) -> None:
    await conn.execute(
        """UPDATE jobs SET last_run_id = $2, last_status = $3, last_error = NULL,
                  last_run_at = $4, run_count = run_count + 1
           WHERE id = $1""",
        run.job_id,
        run.id,
        run.status,
        run.fired_at,
    )


async def record_failure(conn: asyncpg.Connection, run_id: UUID, reason: str) -> bool:
    """A failed command fails its run, whatever was recorded before; True if it was ours."""
    row = await conn.fetchrow(
        """WITH failed AS (
               UPDATE runs SET status = 'failed', error = $2, completed_at = clock_timestamp()
               WHERE id = $1 AND status IN ('pending', 'acknowledged', 'sent', 'failed')
               RETURNING id, job_id)
           UPDATE jobs SET last_status = 'failed', last_error = $2
           FROM failed WHERE jobs.id = failed.job_id AND jobs.last_run_id = failed.id
           RETURNING failed.id""",
        run_id,
        reason[:1000],
    )
    if row is not None:
        return True
    return bool(await conn.fetchval("SELECT true FROM runs WHERE id = $1", run_id))


async def record_acknowledged(conn: asyncpg.Connection, run_id: UUID, by: str) -> bool:
    """The node took the command of a pending (or timed-out) run; True if it was ours."""
    row = await conn.fetchrow(
        """WITH taken AS (
               UPDATE runs SET status = 'acknowledged', completed_at = clock_timestamp(),
                      details = details || jsonb_build_object('acknowledgedBy', $2::text)
               WHERE id = $1 AND status IN ('pending', 'sent')
               RETURNING id, job_id),
           noted AS (
               UPDATE jobs SET last_status = 'acknowledged'
               FROM taken WHERE jobs.id = taken.job_id AND jobs.last_run_id = taken.id)
           SELECT id FROM taken""",
        run_id,
        by,
    )
    return row is not None


async def settle_silent_runs(conn: asyncpg.Connection, timeout_seconds: float) -> int:
    """Task runs with no failure reported in time: `sent` (never `succeeded`)."""
    settled = await conn.fetch(
        """WITH settled AS (
               UPDATE runs SET status = 'sent', completed_at = clock_timestamp()
               WHERE status = 'pending'
                 AND recorded_at < clock_timestamp() - make_interval(secs => $1)
               RETURNING id, job_id),
           noted AS (
               UPDATE jobs SET last_status = 'sent'
               FROM settled WHERE jobs.id = settled.job_id AND jobs.last_run_id = settled.id)
           SELECT id FROM settled""",
        timeout_seconds,
    )
    return len(settled)


async def job_runs(
    conn: asyncpg.Connection, job_id: UUID, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        """SELECT * FROM runs WHERE job_id = $1 ORDER BY due_at DESC, recorded_at DESC
           LIMIT $2 OFFSET $3""",
        job_id,
        limit,
        offset,
    )
    total = await conn.fetchval("SELECT count(*) FROM runs WHERE job_id = $1", job_id)
    return rows, total


async def prune_runs(conn: asyncpg.Connection, retention_days: int, limit: int = 10_000) -> int:
    """Delete up to `limit` runs older than the retention; each job keeps its latest run."""
    deleted = await conn.fetch(
        """DELETE FROM runs WHERE id IN (
               SELECT r.id FROM runs r
               WHERE r.recorded_at < now() - make_interval(days => $1)
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.last_run_id = r.id)
               LIMIT $2)
           RETURNING id""",
        retention_days,
        limit,
    )
    return len(deleted)
