"""Event handlers of the notifier: turn events into queued deliveries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from nodebyte_common import events
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_notifier import deliveries, embeds

SYSTEM_WEBHOOK = "system"

SYNC_EMBEDS: dict[type[events.Event], Callable[[Any], dict[str, Any]]] = {
    events.SyncCompleted: embeds.sync_completed,
    events.SyncFailed: embeds.sync_failed,
    events.SyncCancelled: embeds.sync_cancelled,
}


def register(runtime: Runtime, system_webhook_configured: bool) -> None:
    consumer = runtime.consumer("notifications")

    for event_cls, build in SYNC_EMBEDS.items():

        async def on_sync_outcome(
            conn: asyncpg.Connection, event: Any, meta: EventMeta, build: Callable = build
        ) -> None:
            if system_webhook_configured:
                await deliveries.enqueue(conn, meta.id, SYSTEM_WEBHOOK, build(event))

        consumer.on(event_cls)(on_sync_outcome)
