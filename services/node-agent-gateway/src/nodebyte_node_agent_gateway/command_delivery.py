"""The replica side of `node.<id>` messages: deliver commands to the socket, obey takeovers.

Commands are handed to a few workers by node, so one node's commands reach its
agent in the order they arrived while other nodes' commands proceed meanwhile.
`frame` messages (a transfer's frames, relayed from the other node's replica)
take the same path, so they too reach the agent in the order they were sent.

Once only: a worker claims the commands it is about to send in the store (see
`command_store.claim`), so a command reaches the agent once however often it is
published, and never after its deadline; the agents act on every frame they get.
A replica dies with what its queue held: when a node's agent (re)connects, the
replica it reaches sends the node's commands still routed (`redeliver`). One
claimed but not acknowledged is never sent again (the agent may have acted on
it): the deadline fails it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from uuid import UUID

import msgspec

from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import command_outcomes, command_store
from nodebyte_node_agent_gateway.agent_session import CLOSE_REPLACED, AgentSession
from nodebyte_node_agent_gateway.command_router import RoutedCommand
from nodebyte_node_agent_gateway.protocol import encode
from nodebyte_node_agent_gateway.session_registry import SessionRegistry

log = logging.getLogger(__name__)

WORKERS = 8


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
        self._queues: list[asyncio.Queue[RoutedCommand | RelayedFrame]] = [
            asyncio.Queue() for _ in range(WORKERS)
        ]
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
        """Everything queued, in order; commands in a row share one claim (one statement)."""
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            commands: list[RoutedCommand] = []
            for item in items:
                if isinstance(item, RoutedCommand):
                    commands.append(item)
                    continue
                await self._guarded(self.deliver(commands))
                commands = []
                await self._guarded(self.relay(item))
            await self._guarded(self.deliver(commands))

    async def _guarded(self, work: Coroutine[None, None, None]) -> None:
        try:
            await work
        except Exception:
            log.exception("delivery to an agent failed")

    async def redeliver(self, node_id: UUID) -> None:
        """The node's agent is now held here: queue its commands still routed (the
        replica that held it may have died with them in its queue)."""
        async with self.runtime.pool.acquire() as conn:
            rows = await command_store.open_for_node(conn, node_id, self.timeout)
        queue = self._queues[hash(node_id) % WORKERS]
        for row in rows:
            queue.put_nowait(
                RoutedCommand(
                    row["request_id"],
                    node_id,
                    row["server_id"],
                    row["action"],
                    row["frame"],
                    row["routed_at"],
                )
            )
        if rows:
            log.info("commands redelivered", extra={"node_id": str(node_id), "count": len(rows)})

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

    async def deliver(self, commands: list[RoutedCommand]) -> None:
        """Into the agents' sockets now, each claimed first (sent once, in time)."""
        now = time.time()
        held = [
            (command, session)
            for command in commands
            if now - command.routed_at <= self.timeout  # late: the sweeper fails it
            # Not held here (the agent just left): it stays routed, for the replica its
            # agent reconnects to, or the deadline. Not greeted yet: it goes out with
            # the node's waiting commands right after the greeting (`redeliver`).
            and (session := self.registry.get(command.node_id)) is not None
            and session.greeted
        ]
        if not held:
            return
        async with self.runtime.pool.acquire() as conn:
            claimed = await command_store.claim(
                conn, [c.request_id for c, _ in held], self.replica_id, self.timeout
            )
        for command, session in held:
            if command.request_id in claimed:
                await self._send(command, session)

    async def _send(self, command: RoutedCommand, session: AgentSession) -> None:
        try:
            await session.send(encode(command.frame))
        except Exception:
            # The socket is closed: the frame never left, so the command is routed
            # again and goes out when the agent is back (or fails at its deadline).
            async with self.runtime.pool.acquire() as conn:
                await command_store.unclaim(conn, command.request_id, self.replica_id)
            return
        if session.acks_commands:
            return
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await command_outcomes.acknowledged(
                conn, command.request_id, command.node_id, "transport", self.replica_id
            )
