"""Users following servers live on this replica: who wants what, and handing frames over.

A subscriber's frames wait in a bounded queue drained by its own writer, so a
slow reader never delays the agents or other readers; one that falls too far
behind is disconnected rather than silently missing lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from uuid import UUID

from litestar import WebSocket

from nodebyte_node_agent_gateway.metrics import LIVE_SUBSCRIBERS
from nodebyte_node_agent_gateway.node_link import NodeLink

LIVE_EVENTS = frozenset({"server_log", "server_state_update", "resource_stats"})
QUEUE_LIMIT = 2_000
CLOSE_TOO_SLOW = 4503


class Subscriber:
    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.wants: dict[UUID, frozenset[str]] = {}
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def offer(self, frame: bytes) -> None:
        if self._closer is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._closer = asyncio.create_task(self._close_too_slow())

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
            try:
                await self.socket.send_data(frame.decode(), mode="text")
            except Exception:
                return

    async def _close_too_slow(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.socket.close(code=CLOSE_TOO_SLOW, reason="subscriber too slow")

    async def stop(self) -> None:
        for task in (self._writer, self._closer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class LiveHub:
    def __init__(self, link: NodeLink) -> None:
        self.link = link
        self._followers: dict[UUID, set[Subscriber]] = defaultdict(set)
        link.on_live_message = self.dispatch

    async def subscribe(self, sub: Subscriber, server_id: UUID, wanted: frozenset[str]) -> None:
        first = server_id not in sub.wants
        sub.wants[server_id] = wanted
        if first:
            self._followers[server_id].add(sub)
            await self.link.follow_server(server_id)

    async def unsubscribe(self, sub: Subscriber, server_id: UUID) -> None:
        if sub.wants.pop(server_id, None) is None:
            return
        followers = self._followers.get(server_id)
        if followers is not None:
            followers.discard(sub)
            if not followers:
                del self._followers[server_id]
        await self.link.unfollow_server(server_id)

    async def join(self, sub: Subscriber) -> None:
        sub.start()
        LIVE_SUBSCRIBERS.inc()

    async def leave(self, sub: Subscriber) -> None:
        for server_id in list(sub.wants):
            with contextlib.suppress(Exception):
                await self.unsubscribe(sub, server_id)
        await sub.stop()
        LIVE_SUBSCRIBERS.dec()

    def dispatch(self, server_id: UUID, kind: str, frame: bytes) -> None:
        """NodeLink callback (synchronous, so frames keep their order)."""
        for sub in self._followers.get(server_id, ()):
            if kind in sub.wants.get(server_id, ()):
                sub.offer(frame)
