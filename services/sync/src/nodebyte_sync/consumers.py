"""Event handlers of the sync service (thin: decode, lock, call the domain)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from nodebyte_common import events, inbox, outbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.pterodactyl import PanelClient
from nodebyte_common.runtime import Runtime
from nodebyte_sync import store
from nodebyte_sync.sync_run import SOURCE, SyncRun

MIRROR_LOCK = "nodebyte.sync.mirror"


@contextlib.asynccontextmanager
async def mirror_lock(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """One sync writes the mirror at a time, across every replica.

    A request arriving while another sync runs waits its turn (it stays
    PENDING until then). The session lock dies with the connection, so a
    crashed replica never leaves it held.
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", MIRROR_LOCK)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", MIRROR_LOCK)


def register(runtime: Runtime, panel: PanelClient, per_page: int) -> None:
    consumer = runtime.consumer("requests")
    one_at_a_time = asyncio.Lock()  # only one connection per replica waits for the mirror lock

    @consumer.on_long(events.SyncRequested)
    async def on_sync_requested(event: events.SyncRequested, meta: EventMeta) -> None:
        pool = runtime.pool
        async with pool.acquire() as conn:
            await store.record_pending(
                conn, event.sync_log_id, event.kind, event.requested_by, event.skip_users
            )
        async with one_at_a_time, mirror_lock(pool):
            async with pool.acquire() as conn:
                status = await store.status_of(conn, event.sync_log_id)
                if status in store.TERMINAL or await inbox.seen(conn, consumer.name, meta.id):
                    return  # a redelivery of a sync that already ended, or cancelled while queued
                await store.mark_running(conn, event.sync_log_id)
            run = SyncRun(
                pool, panel, event, consumer=consumer.name, event_id=meta.id, per_page=per_page
            )
            await run.execute()

    @consumer.on(events.SyncCancelRequested)
    async def on_cancel_requested(
        conn: asyncpg.Connection, event: events.SyncCancelRequested, _: EventMeta
    ) -> None:
        status = await store.status_of(conn, event.sync_log_id)
        if status == "RUNNING":
            await conn.execute(
                "UPDATE sync_logs SET cancel_requested = true WHERE id = $1", event.sync_log_id
            )
        elif status == "PENDING":
            # Still queued: it ends here and never starts.
            kind = await conn.fetchval(
                "SELECT type FROM sync_logs WHERE id = $1", event.sync_log_id
            )
            await store.finish(conn, event.sync_log_id, "CANCELLED", error="cancelled before start")
            await outbox.enqueue(
                conn,
                events.SyncCancelled(sync_log_id=event.sync_log_id, kind=kind, duration_seconds=0),
                source=SOURCE,
            )
