"""One connected agent: its socket, identity, known servers and message budgets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

from litestar import WebSocket

from nodebyte_node_agent_gateway.rate_limit import TokenBucket

# Close codes (4000-4999 are the application's): chosen to echo HTTP statuses.
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NODE_GONE = 4404
CLOSE_HANDSHAKE_TIMEOUT = 4408
CLOSE_REPLACED = 4409
CLOSE_LOCKED = 4429
CLOSE_UNAVAILABLE = 1013  # try again later: this replica cannot take agents right now
CLOSE_SILENT = 4410  # no heartbeat for too long


class AgentSession:
    def __init__(
        self,
        socket: WebSocket,
        *,
        node_id: UUID,
        session_id: UUID,
        acks_commands: bool,
        agent_version: str | None,
        node_rate: float,
        node_burst: int,
        server_rate: float,
        server_burst: int,
    ) -> None:
        self.socket = socket
        self.node_id = node_id
        self.node_key = str(node_id)
        self.session_id = session_id
        self.acks_commands = acks_commands
        self.agent_version = agent_version
        self.servers: set[UUID] = set()
        self.servers_loaded_at = 0.0
        self.reader: asyncio.Task[None] | None = None  # reads and handles the frames
        self.bound = False  # holds the node's routing key on this replica
        self.greeted = False  # has its handshake response: commands may go to it
        self.close_reason = "connection closed"
        self._node_bucket = TokenBucket(node_rate, node_burst)
        self._server_rate = server_rate
        self._server_burst = server_burst
        self._server_buckets: dict[UUID, TokenBucket] = {}
        self._send_lock = asyncio.Lock()
        self._last_throttle_notice = 0.0
        self._closing = False

    def allow(self, server_id: UUID | None = None, now: float | None = None) -> bool:
        """Spend one message of the node's budget, and of the server's when given, as of
        `now` (when the frame arrived; frames are charged in arrival order)."""
        now = time.monotonic() if now is None else now
        if not self._node_bucket.allow(now):
            return False
        if server_id is None:
            return True
        bucket = self._server_buckets.get(server_id)
        if bucket is None:
            bucket = self._server_buckets[server_id] = TokenBucket(
                self._server_rate, self._server_burst
            )
        return bucket.allow(now)

    def should_notify_throttle(self) -> bool:
        """At most one "rate limited" notice a second, however fast the agent sends."""
        now = time.monotonic()
        if now - self._last_throttle_notice >= 1.0:
            self._last_throttle_notice = now
            return True
        return False

    async def send(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.socket.send_data(frame.decode(), mode="text")

    async def send_bytes(self, frame: bytes) -> None:
        """A binary frame (a chunk of a file body)."""
        async with self._send_lock:
            await self.socket.send_data(frame, mode="binary")

    async def close(self, code: int, reason: str) -> None:
        """Close the socket and stop reading it; the endpoint then cleans up."""
        if self._closing:
            return
        self._closing = True
        self.close_reason = reason
        with contextlib.suppress(Exception):
            async with self._send_lock:
                await self.socket.close(code=code, reason=reason)
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
