"""The agents' WebSocket: handshake first, then frames until either side leaves.

The agent has `agent_handshake_timeout_seconds` to send `node_handshake` with
its node id and token, as the first frame and never in the URL (URLs end up in
access logs and proxies). Then frames are read ahead of their handling (see
read_ahead) and each, in arrival order, is decoded and validated, charged to
the node's and the server's rate budgets as of its arrival (a transfer's
frames excepted: its window paces them), and applied; a
refused frame gets an `error` frame back and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec
import uuid6
from litestar import WebSocket, websocket
from litestar.handlers import WebsocketRouteHandler

from nodebyte_node_agent_gateway.agent_auth import authenticate
from nodebyte_node_agent_gateway.agent_connections import AgentConnections
from nodebyte_node_agent_gateway.agent_messages import AgentMessages, Refused
from nodebyte_node_agent_gateway.agent_session import (
    CLOSE_BAD_MESSAGE,
    CLOSE_HANDSHAKE_TIMEOUT,
    CLOSE_UNAVAILABLE,
    AgentSession,
)
from nodebyte_node_agent_gateway.file_streams import FileStreams
from nodebyte_node_agent_gateway.metrics import HANDSHAKES, count_message
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.protocol import (
    FEATURE_COMMAND_ACK,
    TRANSFER_FRAMES,
    FileAck,
    FileReady,
    FileResult,
    NodeHandshake,
    ProtocolError,
    decode_agent_message,
    decode_handshake,
    encode,
    parse_uuid,
)
from nodebyte_node_agent_gateway.read_ahead import read_ahead
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

AGENT_PATH = "/ws"


def error_frame(code: str, message: str, **extra: Any) -> bytes:
    return encode({"type": "error", "code": code, "message": message, **extra})


async def _receive_text(socket: WebSocket) -> str | bytes | None:
    """The next frame's payload, None once the peer has gone."""
    event = await socket.receive()
    if event["type"] != "websocket.receive":
        return None
    return event.get("text") or event.get("bytes") or b""


async def _refuse(
    socket: WebSocket, close_code: int, code: str, message: str, **extra: Any
) -> None:
    with contextlib.suppress(Exception):
        await socket.send_data(error_frame(code, message, **extra).decode(), mode="text")
        await socket.close(code=close_code, reason=message[:120])


class AgentEndpoint:
    def __init__(
        self,
        pool_of: Any,
        connections: AgentConnections,
        messages: AgentMessages,
        link: NodeLink,
        settings: NodeAgentGatewaySettings,
        files: FileStreams,
    ) -> None:
        self.pool_of = pool_of
        self.connections = connections
        self.messages = messages
        self.link = link
        self.settings = settings
        self.files = files

    def route(self) -> WebsocketRouteHandler:
        @websocket(AGENT_PATH, include_in_schema=False)
        async def agent_socket(socket: WebSocket) -> None:
            await socket.accept()
            await self.serve(socket)

        return agent_socket

    async def serve(self, socket: WebSocket) -> None:
        if "token" in socket.query_params:
            HANDSHAKES.labels("token_in_url").inc()
            await _refuse(
                socket,
                CLOSE_BAD_MESSAGE,
                "TOKEN_IN_URL",
                "Send the token in node_handshake, never in the URL",
            )
            return
        handshake = await self._read_handshake(socket)
        if handshake is None:
            return
        session = await self._open_session(socket, handshake)
        if session is None:
            return
        frames = session.reader = asyncio.create_task(self._serve_frames(session))
        try:
            await asyncio.wait([frames])
        finally:
            await self.connections.detach(session)
        if not frames.cancelled() and (exc := frames.exception()) is not None:
            log.info(
                "agent connection ended", extra={"node_id": session.node_key, "error": repr(exc)}
            )

    async def _read_handshake(self, socket: WebSocket) -> NodeHandshake | None:
        try:
            raw = await asyncio.wait_for(
                _receive_text(socket), self.settings.agent_handshake_timeout_seconds
            )
        except TimeoutError:
            HANDSHAKES.labels("timeout").inc()
            await _refuse(
                socket, CLOSE_HANDSHAKE_TIMEOUT, "HANDSHAKE_TIMEOUT", "No node_handshake in time"
            )
            return None
        if raw is None:
            return None
        try:
            return decode_handshake(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            HANDSHAKES.labels("invalid").inc()
            await _refuse(
                socket,
                CLOSE_BAD_MESSAGE,
                "HANDSHAKE_REQUIRED",
                f"The first frame must be a valid node_handshake: {exc}",
            )
            return None

    async def _open_session(
        self, socket: WebSocket, handshake: NodeHandshake
    ) -> AgentSession | None:
        try:
            node_id = parse_uuid(handshake.node_id, "nodeId")
        except ProtocolError as exc:
            HANDSHAKES.labels("invalid").inc()
            await _refuse(socket, CLOSE_BAD_MESSAGE, "INVALID_MESSAGE", str(exc))
            return None
        rejection = await authenticate(self.pool_of(), node_id, handshake.token, self.settings)
        if rejection is not None:
            HANDSHAKES.labels(rejection.code.lower()).inc()
            extra = {"retryAfterSeconds": rejection.retry_after} if rejection.retry_after else {}
            await _refuse(socket, rejection.close_code, rejection.code, rejection.message, **extra)
            return None
        if not await self.link.wait_ready(5.0):
            HANDSHAKES.labels("unavailable").inc()
            await _refuse(socket, CLOSE_UNAVAILABLE, "UNAVAILABLE", "Try another replica")
            return None
        s = self.settings
        session = AgentSession(
            socket,
            node_id=node_id,
            session_id=uuid6.uuid7(),
            acks_commands=FEATURE_COMMAND_ACK in handshake.features,
            agent_version=handshake.agent_version,
            node_rate=s.node_message_rate,
            node_burst=s.node_message_burst,
            server_rate=s.server_message_rate,
            server_burst=s.server_message_burst,
        )
        try:
            await self.connections.attach(session)
            await session.send(
                encode(
                    {
                        "type": "node_handshake_response",
                        "nodeId": str(node_id),
                        "sessionId": str(session.session_id),
                        "heartbeatIntervalSeconds": s.agent_heartbeat_interval_seconds,
                    }
                )
            )
            await self.connections.greeted(session)
        except Exception:
            log.warning("could not bring an agent session online", exc_info=True)
            await self.connections.detach(session)
            await _refuse(socket, CLOSE_UNAVAILABLE, "UNAVAILABLE", "Try again later")
            return None
        HANDSHAKES.labels("accepted").inc()
        return session

    async def _serve_frames(self, session: AgentSession) -> None:
        async def arrival() -> tuple[str | bytes, float] | None:
            raw = await _receive_text(session.socket)
            if raw is None:
                return None
            self.messages.arrived(session)
            return raw, time.monotonic()

        async def handle(frame: tuple[str | bytes, float]) -> None:
            await self._one_frame(session, *frame)

        await read_ahead(arrival, handle, self.settings.agent_read_ahead_frames)

    async def _one_frame(self, session: AgentSession, raw: str | bytes, arrived: float) -> None:
        # A file transfer's frames are paced by its window, not charged to the budgets.
        if isinstance(raw, bytes) and await self.files.from_agent(raw):
            return
        kind = "unknown"
        try:
            message = decode_agent_message(raw)
            kind = type(message).__name__
            if isinstance(message, FileReady | FileAck | FileResult) and (
                await self.files.from_agent(message)
            ):
                return
            # A transfer's frames are paced by its window, not the message budgets.
            budgeted = not isinstance(message, TRANSFER_FRAMES)
            if budgeted and not session.allow(self.messages.server_of(message), now=arrived):
                count_message(kind, "rate_limited")
                if session.should_notify_throttle():
                    await session.send(error_frame("RATE_LIMITED", "Too many messages; dropped"))
                return
            await self.messages.handle(session, message)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            count_message(kind, "invalid")
            await session.send(error_frame("INVALID_MESSAGE", str(exc)))
            return
        except (Refused, ProtocolError) as exc:
            code = exc.code if isinstance(exc, Refused) else "INVALID_MESSAGE"
            count_message(kind, "refused")
            await session.send(error_frame(code, str(exc)))
            return
        except Exception:
            # The store is down or similar: the frame is lost, the connection is not.
            log.warning("agent frame not applied", exc_info=True, extra={"type": kind})
            count_message(kind, "failed")
            await session.send(error_frame("UNAVAILABLE", "The frame could not be applied"))
            return
        count_message(kind, "accepted")
