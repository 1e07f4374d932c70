"""`GET /api/admin/sync/stream/{id}`: a sync's progress as Server-Sent Events.

Events: `connected` (the state when the stream opened), `update` (progress),
`done` (completed or cancelled), `error` (failed or unknown), and comment pings
every `PING_SECONDS` so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

import msgspec
from litestar import get
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from nodebyte_common import events
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts.ws_tickets import WsTickets
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import event_stream
from nodebyte_gateway.edge.progress_hub import ProgressHub

PING_SECONDS = 15.0
TERMINAL = {"COMPLETED": "done", "CANCELLED": "done", "FAILED": "error"}
OUTCOME = {events.SyncCompleted: "done", events.SyncCancelled: "done", events.SyncFailed: "error"}


def _message(event: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event, data=msgspec.json.encode(data).decode())


def routes(ctx: GatewayContext) -> list[Any]:
    hub = ctx.hub
    sync = ctx.client("sync")
    # An EventSource cannot send headers: browsers open it with `?ticket=`.
    tickets = WsTickets(lambda: ctx.runtime.pool, ctx.settings.ws_ticket_ttl_seconds)

    @get(
        "/api/admin/sync/stream/{log_id:uuid}",
        guards=[tickets.guard(catalogue.ADMIN_READ, ctx.require(catalogue.ADMIN_READ))],
        tags=["admin"],
        summary="Live progress of a sync (Server-Sent Events)",
        opt={"rate_limit": "default"},
        responses=event_stream("`connected`, then `update` (progress) until `done` or `error`"),
    )
    async def stream_sync(log_id: FromPath[UUID]) -> ServerSentEvent:
        status, body = await sync.call("GET", f"/sync/logs/{log_id}")
        if status == 404:
            async with ctx.runtime.pool.acquire() as conn:
                known = await conn.fetchval("SELECT 1 FROM sync_requests WHERE id = $1", log_id)
            if not known:
                raise ApiError(404, "Sync log not found")
            initial: dict[str, Any] = {"id": str(log_id), "status": "PENDING"}
        else:
            initial = body["data"]
        return ServerSentEvent(_events(hub, log_id, initial))

    return [stream_sync]


async def _events(
    hub: ProgressHub, log_id: UUID, initial: dict[str, Any]
) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with hub.subscribe(log_id) as queue:  # subscribed before the snapshot is sent
        yield _message("connected", initial)
        if initial["status"] in TERMINAL:
            yield _message(TERMINAL[initial["status"]], initial)
            return
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), PING_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            data = msgspec.to_builtins(event)
            outcome = OUTCOME.get(type(event))
            yield _message(outcome or "update", data)
            if outcome:
                return
