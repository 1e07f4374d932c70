"""Event handlers of the sync service (thin: decode, lock, call the domain)."""

from __future__ import annotations

import asyncio

import asyncpg

from nodebyte_common import events, inbox, outbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_sync import store
from nodebyte_sync.environment_secrets import EnvironmentSecrets
from nodebyte_sync.mirror_lease import Lease, MirrorLease
from nodebyte_sync.panel_connection import PanelConnection
from nodebyte_sync.sync_run import SOURCE, SyncRun

LOGS_CLEANUP_JOB = "sync.logs_cleanup"


def register(
    runtime: Runtime, panel: PanelConnection, secrets: EnvironmentSecrets, lease: MirrorLease
) -> None:
    """A request arriving while another sync runs waits for the mirror lease (it
    stays PENDING until then); a sync whose lease was taken over is retried later,
    and resumes."""
    consumer = runtime.consumer("requests")
    one_at_a_time = asyncio.Lock()  # only one request per replica waits for the lease

    @consumer.on_long(events.SyncRequested)
    async def on_sync_requested(event: events.SyncRequested, meta: EventMeta) -> None:
        pool = runtime.pool
        async with pool.acquire() as conn:
            await store.record_pending(
                conn, event.sync_log_id, event.kind, event.requested_by, event.skip_users
            )
        async with one_at_a_time, lease.held() as held:
            async with pool.acquire() as conn, conn.transaction():
                await held.check(conn)
                status = await store.status_of(conn, event.sync_log_id)
                if status in store.TERMINAL or await inbox.seen(conn, consumer.name, meta.id):
                    return  # a redelivery of a sync that already ended, or cancelled while queued
                await store.mark_running(conn, event.sync_log_id, resumed=status == "RUNNING")
                settings = await panel.refresh(conn)
            run = (
                SyncRun(
                    pool,
                    panel.client(),
                    event,
                    consumer=consumer.name,
                    event_id=meta.id,
                    settings=settings,
                    secrets=secrets,
                    lease=held,
                    transient_deadline=runtime.settings.transient_deadline_seconds,
                )
                if settings.panel_url
                else None
            )
            if run is None:
                await _fail_unconfigured(pool, held, event, consumer.name, meta)
                return
            await run.execute()

    @consumer.on(events.SyncCancelRequested)
    async def on_cancel_requested(
        conn: asyncpg.Connection, event: events.SyncCancelRequested, _: EventMeta
    ) -> None:
        status = await store.status_of(conn, event.sync_log_id)
        if status == "RUNNING":
            await store.request_cancel(conn, event.sync_log_id)
        elif status == "PENDING":
            # Still queued: it ends here and never starts.
            kind = await store.kind_of(conn, event.sync_log_id)
            await store.finish(conn, event.sync_log_id, "CANCELLED", error="cancelled before start")
            await outbox.enqueue(
                conn,
                events.SyncCancelled(sync_log_id=event.sync_log_id, kind=kind, duration_seconds=0),
                source=SOURCE,
            )

    @consumer.on(events.SyncLogsCleanupRequested)
    async def on_cleanup_requested(
        conn: asyncpg.Connection, event: events.SyncLogsCleanupRequested, _: EventMeta
    ) -> None:
        await store.delete_old_logs(conn, event.retention_days)

    @consumer.on(events.JobFired)
    async def on_job_fired(conn: asyncpg.Connection, event: events.JobFired, _: EventMeta) -> None:
        if event.job_name == LOGS_CLEANUP_JOB:
            await store.delete_old_logs(conn, panel.settings.log_retention_days)


async def _fail_unconfigured(
    pool: asyncpg.Pool, held: Lease, event: events.SyncRequested, consumer: str, meta: EventMeta
) -> None:
    error = "the panel is not configured (URL and application key)"
    async with pool.acquire() as conn, conn.transaction():
        await held.check(conn)
        await store.finish(conn, event.sync_log_id, "FAILED", error=error)
        await inbox.claim(conn, consumer, meta.id)
        await outbox.enqueue(
            conn,
            events.SyncFailed(
                sync_log_id=event.sync_log_id,
                kind=event.kind,
                error=error,
                duration_seconds=0,
            ),
            source=SOURCE,
        )


async def watch_interrupted(
    runtime: Runtime, lease: MirrorLease, interval: float = 30.0, stale: float = 120.0
) -> None:
    """Mark syncs left RUNNING by a dead worker as FAILED, so none stays RUNNING forever.

    Only while this holds the mirror lease, i.e. no sync is really running;
    a redelivered request resumes its sync before this would call it dead.
    """
    while True:
        await asyncio.sleep(interval)
        async with lease.try_held() as held:
            if held is None:
                continue
            async with runtime.pool.acquire() as conn, conn.transaction():
                await held.check(conn)
                for row in await store.orphaned_runs(conn, stale):
                    await store.finish(
                        conn, row["id"], "FAILED", error="interrupted: the sync worker stopped"
                    )
                    await outbox.enqueue(
                        conn,
                        events.SyncFailed(
                            sync_log_id=row["id"],
                            kind=row["type"],
                            error="interrupted",
                            duration_seconds=0,
                        ),
                        source=SOURCE,
                    )
