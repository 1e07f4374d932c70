"""Scheduled work through the gateway: server tasks, system jobs, auto-sync settings.

The scheduler owns all of it and validates it; these routes check permissions,
pass bodies on and answer with the scheduler's envelope (its 4xx included).
`/api/admin/sync/settings` is shared: `autoSyncEnabled`/`autoSyncInterval` are
the scheduler's auto-sync job, every other key belongs to the sync service.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common import idempotency
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError, ok
from nodebyte_gateway import audit, settings_owners
from nodebyte_gateway.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.forwarding import json_object, relay

AUTO_SYNC_KEYS = ("autoSyncEnabled", "autoSyncInterval")
PASSED_QUERY = ("serverId", "page", "limit")


async def audited(
    ctx: GatewayContext, request: Request, action: str, target: Any, after: Any = None
) -> None:
    """Note a change the scheduler or sync service made for this caller in the audit log."""
    async with ctx.runtime.pool.acquire() as conn:
        await audit.record(conn, caller(request), action, target, None, after, request)


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k in PASSED_QUERY}


def routes(ctx: GatewayContext) -> list[Any]:
    return [
        *_definition_routes(ctx, "/api/tasks", "/tasks", "task", "tasks", "server task"),
        *_definition_routes(
            ctx, "/api/admin/scheduler/jobs", "/jobs", "scheduler", "scheduler", "scheduled job"
        ),
        *_status_routes(ctx),
        *_sync_settings_routes(ctx),
    ]


DEFINITION_PERMISSIONS = {
    "task": {
        "read": catalogue.TASK_READ,
        "create": catalogue.TASK_CREATE,
        "update": catalogue.TASK_UPDATE,
        "delete": catalogue.TASK_DELETE,
        "execute": catalogue.TASK_EXECUTE,
    },
    "scheduler": {
        "read": catalogue.SCHEDULER_READ,
        **dict.fromkeys(("create", "update", "delete", "execute"), catalogue.SCHEDULER_WRITE),
    },
}


def _definition_routes(
    ctx: GatewayContext, public: str, internal: str, permission: str, tag: str, noun: str
) -> list[Any]:
    """CRUD, run now and history of tasks (task.*) or system jobs (scheduler.*)."""
    scheduler = ctx.client("scheduler")
    kind = "task" if permission == "task" else "scheduler_job"

    async def changed(request: Request, verb: str, answer: Any, item_id: Any) -> Any:
        """Relay the scheduler's answer; a success goes to the audit log."""
        response = relay(*answer)
        await audited(ctx, request, f"{kind}.{verb}", (kind, item_id), response.content["data"])
        return response

    def can(action: str) -> Any:
        return ctx.require(DEFINITION_PERMISSIONS[permission][action])

    @get(public, guards=[can("read")], tags=[tag], summary=f"List {noun}s", name=f"{tag}-list")
    async def list_all(request: Request) -> Any:
        return relay(*await scheduler.call("GET", internal, params=_query(request)))

    @post(
        public, guards=[can("create")], tags=[tag], summary=f"Create a {noun}", name=f"{tag}-create"
    )
    async def create(request: Request) -> Any:
        answer = await scheduler.call("POST", internal, json=await json_object(request))
        created = relay(*answer)
        await audited(
            ctx,
            request,
            f"{kind}.created",
            (kind, created.content["data"]["id"]),
            created.content["data"],
        )
        return created

    @get(f"{public}/{{item_id:uuid}}", guards=[can("read")], tags=[tag], name=f"{tag}-get")
    async def read(item_id: FromPath[UUID]) -> Any:
        return relay(*await scheduler.call("GET", f"{internal}/{item_id}"))

    @put(f"{public}/{{item_id:uuid}}", guards=[can("update")], tags=[tag], name=f"{tag}-update")
    async def update(item_id: FromPath[UUID], request: Request) -> Any:
        body = await json_object(request)
        answer = await scheduler.call("PUT", f"{internal}/{item_id}", json=body)
        return await changed(request, "updated", answer, item_id)

    @delete(
        f"{public}/{{item_id:uuid}}",
        guards=[can("delete")],
        tags=[tag],
        status_code=200,
        name=f"{tag}-delete",
    )
    async def remove(item_id: FromPath[UUID], request: Request) -> Any:
        answer = await scheduler.call("DELETE", f"{internal}/{item_id}")
        return await changed(request, "deleted", answer, item_id)

    @post(
        f"{public}/{{item_id:uuid}}/execute",
        guards=[can("execute")],
        tags=[tag],
        status_code=200,
        summary=f"Run a {noun} now, whatever its schedule",
        name=f"{tag}-execute",
    )
    async def execute(item_id: FromPath[UUID], request: Request) -> Any:
        # A retry with the client's Idempotency-Key runs once (the scheduler keeps the key).
        headers = idempotency.forwarded(request.headers)
        answer = await scheduler.call("POST", f"{internal}/{item_id}/execute", headers=headers)
        return await changed(request, "executed", answer, item_id)

    @get(
        f"{public}/{{item_id:uuid}}/runs",
        guards=[can("read")],
        tags=[tag],
        summary=f"Run history of a {noun}, newest first",
        name=f"{tag}-runs",
    )
    async def runs(item_id: FromPath[UUID], request: Request) -> Any:
        return relay(
            *await scheduler.call("GET", f"{internal}/{item_id}/runs", params=_query(request))
        )

    return [list_all, create, read, update, remove, execute, runs]


def _status_routes(ctx: GatewayContext) -> list[Any]:
    scheduler = ctx.client("scheduler")

    @get(
        "/api/admin/scheduler",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["scheduler"],
        summary="Scheduler liveness: leader, last heartbeat, overdue jobs",
    )
    async def scheduler_status() -> Any:
        return relay(*await scheduler.call("GET", "/scheduler"))

    return [scheduler_status]


def _sync_settings_routes(ctx: GatewayContext) -> list[Any]:
    panel, auto_sync = settings_owners.panel_settings(ctx), settings_owners.auto_sync_settings(ctx)

    async def merged() -> dict[str, Any]:
        return {**await panel.read(), **await auto_sync.read()}

    @get(
        "/api/admin/sync/settings",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["sync"],
        summary="Sync settings (auto sync from the scheduler, the rest from sync)",
    )
    async def get_sync_settings() -> Any:
        return ok(await merged())

    @post(
        "/api/admin/sync/settings",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=["sync"],
        status_code=200,
        summary="Change sync settings",
    )
    async def update_sync_settings(request: Request) -> Any:
        body = await json_object(request)
        if not body:
            raise ApiError(400, "No settings given")
        auto = {k: v for k, v in body.items() if k in AUTO_SYNC_KEYS}
        others = {k: v for k, v in body.items() if k not in AUTO_SYNC_KEYS}
        if others:  # sync refuses keys it does not know
            others["changedBy"] = caller(request).label
        await settings_owners.change([(auto_sync, auto), (panel, others)])
        after = await merged()
        await audited(ctx, request, "sync.settings_updated", "sync_settings", after)
        return ok(after, message="Sync settings updated")

    return [get_sync_settings, update_sync_settings]
