"""Live sync progress for Server-Sent Events, fed by the sync service's events.

Each gateway replica binds its own exclusive, auto-deleted queue to the sync
outcome and progress events, so every replica sees every event and can serve
any client; nothing polls the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import aio_pika
import msgspec

from nodebyte_common import events
from nodebyte_common.topology import STREAMS, declare_topology

log = logging.getLogger(__name__)

# The sync's progress and outcomes, as the topology declares this stream.
STREAM = next(s for s in STREAMS if (s.service, s.purpose) == ("gateway", "sync-progress"))
SUBSCRIBER_BUFFER = 256  # a slower reader loses the oldest progress, never the outcome


class ProgressHub:
    def __init__(self, amqp_url: str, prefix: str) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self._subscribers: dict[UUID, set[asyncio.Queue[events.Event]]] = defaultdict(set)
        self._listeners: list[Callable[[events.Event], None]] = []

    def listen(self, listener: Callable[[events.Event], None]) -> None:
        """Call `listener` with every sync event this replica receives."""
        self._listeners.append(listener)

    async def run(self) -> None:
        """Consume until cancelled (a Runtime loop)."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        try:
            channel = await connection.channel()
            exchange = await declare_topology(channel, self.prefix)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            for event_type in STREAM.event_types:
                await queue.bind(exchange, routing_key=event_type)
            await queue.consume(self._on_message, no_ack=True)
            await asyncio.Future()  # run until cancelled
        finally:
            await connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        event_type = str((message.headers or {}).get("cloudEvents:type", ""))
        try:
            event = events.decode(event_type, message.body)
        except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
            log.warning("undecodable progress event", extra={"event_type": event_type})
            return
        for listener in self._listeners:
            listener(event)
        for queue in tuple(self._subscribers.get(event.sync_log_id, ())):  # type: ignore[attr-defined]
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, log_id: UUID) -> AsyncIterator[asyncio.Queue[events.Event]]:
        queue: asyncio.Queue[events.Event] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers[log_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[log_id].discard(queue)
            if not self._subscribers[log_id]:
                del self._subscribers[log_id]
