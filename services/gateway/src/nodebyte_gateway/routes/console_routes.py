"""Following servers live: the reference's client WebSocket (`/ws`) and an SSE stream.

Console lines and state changes are not events on the bus (too many, and
worthless later); the node-agent-gateway fans them out to whichever of its
replicas has followers of that server, through its internal `/live` socket.
The gateway authenticates the user (headers, or a single-use `?ticket=` for a
browser) and relays that socket: `subscribe` and `unsubscribe` pass through,
while `console_input` is admitted and queued as a command like `POST …/command`,
but reaches the agent as a `console_input` frame carrying exactly what was typed
(spaces and the newline included) for the server's stdin.
The same feed is also served as Server-Sent Events for clients that only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from litestar import WebSocket, get, websocket
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.accounts.ws_tickets import WsTickets, refuse_credentials_in_url
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import event_stream
from nodebyte_gateway.routes.server_routes import CommandQueue

LIVE_EVENTS = ("server_log", "server_state_update", "resource_stats")
MAX_CLIENT_FRAME = 65_536
MAX_CONSOLE_INPUT = 4096
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNAVAILABLE = 1013


class LiveUnavailable(Exception):
    """The node-agent-gateway's live socket could not be opened."""


class LiveFeed:
    def __init__(self, ctx: GatewayContext) -> None:
        base = ctx.settings.node_agent_gateway_url.rstrip("/")
        self.url = "ws" + base.removeprefix("http") + "/internal/v1/live"
        self.token = ctx.settings.service_token

    async def open(self) -> ClientConnection:
        try:
            return await connect(
                self.url,
                additional_headers={"X-Service-Token": self.token},
                compression=None,
                open_timeout=5,
                max_size=1_048_576,
            )
        except (OSError, InvalidHandshake, TimeoutError):
            raise LiveUnavailable from None


def _frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def _may_type(socket: WebSocket) -> None:
    """The socket's admitted caller (by header or ticket) holds `server.console`.

    Judged on the caller admitted when the socket opened: a ticket opens once, and
    re-reading credentials for every frame would cost a lookup each time."""
    principal = caller(socket)
    if not principal.can(catalogue.SERVER_CONSOLE):
        raise ApiError(403, f"Missing permission: {catalogue.SERVER_CONSOLE}", "FORBIDDEN")


def routes(ctx: GatewayContext) -> list[Any]:
    feed = LiveFeed(ctx)
    commands = CommandQueue(ctx)
    follow = ctx.require(catalogue.SERVER_READ)
    # Browsers open these with `?ticket=` (POST /api/v1/ws-ticket); other clients use headers.
    tickets = WsTickets(lambda: ctx.runtime.pool, ctx.settings.ws_ticket_ttl_seconds)
    follow_live = tickets.guard(catalogue.SERVER_READ, follow)

    async def console_input(socket: WebSocket, frame: dict[str, Any]) -> str:
        """Queue a client's console_input for the agent's stdin, as typed; the reply frame."""
        try:
            server_id = UUID(str(frame.get("serverId")))
        except ValueError:
            return _frame("error", code="VALIDATION_ERROR", message="serverId is not a valid id")
        data = frame.get("data")
        if not isinstance(data, str) or not 0 < len(data) <= MAX_CONSOLE_INPUT:
            return _frame("error", code="VALIDATION_ERROR", message="data must be 1-4096 chars")
        command = {"command": data}  # as typed, for the audit entry
        try:
            _may_type(socket)
            request_id = await commands.submit(server_id, "console_input", {"data": data})
        except ApiError as exc:
            refusal = {"code": exc.code, "error": exc.message}
            await typed(socket, server_id, command, exc.status, refusal)
            return _frame("error", code=exc.code, message=exc.message, serverId=str(server_id))
        await typed(socket, server_id, command, 200, {"answer": {"requestId": str(request_id)}})
        return _frame("console_input_accepted", serverId=str(server_id), requestId=str(request_id))

    async def typed(
        socket: WebSocket,
        server_id: UUID,
        command: dict[str, str],
        status: int,
        detail: dict[str, Any],
    ) -> None:
        """A console line typed on the socket is audited as `POST …/command` is."""
        await audit.record_action(
            ctx.runtime.pool,
            caller(socket),
            "server.command",
            ("server", server_id),
            status,
            {"via": "websocket", "request": command, **detail},
            socket,
        )

    async def client_to_upstream(socket: WebSocket, upstream: ClientConnection) -> None:
        while True:
            event = await socket.receive()
            if event["type"] != "websocket.receive":
                return
            raw = event.get("text") or (event.get("bytes") or b"").decode(errors="replace")
            if len(raw) > MAX_CLIENT_FRAME:
                await socket.send_text(_frame("error", code="TOO_LARGE", message="Frame too large"))
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if isinstance(frame, dict) and frame.get("type") == "console_input":
                await socket.send_text(await console_input(socket, frame))
            else:
                await upstream.send(raw)  # subscribe/unsubscribe: validated upstream

    async def upstream_to_client(upstream: ClientConnection, socket: WebSocket) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in upstream:
                await socket.send_text(raw if isinstance(raw, str) else raw.decode())

    @websocket("/ws")
    async def client_socket(socket: WebSocket) -> None:
        await socket.accept()
        try:
            refuse_credentials_in_url(socket)
            await follow_live(socket, socket.route_handler)
        except ApiError as exc:
            code = CLOSE_UNAUTHORIZED if exc.status == 401 else CLOSE_FORBIDDEN
            await socket.close(code=code, reason=exc.message[:120])
            return
        try:
            upstream = await feed.open()
        except LiveUnavailable:
            await socket.close(code=CLOSE_UNAVAILABLE, reason="live updates unavailable")
            return
        async with upstream:
            pumps = {
                asyncio.create_task(client_to_upstream(socket, upstream)),
                asyncio.create_task(upstream_to_client(upstream, socket)),
            }
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await socket.close()

    @get(
        "/api/servers/{server_id:uuid}/stream",
        guards=[follow_live],
        tags=["servers"],
        summary="Live console, state and stats as Server-Sent Events (?events=a,b)",
        responses=event_stream("One event per console line, state change or stats report"),
    )
    async def stream(
        server_id: FromPath[UUID], events: FromQuery[str | None] = None
    ) -> ServerSentEvent:
        wanted = [e for e in (events or ",".join(LIVE_EVENTS)).split(",") if e]
        if not wanted or any(e not in LIVE_EVENTS for e in wanted):
            raise ApiError(400, f"events must be among {', '.join(LIVE_EVENTS)}")
        try:
            upstream = await feed.open()
        except LiveUnavailable:
            raise ApiError(503, "Live updates are unavailable") from None
        try:
            await upstream.send(_frame("subscribe", serverId=str(server_id), events=wanted))
            reply = json.loads(await asyncio.wait_for(upstream.recv(), 10))
        except (ConnectionClosed, TimeoutError):
            await upstream.close()
            raise ApiError(503, "Live updates are unavailable") from None
        if reply.get("type") != "subscribed":
            await upstream.close()
            status = 404 if reply.get("code") == "NOT_FOUND" else 400
            raise ApiError(status, str(reply.get("message", "Cannot follow this server")))

        async def frames() -> AsyncIterator[ServerSentEventMessage]:
            try:
                async for raw in upstream:
                    kind = json.loads(raw).get("type", "message")
                    yield ServerSentEventMessage(data=raw, event=kind)
            except ConnectionClosed:
                return
            finally:
                await upstream.close()

        return ServerSentEvent(frames())

    return [client_socket, stream]
