"""AUTO_SYNC_ENABLED / AUTO_SYNC_INTERVAL as the auto-sync job's initial values.

The Go backend read them on every start; here the job lives in the database and
is changed through the admin API, so the environment seeds it once (the first
start that has this module) and never overrides an admin's choice afterwards.
"""

from __future__ import annotations

import asyncpg

from nodebyte_common.contracts.scheduler import AutoSyncUpdate
from nodebyte_scheduler import definitions, store
from nodebyte_scheduler.clock import Clock
from nodebyte_scheduler.definitions import AUTO_SYNC_JOB
from nodebyte_scheduler.settings import SchedulerSettings


async def seed_auto_sync(
    conn: asyncpg.Connection, settings: SchedulerSettings, clock: Clock
) -> None:
    async with conn.transaction():
        first = await conn.fetchval(
            """INSERT INTO environment_seeds (name) VALUES ($1)
               ON CONFLICT DO NOTHING RETURNING true""",
            AUTO_SYNC_JOB,
        )
        job = await store.get_job_by_name(conn, AUTO_SYNC_JOB)
        if not first or job is None:
            return
        job = await store.lock_job(conn, job["id"], "system")
        wanted = AutoSyncUpdate(
            auto_sync_enabled=settings.auto_sync_enabled,
            auto_sync_interval=settings.auto_sync_interval,
        )
        changes = definitions.changed(job, definitions.auto_sync_changes(wanted), clock.now())
        if changes:
            await store.update_job(conn, job["id"], changes)
