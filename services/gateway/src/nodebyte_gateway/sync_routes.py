"""Sync, stats and panel-mirror routes: commands become events, queries go to sync."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.page_query import PageNumber, PageSize, Search, SortOrder
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.encoded_response import EncodedJson
from nodebyte_gateway.forwarding import query, relay
from nodebyte_gateway.sync_reads import SyncReads

SOURCE = "nodebyte/gateway"
SYNC_KINDS = ("full", "locations", "nodes", "servers", "users")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
Kind = Literal["full", "locations", "nodes", "servers", "users"]


class SyncRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    skip_users: bool = False
    requested_by: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class AdminSyncBody(msgspec.Struct, forbid_unknown_fields=True):
    type: Kind = "full"
    skip_users: bool = False
    requested_by: Annotated[str, msgspec.Meta(max_length=255)] | None = None


async def queue_sync(
    pool: asyncpg.Pool, kind: str, skip_users: bool, requested_by: str | None
) -> dict[str, Any]:
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
                skip_users=skip_users,  # type: ignore[arg-type]
                requested_by=requested_by,
                requested_at=datetime.now(UTC),
            ),
            source=SOURCE,
        )
    return {"sync_log_id": str(log_id), "task_id": str(event_id), "status": "PENDING"}


def _queued_message(kind: str) -> str:
    return ("Full sync" if kind == "full" else f"{kind.capitalize()} sync") + " has been queued"


def routes(ctx: GatewayContext) -> list[Any]:
    pool_of = lambda: ctx.runtime.pool  # noqa: E731 - the pool exists once the app started
    sync = ctx.client("sync")
    write, read = ctx.require(catalogue.SYNC_WRITE), ctx.require(catalogue.SYNC_READ)
    admin_read, admin_write = ctx.require(catalogue.ADMIN_READ), ctx.require(catalogue.ADMIN_WRITE)
    stats_read = ctx.require(catalogue.STATS_READ)

    reads = SyncReads(sync)
    ctx.hub.listen(reads.on_event)

    async def status_of(log_id: UUID) -> dict[str, Any]:
        status, body = await reads.status(log_id)
        return body.body["data"] if status == 200 else await pending(log_id)

    async def pending(log_id: UUID) -> dict[str, Any]:
        """A sync the sync service does not know yet: requested here, or no such sync."""
        async with pool_of().acquire() as conn:
            requested = await conn.fetchrow("SELECT * FROM sync_requests WHERE id = $1", log_id)
        if requested is None:
            raise ApiError(404, "Sync log not found")
        return _pending_view(requested)

    async def cancel(log_id: UUID, requested_by: str | None) -> Any:
        current = await status_of(log_id)
        if current["status"] in TERMINAL:
            raise ApiError(409, f"The sync has already ended ({current['status']})", "CONFLICT")
        async with pool_of().acquire() as conn, conn.transaction():
            await outbox.enqueue(
                conn,
                events.SyncCancelRequested(sync_log_id=log_id, requested_by=requested_by),
                source=SOURCE,
            )
        return ok(
            {"sync_log_id": str(log_id), "status": "CANCEL_REQUESTED"},
            message="Cancellation has been requested",
            status=202,
        )

    @post(
        [f"/api/v1/sync/{kind}" for kind in SYNC_KINDS],
        guards=[write],
        status_code=202,
        summary="Queue a sync of the panel mirror",
        tags=["sync"],
        opt={"rate_limit": "sync"},
    )
    async def request_sync(request: Request) -> Any:
        kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = decode_body(await request.body(), SyncRequestBody)
        queued = await queue_sync(pool_of(), kind, body.skip_users, body.requested_by)
        return ok(queued, message=_queued_message(kind), status=202)

    @get(
        "/api/v1/sync/status/{log_id:uuid}",
        guards=[read],
        tags=["sync"],
        summary="Status of a sync",
    )
    async def sync_status(log_id: FromPath[UUID]) -> Any:
        status, body = await reads.status(log_id)
        return EncodedJson(body.envelope) if status == 200 else ok(await pending(log_id))

    def sync_history(path: str, guard: Any, tag: str) -> Any:
        """The sync history, under the public and the admin path alike."""

        @get(path, guards=[guard], tags=[tag], summary="Sync history")
        async def sync_logs(
            limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
            offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
            kind: Annotated[Kind | None, QueryParameter(name="type")] = None,
        ) -> Any:
            params = {"limit": limit, "offset": offset, "type": kind}
            return await query(sync, "/sync/logs", params)

        return sync_logs

    sync_logs = sync_history("/api/v1/sync/logs", read, "sync")

    @post(
        "/api/v1/sync/cancel/{log_id:uuid}",
        guards=[write],
        status_code=202,
        tags=["sync"],
        summary="Cancel a queued or running sync",
    )
    async def cancel_sync(log_id: FromPath[UUID]) -> Any:
        return await cancel(log_id, None)

    @get(
        ["/api/stats", "/api/panel/counts"],
        tags=["stats"],
        summary="Public panel counts",
        opt={"rate_limit": "public"},
    )
    async def public_counts() -> Any:
        status, body = await reads.counts()
        return EncodedJson(body.envelope) if status == 200 else relay(status, body)

    @get("/api/admin/sync", guards=[admin_read], tags=["admin"], summary="Sync state")
    async def admin_sync_state() -> Any:
        return await query(sync, "/sync/state")

    @post(
        "/api/admin/sync",
        guards=[admin_write],
        status_code=202,
        tags=["admin"],
        summary="Queue a sync",
        opt={"rate_limit": "sync"},
    )
    async def admin_trigger(request: Request) -> Any:
        body = decode_body(await request.body(), AdminSyncBody)
        queued = await queue_sync(pool_of(), body.type, body.skip_users, body.requested_by)
        return ok(queued, message=_queued_message(body.type), status=202)

    @post(
        "/api/admin/sync/cancel",
        guards=[admin_write],
        status_code=202,
        tags=["admin"],
        summary="Cancel the sync that is running or queued",
    )
    async def admin_cancel() -> Any:
        status, body = await sync.call("GET", "/sync/state")
        current = (body or {}).get("data", {}).get("current") if status == 200 else None
        if not current:
            raise ApiError(404, "No sync is running", "NOT_FOUND")
        return await cancel(UUID(current["id"]), "admin")

    admin_sync_logs = sync_history("/api/admin/sync/logs", admin_read, "admin")

    @post(
        "/api/admin/sync/panel/reset",
        guards=[admin_write],
        status_code=200,
        tags=["admin"],
        summary="Restart panel polling (close the circuit breaker)",
    )
    async def admin_reset_panel() -> Any:
        return relay(*await sync.call("POST", "/sync/panel/reset"))

    @get(
        "/api/admin/servers",
        guards=[admin_read],
        tags=["admin"],
        summary="Servers of the panel mirror",
    )
    async def admin_servers(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name", "createdAt", "status", "node"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        return await query(
            sync,
            "/servers",
            {"page": page, "pageSize": page_size, "search": search, "sort": sort, "order": order},
        )

    @get(
        "/api/admin/panel/{kind:str}",
        guards=[admin_read],
        tags=["admin"],
        summary="Servers or nodes read live from the panel",
    )
    async def admin_live(
        kind: FromPath[Literal["servers", "nodes"]],
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Parameter(ge=1, le=100)] = 50,
    ) -> Any:
        return await query(sync, f"/panel/live/{kind}", {"page": page, "per_page": per_page})

    @get("/api/v1/stats/overview", guards=[stats_read], tags=["stats"])
    async def stats_overview() -> Any:
        return await query(sync, "/stats")

    @get("/api/v1/stats/servers", guards=[stats_read], tags=["stats"])
    async def stats_servers() -> Any:
        return await query(sync, "/stats/servers")

    @get("/api/v1/stats/users", guards=[stats_read], tags=["stats"])
    async def stats_users() -> Any:
        return await query(sync, "/stats/users")

    return [
        request_sync,
        sync_status,
        sync_logs,
        cancel_sync,
        public_counts,
        admin_sync_state,
        admin_trigger,
        admin_cancel,
        admin_sync_logs,
        admin_reset_panel,
        admin_servers,
        admin_live,
        stats_overview,
        stats_servers,
        stats_users,
    ]


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
