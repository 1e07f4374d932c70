"""The replica side of `node.<id>` messages: deliver commands to the socket, obey takeovers.

Commands are handed to a few workers by node, so one node's commands reach its
agent in the order they arrived while other nodes' commands proceed meanwhile.
`frame` messages (a transfer's frames, relayed from the other node's replica)
take the same path, so they too reach the agent in the order they were sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import command_outcomes, command_store, node_store
from nodebyte_node_agent_gateway.agent_session import CLOSE_REPLACED, AgentSession
from nodebyte_node_agent_gateway.command_router import RoutedCommand
from nodebyte_node_agent_gateway.protocol import encode
from nodebyte_node_agent_gateway.session_registry import SessionRegistry

log = logging.getLogger(__name__)

WORKERS = 8
REMEMBERED_REQUESTS = 10_000  # a redelivered command is not sent twice


class Takeover(msgspec.Struct, frozen=True, rename="camel"):
    """Another connection of the node won: sessions other than `session_id` close."""

    session_id: UUID


class RelayedFrame(msgspec.Struct, frozen=True):
    """A frame for the node's agent as it is (a transfer's chunk or acknowledgement)."""

    node_id: UUID
    frame: bytes


class CloseNode(msgspec.Struct, frozen=True, rename="camel"):
    code: int
    reason: str


class CommandDelivery:
    def __init__(
        self, runtime: Runtime, registry: SessionRegistry, replica_id: str, timeout: float
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.replica_id = replica_id
        self.timeout = timeout
        self._delivered: list[tuple[UUID, datetime]] = []
        self._queues: list[asyncio.Queue[RoutedCommand | RelayedFrame]] = [
            asyncio.Queue() for _ in range(WORKERS)
        ]
        self._recent: OrderedDict[UUID, None] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    async def on_node_message(self, node_id: UUID, kind: str, body: bytes) -> None:
        """NodeLink callback: hand off without awaiting, so arrival order is kept."""
        try:
            if kind == "command":
                command = msgspec.json.decode(body, type=RoutedCommand)
                self._queues[hash(command.node_id) % WORKERS].put_nowait(command)
            elif kind == "frame":
                self._queues[hash(node_id) % WORKERS].put_nowait(RelayedFrame(node_id, body))
            elif kind == "takeover":
                self._takeover(node_id, msgspec.json.decode(body, type=Takeover))
            elif kind == "close":
                close = msgspec.json.decode(body, type=CloseNode)
                self._close(node_id, close.code, close.reason)
        except msgspec.DecodeError:
            log.warning("undecodable node message", extra={"kind": kind})

    async def run(self) -> None:
        """The delivery workers (a runtime loop)."""
        await asyncio.gather(*(self._work(queue) for queue in self._queues))

    async def _work(self, queue: asyncio.Queue[RoutedCommand | RelayedFrame]) -> None:
        while True:
            item = await queue.get()
            try:
                if isinstance(item, RelayedFrame):
                    await self.relay(item)
                else:
                    await self.deliver(item)
            except Exception:
                log.exception("delivery to an agent failed", extra={"node_id": str(item.node_id)})

    async def relay(self, item: RelayedFrame) -> None:
        """Into the agent's socket; when it is gone the transfer fails on its own (the
        node's disconnection or the transfer's stall timeout rolls it back)."""
        session = self.registry.get(item.node_id)
        if session is not None:
            await session.send(item.frame)

    def _takeover(self, node_id: UUID, takeover: Takeover) -> None:
        session = self.registry.get(node_id)
        if session is not None and session.session_id != takeover.session_id:
            self._close_soon(session, CLOSE_REPLACED, "replaced by a newer connection")

    def _close(self, node_id: UUID, code: int, reason: str) -> None:
        session = self.registry.get(node_id)
        if session is not None:
            self._close_soon(session, code, reason)

    def _close_soon(self, session: AgentSession, code: int, reason: str) -> None:
        task = asyncio.create_task(session.close(code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _first_time(self, request_id: UUID) -> bool:
        if request_id in self._recent:
            return False
        self._recent[request_id] = None
        if len(self._recent) > REMEMBERED_REQUESTS:
            self._recent.popitem(last=False)
        return True

    async def deliver(self, command: RoutedCommand) -> None:
        """Into the agent's socket now; the store learns of it in the next batch."""
        if not self._first_time(command.request_id):
            return
        if time.time() - command.routed_at > self.timeout:
            return  # the sweeper fails it: never deliver late
        session = self.registry.get(command.node_id)
        if session is None:
            await self._not_held(command)
            return
        try:
            await session.send(encode(command.frame))
        except Exception:
            await self._fail(command.request_id, "node offline")
            return
        if session.acks_commands:
            self._delivered.append((command.request_id, datetime.now(UTC)))
            return
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await command_outcomes.acknowledged(
                conn, command.request_id, command.node_id, "transport", self.replica_id
            )

    async def _not_held(self, command: RoutedCommand) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            holder = await node_store.holder(conn, command.node_id)
            if holder is not None and holder != self.replica_id:
                return  # our binding was stale; the holder got the command too
            await command_outcomes.failed(conn, command.request_id, "node offline")

    async def _fail(self, request_id: UUID, reason: str) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await command_outcomes.failed(conn, request_id, reason)

    async def record_forever(self, period: float) -> None:
        """Write which commands went out (a runtime loop): one statement per batch.

        Off the delivery path on purpose: the agent has the command before the
        store is told, and its acknowledgement does not wait for this.
        """
        while True:
            await asyncio.sleep(period)
            if not self._delivered:
                continue
            batch, self._delivered = self._delivered, []
            try:
                async with self.runtime.pool.acquire() as conn, conn.transaction():
                    await conn.execute("SET LOCAL synchronous_commit = off")
                    await command_store.mark_delivered(conn, batch, self.replica_id)
            except Exception:
                log.warning("could not record deliveries", exc_info=True)
