"""Sync, stats and panel-mirror routes: commands become events, queries go to sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import uuid6
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import sync as c
from nodebyte_common.contracts.envelope import Answer, Empty
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.edge.openapi_links import CREATES, Creates
from nodebyte_gateway.sync_reads import SyncReads

SOURCE = "nodebyte/gateway"
# A queued sync's run: its status, its cancellation (links in the OpenAPI document).
SYNC_RUN = Creates(
    items=("/api/v1/sync/status/{log_id}", "/api/v1/sync/cancel/{log_id}"), id="/data/sync_log_id"
)


async def queue_sync(
    pool: asyncpg.Pool, kind: events.SyncKind, skip_users: bool, requested_by: str | None
) -> c.SyncQueued:
    """Record the command and put `sync.requested` in the outbox, in one transaction."""
    log_id = uuid6.uuid7()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO sync_requests (id, kind, requested_by, skip_users)
               VALUES ($1, $2, $3, $4)""",
            log_id,
            kind,
            requested_by,
            skip_users,
        )
        event_id = await outbox.enqueue(
            conn,
            events.SyncRequested(
                sync_log_id=log_id,
                kind=kind,
                skip_users=skip_users,
                requested_by=requested_by,
                requested_at=datetime.now(UTC),
            ),
            source=SOURCE,
        )
    return c.SyncQueued(sync_log_id=log_id, task_id=event_id)


def _queued(queued: c.SyncQueued, kind: str) -> Answer[c.SyncQueued]:
    message = ("Full sync" if kind == "full" else f"{kind.capitalize()} sync") + " has been queued"
    return Answer(data=queued, message=message)


def routes(ctx: GatewayContext) -> list[Any]:
    pool_of = lambda: ctx.runtime.pool  # noqa: E731 - the pool exists once the app started
    sync = ctx.client("sync")
    write, read = ctx.require(catalogue.SYNC_WRITE), ctx.require(catalogue.SYNC_READ)
    admin_write = ctx.require(catalogue.ADMIN_WRITE)

    reads = SyncReads(sync)
    ctx.hub.listen(reads.on_event)

    async def status_of(log_id: UUID) -> c.SyncLog:
        known = await reads.status(log_id)
        return known.answer.data if known is not None else await pending(log_id)

    async def pending(log_id: UUID) -> c.SyncLog:
        """A sync the sync service does not know yet: requested here, or no such sync."""
        async with pool_of().acquire() as conn:
            requested = await conn.fetchrow("SELECT * FROM sync_requests WHERE id = $1", log_id)
        if requested is None:
            raise ApiError(404, "Sync log not found")
        return _pending(requested)

    async def cancel(log_id: UUID, requested_by: str | None) -> Answer[c.CancelRequested]:
        current = await status_of(log_id)
        if current.status in c.ENDED:
            raise ApiError(409, f"The sync has already ended ({current.status})", "CONFLICT")
        async with pool_of().acquire() as conn, conn.transaction():
            await outbox.enqueue(
                conn,
                events.SyncCancelRequested(sync_log_id=log_id, requested_by=requested_by),
                source=SOURCE,
            )
        return Answer(
            data=c.CancelRequested(sync_log_id=log_id), message="Cancellation has been requested"
        )

    def request_sync(kind: events.SyncKind) -> HTTPRouteHandler:
        @post(
            f"/api/v1/sync/{kind}",
            guards=[write],
            status_code=202,
            summary=f"Queue a sync of the panel mirror ({kind})",
            tags=["sync"],
            opt={"rate_limit": "sync", CREATES: SYNC_RUN},
            name=f"sync-{kind}",
        )
        async def queue(data: JSONBody[c.SyncRequest | None] = None) -> Answer[c.SyncQueued]:
            body = data or c.SyncRequest()
            queued = await queue_sync(pool_of(), kind, body.skip_users, body.requested_by)
            return _queued(queued, kind)

        return queue

    @get(
        "/api/v1/sync/status/{log_id:uuid}",
        guards=[read],
        tags=["sync"],
        summary="Status of a sync",
    )
    async def sync_status(log_id: FromPath[UUID]) -> Answer[c.SyncLog]:
        known = await reads.status(log_id)
        if known is not None:
            return known.response  # type: ignore[return-value]  # the same answer, encoded once
        return Answer(data=await pending(log_id))

    @post(
        "/api/v1/sync/cancel/{log_id:uuid}",
        guards=[write],
        status_code=202,
        tags=["sync"],
        summary="Cancel a queued or running sync",
    )
    async def cancel_sync(
        log_id: FromPath[UUID], data: JSONBody[Empty | None] = None
    ) -> Answer[c.CancelRequested]:
        return await cancel(log_id, None)

    @get(
        ["/api/stats", "/api/panel/counts"],
        tags=["stats"],
        summary="Public panel counts",
        opt={"rate_limit": "public"},
    )
    async def public_counts() -> Answer[c.Counts]:
        return (await reads.counts()).response  # type: ignore[return-value]

    @post(
        "/api/admin/sync",
        guards=[admin_write],
        status_code=202,
        tags=["admin"],
        summary="Queue a sync",
        opt={"rate_limit": "sync"},
    )
    async def admin_trigger(
        data: JSONBody[c.AdminSyncRequest | None] = None,
    ) -> Answer[c.SyncQueued]:
        body = data or c.AdminSyncRequest()
        queued = await queue_sync(pool_of(), body.type, body.skip_users, body.requested_by)
        return _queued(queued, body.type)

    @post(
        "/api/admin/sync/cancel",
        guards=[admin_write],
        status_code=202,
        tags=["admin"],
        summary="Cancel the sync that is running or queued",
        responses=refusals(
            {404: "No sync is running or queued", 409: "The sync has already ended"}
        ),
    )
    async def admin_cancel(data: JSONBody[Empty | None] = None) -> Answer[c.CancelRequested]:
        state = await sync.call_as(Answer[c.SyncState], "GET", "/sync/state")
        if state.data.current is None:
            raise ApiError(404, "No sync is running", "NOT_FOUND")
        return await cancel(state.data.current.id, "admin")

    handlers = [
        *(request_sync(kind) for kind in c.SYNC_KINDS),
        sync_status,
        cancel_sync,
        public_counts,
        admin_trigger,
        admin_cancel,
    ]
    return handlers + _forwarded(ctx)


def _forwarded(ctx: GatewayContext) -> list[Any]:
    """What sync answers as it is: history, state, the panel's circuit, live panel reads, stats."""
    admin_read, admin_write = catalogue.ADMIN_READ, catalogue.ADMIN_WRITE
    stats = catalogue.STATS_READ

    def history(path: str, permission: str) -> Forward:
        return Forward("GET", path, "/sync/logs", permission, c.SyncLogPage, "Sync history",
                       query=c.SyncLogsQuery)  # fmt: skip

    public = [
        history("/api/v1/sync/logs", catalogue.SYNC_READ),
    ]
    admin = [
        Forward(
            "GET", "/api/admin/sync", "/sync/state", admin_read, Answer[c.SyncState], "Sync state"
        ),
        history("/api/admin/sync/logs", admin_read),
        Forward(
            "POST",
            "/api/admin/sync/panel/reset",
            "/sync/panel/reset",
            admin_write,
            Answer[c.PanelReset],
            "Restart panel polling (close the circuit breaker)",
        ),
        Forward(
            "GET",
            "/api/admin/panel/{kind:str}",
            "/panel/live/{kind}",
            admin_read,
            c.LivePage,
            "Servers or nodes read live from the panel",
            query=c.LiveQuery,
        ),
    ]
    stats_table = [
        Forward("GET", "/api/v1/stats/overview", "/stats", stats, Answer[c.Counts],
                "Counts of the panel mirror"),
        Forward("GET", "/api/v1/stats/servers", "/stats/servers", stats, Answer[c.ServerStats],
                "Servers by status, node and egg"),
        Forward("GET", "/api/v1/stats/users", "/stats/users", stats, Answer[c.UserStats],
                "Panel users: admins, two-factor, active, new"),
    ]  # fmt: skip
    return [
        *forward_routes(ctx, "sync", ["sync"], public),
        *forward_routes(ctx, "sync", ["admin"], admin),
        *forward_routes(ctx, "sync", ["stats"], stats_table),
    ]


def _pending(row: Any) -> c.SyncLog:
    """What a sync looks like before the sync service has picked it up."""
    return c.SyncLog(
        id=row["id"],
        type=row["kind"],
        status="PENDING",
        items_total=0,
        items_synced=0,
        items_failed=0,
        error=None,
        metadata={},
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        started_at=None,
        completed_at=None,
    )
