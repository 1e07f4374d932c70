"""Internal WebSocket for following servers live (the gateway proxies users to it).

Client frames, as the reference's "Client → Backend Messages":
`{"type": "subscribe", "serverId": …, "events": ["server_log", …]}` and
`{"type": "unsubscribe", "serverId": …}`. Replies `subscribed` / `unsubscribed`
come before any frame of that subscription; then `server_log`,
`server_state_update` and `resource_stats` frames follow as they happen.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket
from litestar.handlers import WebsocketRouteHandler

from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import server_store
from nodebyte_node_agent_gateway.live_hub import LIVE_EVENTS, LiveHub, Subscriber
from nodebyte_node_agent_gateway.protocol import encode

LIVE_PATH = "/live"
MAX_SUBSCRIPTIONS = 50
LiveEvent = Literal["server_log", "server_state_update", "resource_stats"]


class Subscribe(msgspec.Struct, tag_field="type", tag="subscribe", rename="camel", frozen=True):
    server_id: UUID
    events: Annotated[list[LiveEvent], msgspec.Meta(min_length=1)] | None = None


class Unsubscribe(msgspec.Struct, tag_field="type", tag="unsubscribe", rename="camel", frozen=True):
    server_id: UUID


_decoder = msgspec.json.Decoder(Subscribe | Unsubscribe)


def _error(code: str, message: str, server_id: UUID | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if server_id is not None:
        frame["serverId"] = str(server_id)
    return encode(frame)


def route(runtime: Runtime, hub: LiveHub) -> WebsocketRouteHandler:
    async def on_frame(sub: Subscriber, raw: str | bytes) -> None:
        try:
            request = _decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            sub.offer(_error("INVALID_MESSAGE", str(exc)))
            return
        if isinstance(request, Unsubscribe):
            await hub.unsubscribe(sub, request.server_id)
            sub.offer(encode({"type": "unsubscribed", "serverId": str(request.server_id)}))
            return
        if request.server_id not in sub.wants and len(sub.wants) >= MAX_SUBSCRIPTIONS:
            sub.offer(_error("TOO_MANY", "Too many subscriptions", request.server_id))
            return
        async with runtime.pool.acquire() as conn:
            if await server_store.get(conn, request.server_id) is None:
                sub.offer(_error("NOT_FOUND", "Server not found", request.server_id))
                return
        wanted = frozenset(request.events or LIVE_EVENTS)
        await hub.subscribe(sub, request.server_id, wanted)
        sub.offer(
            encode(
                {
                    "type": "subscribed",
                    "serverId": str(request.server_id),
                    "events": sorted(wanted),
                }
            )
        )

    @websocket(LIVE_PATH)
    async def live(socket: WebSocket) -> None:
        await socket.accept()
        sub = Subscriber(socket)
        await hub.join(sub)
        try:
            while True:
                event = await socket.receive()
                if event["type"] != "websocket.receive":
                    return
                await on_frame(sub, event.get("text") or event.get("bytes") or b"")
        finally:
            with contextlib.suppress(Exception):
                await hub.leave(sub)

    return live
