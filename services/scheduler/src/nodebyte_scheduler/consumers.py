"""Event handlers of the scheduler: the outcome of the commands its tasks sent, and
the end of a deleted server's tasks.

`request_id` is the run id for the commands our tasks sent; others are not ours
and change nothing. A node acknowledging a command is recorded as such, never
as success; a failure, even one that arrives after, always wins.
"""

from __future__ import annotations

import logging

import asyncpg

from nodebyte_common import events
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_scheduler import store
from nodebyte_scheduler.metrics import TASK_OUTCOMES

log = logging.getLogger(__name__)


def register(runtime: Runtime) -> None:
    consumer = runtime.consumer("outcomes")

    @consumer.on(events.ServerCommandFailed)
    async def on_command_failed(
        conn: asyncpg.Connection, event: events.ServerCommandFailed, _: EventMeta
    ) -> None:
        if await store.record_failure(conn, event.request_id, event.reason):
            TASK_OUTCOMES.labels("failed").inc()
            log.info(
                "task run failed",
                extra={"run_id": str(event.request_id), "action": event.action},
            )

    @consumer.on(events.ServerCommandAcknowledged)
    async def on_command_acknowledged(
        conn: asyncpg.Connection, event: events.ServerCommandAcknowledged, _: EventMeta
    ) -> None:
        if await store.record_acknowledged(conn, event.request_id, event.acknowledged_by):
            TASK_OUTCOMES.labels("acknowledged").inc()

    @consumer.on(events.ServerDeleted)
    async def on_server_deleted(
        conn: asyncpg.Connection, event: events.ServerDeleted, _: EventMeta
    ) -> None:
        removed = await store.delete_tasks_of_server(conn, event.server_id)
        if removed:
            log.info(
                "tasks of a deleted server removed",
                extra={"server_id": str(event.server_id), "tasks": removed},
            )
