"""Event handlers of hytale-auth: the scheduler's ticks, and servers the sync pruned."""

from __future__ import annotations

import asyncpg

from nodebyte_common import events, inbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_hytale_auth.game_sessions import GameSessions
from nodebyte_hytale_auth.panel_servers import ServerDirectory
from nodebyte_hytale_auth.periodic import PeriodicTasks


def register(
    runtime: Runtime, periodic: PeriodicTasks, sessions: GameSessions, directory: ServerDirectory
) -> None:
    consumer = runtime.consumer("events")

    @consumer.on(events.JobFired)
    async def on_job_fired(conn: asyncpg.Connection, event: events.JobFired, _: EventMeta) -> None:
        # Every job's ticks reach this queue; only ours start work.
        if await periodic.record_tick(conn, event.job_name):
            periodic.trigger(event.job_name)

    @consumer.on_long(events.ServerPruned)
    async def on_server_pruned(event: events.ServerPruned, meta: EventMeta) -> None:
        async with runtime.pool.acquire() as conn:
            if await inbox.seen(conn, consumer.name, meta.id):
                return
        await sessions.delete_for_server(event.server_id, reason="server_pruned")
        await directory.forget(event.server_id)
        async with runtime.pool.acquire() as conn:
            await inbox.claim(conn, consumer.name, meta.id)
