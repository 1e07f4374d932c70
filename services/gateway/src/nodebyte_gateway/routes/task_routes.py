"""Scheduled work through the gateway: server tasks, system jobs, auto-sync settings.

The scheduler owns all of it and validates it; these routes check permissions,
pass the contract's bodies and queries on, answer with the scheduler's answer
decoded into the contract's types (its 4xx relayed) and note each change in the
audit log. `/api/admin/sync/settings` is shared: `autoSyncEnabled`/`autoSyncInterval`
are the scheduler's auto-sync job, every other key belongs to the sync service.
"""

# No `from __future__ import annotations`: the handlers' types are the factory's
# arguments (a task's or a job's), read by Litestar from the annotations as they are.

from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from nodebyte_common import idempotency
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import scheduler as c
from nodebyte_common.contracts.envelope import Answer, Empty, Nothing, PagedAnswer
from nodebyte_common.contracts.query import takes_query, wire_params
from nodebyte_common.envelope import ApiError
from nodebyte_gateway import settings_owners
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import Guard, caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.schemas import SyncSettings, SyncSettingsUpdate

AUTO_SYNC_KEYS = ("autoSyncEnabled", "autoSyncInterval")

A = TypeVar("A")
Answered = TypeVar("Answered", bound=Answer[Any])


async def audited(
    ctx: GatewayContext, request: Request, action: str, target: Any, after: Any = None
) -> None:
    """Note a change the scheduler or sync service made for this caller in the audit log."""
    after = msgspec.to_builtins(after) if isinstance(after, msgspec.Struct) else after
    async with ctx.runtime.pool.acquire() as conn:
        await audit.record(conn, caller(request), action, target, None, after, request)


def routes(ctx: GatewayContext) -> list[Any]:
    return [
        *_task_routes(ctx),
        *_job_routes(ctx),
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


class Definitions:
    """Calls to the scheduler's tasks (task.*) or system jobs (scheduler.*), audited."""

    def __init__(self, ctx: GatewayContext, internal: str, permission: str) -> None:
        self.ctx = ctx
        self.scheduler = ctx.client("scheduler")
        self.internal = internal
        self.permission = permission
        self.kind = "task" if permission == "task" else "scheduler_job"

    def can(self, action: str) -> Guard:
        return self.ctx.require(DEFINITION_PERMISSIONS[self.permission][action])

    async def call(self, answer: type[A], method: str, path: str = "", **kwargs: Any) -> A:
        return await self.scheduler.call_as(answer, method, self.internal + path, **kwargs)

    async def changed(
        self, request: Request, verb: str, item_id: Any, answer: Answered
    ) -> Answered:
        """The scheduler's answer to a change, once noted in the audit log."""
        target = (self.kind, item_id)
        await audited(self.ctx, request, f"{self.kind}.{verb}", target, answer.data)
        return answer


def _task_routes(ctx: GatewayContext) -> list[Any]:
    """CRUD of server tasks: the list filtered by `?serverId=`."""
    tasks = Definitions(ctx, "/tasks", "task")

    @get("/api/tasks", guards=[tasks.can("read")], tags=["tasks"], summary="List server tasks",
         name="tasks-list")  # fmt: skip
    @takes_query(c.TasksQuery)
    async def list_tasks(query: c.TasksQuery) -> Answer[list[c.Task]]:
        return await tasks.call(Answer[list[c.Task]], "GET", params=wire_params(query) or None)

    @post("/api/tasks", guards=[tasks.can("create")], tags=["tasks"],
          summary="Create a server task", name="tasks-create")  # fmt: skip
    async def create_task(data: JSONBody[c.TaskCreate], request: Request) -> Answer[c.Task]:
        created = await tasks.call(Answer[c.Task], "POST", json=data)
        return await tasks.changed(request, "created", created.data.id, created)

    return [list_tasks, create_task, *_item_routes(tasks, "/api/tasks", "tasks", "server task",
                                                    c.Task, c.TaskUpdate)]  # fmt: skip


def _job_routes(ctx: GatewayContext) -> list[Any]:
    public = "/api/admin/scheduler/jobs"
    jobs = Definitions(ctx, "/jobs", "scheduler")

    @get(public, guards=[jobs.can("read")], tags=["scheduler"], summary="List scheduled jobs",
         name="scheduler-list")  # fmt: skip
    async def list_jobs() -> Answer[list[c.Job]]:
        return await jobs.call(Answer[list[c.Job]], "GET")

    @post(public, guards=[jobs.can("create")], tags=["scheduler"],
          summary="Create a scheduled job", name="scheduler-create",
          responses=refusals({409: "Another job has this name"}))  # fmt: skip
    async def create_job(data: JSONBody[c.JobCreate], request: Request) -> Answer[c.Job]:
        created = await jobs.call(Answer[c.Job], "POST", json=data)
        return await jobs.changed(request, "created", created.data.id, created)

    return [list_jobs, create_job, *_item_routes(jobs, public, "scheduler", "scheduled job",
                                                  c.Job, c.JobUpdate)]  # fmt: skip


def _item_routes(
    items: Definitions, public: str, tag: str, noun: str, view: type, update_body: type
) -> list[Any]:
    """Read, update, delete, run now and run history of one task or job."""
    item = f"{public}/{{item_id:uuid}}"

    @get(item, guards=[items.can("read")], tags=[tag], summary=f"One {noun}", name=f"{tag}-get")
    async def read(item_id: FromPath[UUID]) -> Answer[view]:  # type: ignore[valid-type]
        return await items.call(Answer[view], "GET", f"/{item_id}")

    @put(item, guards=[items.can("update")], tags=[tag], summary=f"Change a {noun}",
         name=f"{tag}-update")  # fmt: skip
    async def update(
        item_id: FromPath[UUID],
        data: JSONBody[update_body],  # type: ignore[valid-type]
        request: Request,
    ) -> Answer[view]:  # type: ignore[valid-type]
        answer = await items.call(Answer[view], "PUT", f"/{item_id}", json=data)
        return await items.changed(request, "updated", item_id, answer)

    # A built-in job (auto sync, log clean-up) is disabled, not deleted.
    builtin = {409: "A built-in job cannot be deleted; disable it instead"}

    @delete(item, guards=[items.can("delete")], tags=[tag], status_code=200,
            summary=f"Delete a {noun}", name=f"{tag}-delete",
            responses=refusals(builtin) if tag == "scheduler" else None)  # fmt: skip
    async def remove(item_id: FromPath[UUID], request: Request) -> Nothing:
        answer = await items.call(Nothing, "DELETE", f"/{item_id}")
        return await items.changed(request, "deleted", item_id, answer)

    @post(f"{item}/execute", guards=[items.can("execute")], tags=[tag], status_code=200,
          summary=f"Run a {noun} now, whatever its schedule", name=f"{tag}-execute")  # fmt: skip
    async def execute(
        item_id: FromPath[UUID], request: Request, data: JSONBody[Empty | None] = None
    ) -> Answer[c.RunStarted]:
        # A retry with the client's Idempotency-Key runs once (the scheduler keeps the key).
        headers = idempotency.forwarded(request.headers)
        path = f"/{item_id}/execute"
        answer = await items.call(Answer[c.RunStarted], "POST", path, headers=headers)
        return await items.changed(request, "executed", item_id, answer)

    @get(f"{item}/runs", guards=[items.can("read")], tags=[tag],
         summary=f"Run history of a {noun}, newest first", name=f"{tag}-runs")  # fmt: skip
    @takes_query(c.RunsQuery)
    async def runs(item_id: FromPath[UUID], query: c.RunsQuery) -> PagedAnswer[c.Run]:
        params = wire_params(query)
        return await items.call(PagedAnswer[c.Run], "GET", f"/{item_id}/runs", params=params)

    return [read, update, remove, execute, runs]


def _status_routes(ctx: GatewayContext) -> list[Any]:
    scheduler = ctx.client("scheduler")

    @get(
        "/api/admin/scheduler",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["scheduler"],
        summary="Scheduler liveness: leader, last heartbeat, overdue jobs",
    )
    async def scheduler_status() -> Answer[c.SchedulerStatus]:
        return await scheduler.call_as(Answer[c.SchedulerStatus], "GET", "/scheduler")

    return [scheduler_status]


def _sync_settings_routes(ctx: GatewayContext) -> list[Any]:
    panel, auto_sync = settings_owners.panel_settings(ctx), settings_owners.auto_sync_settings(ctx)

    async def merged() -> SyncSettings:
        return msgspec.convert({**await panel.read(), **await auto_sync.read()}, SyncSettings)

    @get(
        "/api/admin/sync/settings",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["sync"],
        summary="Sync settings (auto sync from the scheduler, the rest from sync)",
    )
    async def get_sync_settings() -> Answer[SyncSettings]:
        return Answer(data=await merged())

    @post(
        "/api/admin/sync/settings",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=["sync"],
        status_code=200,
        summary="Change sync settings",
    )
    async def update_sync_settings(
        data: JSONBody[SyncSettingsUpdate], request: Request
    ) -> Answer[SyncSettings]:
        body = msgspec.to_builtins(data)  # the given settings (null ones are not changes)
        if not body:
            raise ApiError(400, "No settings given")
        auto = {k: v for k, v in body.items() if k in AUTO_SYNC_KEYS}
        others = {k: v for k, v in body.items() if k not in AUTO_SYNC_KEYS}
        if others:
            others["changedBy"] = caller(request).label
        await settings_owners.change([(auto_sync, auto), (panel, others)])
        after = await merged()
        await audited(ctx, request, "sync.settings_updated", "sync_settings", after)
        return Answer(data=after, message="Sync settings updated")

    return [get_sync_settings, update_sync_settings]
