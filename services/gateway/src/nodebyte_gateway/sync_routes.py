"""The public HTTP API of the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
import uuid6
from litestar import Request, get, post

from nodebyte_common import events, outbox
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_gateway.context import GatewayContext

SOURCE = "nodebyte/gateway"
SYNC_KINDS = ("full", "locations")


class SyncRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    skip_users: bool = False
    requested_by: Annotated[str, msgspec.Meta(max_length=255)] | None = None


def routes(ctx: GatewayContext) -> list[Any]:
    runtime, sync, api_key = ctx.runtime, ctx.client("sync"), ctx.require("sync.write")

    @post(
        [f"/api/v1/sync/{kind}" for kind in SYNC_KINDS],
        guards=[api_key],
        status_code=202,
        summary="Queue a sync of the panel mirror",
        tags=["sync"],
    )
    async def request_sync(request: Request) -> Any:
        kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = decode_body(await request.body(), SyncRequestBody)
        log_id = uuid6.uuid7()
        async with runtime.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO sync_requests (id, kind, requested_by, skip_users)
                   VALUES ($1, $2, $3, $4)""",
                log_id,
                kind,
                body.requested_by,
                body.skip_users,
            )
            event_id = await outbox.enqueue(
                conn,
                events.SyncRequested(
                    sync_log_id=log_id,
                    kind=kind,
                    skip_users=body.skip_users,  # type: ignore[arg-type]
                    requested_by=body.requested_by,
                    requested_at=datetime.now(UTC),
                ),
                source=SOURCE,
            )
        label = "Full sync" if kind == "full" else f"{kind.capitalize()} sync"
        return ok(
            {"sync_log_id": str(log_id), "task_id": str(event_id), "status": "PENDING"},
            message=f"{label} has been queued",
            status=202,
        )

    @get(
        "/api/v1/sync/status/{log_id:uuid}",
        guards=[api_key],
        tags=["sync"],
        summary="Status of a sync",
    )
    async def sync_status(log_id: UUID) -> Any:
        status, body = await sync.call("GET", f"/sync/logs/{log_id}")
        if status == 200:
            return ok(body["data"])
        async with runtime.pool.acquire() as conn:
            requested = await conn.fetchrow("SELECT * FROM sync_requests WHERE id = $1", log_id)
        if requested is None:
            raise ApiError(404, "Sync log not found")
        return ok(_pending_view(requested))

    return [request_sync, sync_status]


def _pending_view(row: Any) -> dict[str, Any]:
    """What a sync looks like before the sync service has picked it up."""
    return {
        "id": str(row["id"]),
        "type": row["kind"],
        "status": "PENDING",
        "itemsTotal": 0,
        "itemsSynced": 0,
        "itemsFailed": 0,
        "error": None,
        "metadata": {},
        "requestedBy": row["requested_by"],
        "createdAt": row["created_at"].isoformat().replace("+00:00", "Z"),
        "startedAt": None,
        "completedAt": None,
    }
