"""The scheduler's internal HTTP API (reached only by the gateway).

System jobs under `/jobs`, users' server tasks under `/tasks`, the auto-sync
job's settings under `/auto-sync`, and liveness under `/scheduler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, QueryParameter

from nodebyte_common import idempotency
from nodebyte_common.contracts import scheduler as c
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer, Pages
from nodebyte_common.contracts.query import takes_query
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_scheduler import definitions, store, views
from nodebyte_scheduler.clock import Clock
from nodebyte_scheduler.definitions import AUTO_SYNC_JOB
from nodebyte_scheduler.firing import fire_now

KIND_LABEL = {"system": "Job", "task": "Task"}


@dataclass(frozen=True)
class ApiContext:
    runtime: Runtime
    clock: Clock
    replica: str
    overdue_after: timedelta

    def overdue_before(self) -> datetime:
        return self.clock.now() - self.overdue_after


def internal_routes(ctx: ApiContext) -> list[Any]:
    return [
        *_status_routes(ctx),
        *_definition_routes(ctx, "system", "/jobs", c.JobCreate, c.JobUpdate),
        *_definition_routes(ctx, "task", "/tasks", c.TaskCreate, c.TaskUpdate),
        *_auto_sync_routes(ctx),
    ]


def _status_routes(ctx: ApiContext) -> list[Any]:
    @get("/scheduler")
    async def scheduler_status() -> Answer[c.SchedulerStatus]:
        async with ctx.runtime.pool.acquire() as conn:
            leader = await store.leadership(conn)
            overdue = await store.overdue_jobs(conn, ctx.overdue_before())
            counts = await conn.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE enabled) AS enabled FROM jobs"
            )
        before = ctx.overdue_before()
        status = c.SchedulerStatus(
            leader=views.leader_view(leader),
            replica=ctx.replica,
            now=ctx.clock.now(),
            jobs=c.JobCounts(total=counts["total"], enabled=counts["enabled"]),
            overdue=[views.overdue_view(job, before) for job in overdue],
        )
        return Answer(data=status)

    return [scheduler_status]


def _definition_routes(
    ctx: ApiContext, kind: str, path: str, create_body: type, update_body: type
) -> list[Any]:
    """List, create, read, update, delete, run now and history, for jobs or tasks."""
    label = KIND_LABEL[kind]
    view = views.task_view if kind == "task" else views.job_view

    def pool() -> asyncpg.Pool:
        return ctx.runtime.pool  # exists once the service has started

    async def found(
        conn: asyncpg.Connection, job_id: UUID, *, lock: bool = False
    ) -> asyncpg.Record:
        job = await (store.lock_job if lock else store.get_job)(conn, job_id, kind)
        if job is None:
            raise ApiError(404, f"{label} not found")
        return job

    @get(path, name=f"{kind}-list")
    @takes_query(c.TasksQuery)
    async def list_definitions(query: c.TasksQuery) -> Answer[list[c.Task] | list[c.Job]]:
        server_id = query.server_id if kind == "task" else None
        async with pool().acquire() as conn:
            jobs = await store.list_jobs(conn, kind, server_id)
        before = ctx.overdue_before()
        return Answer(data=[view(job, before) for job in jobs])

    @post(path, name=f"{kind}-create", status_code=201)
    async def create_definition(request: Request) -> Answer[c.Task | c.Job]:
        body = decode_body(await request.body(), create_body, empty_ok=False)
        job_id = uuid6.uuid7()
        creator = definitions.new_task if kind == "task" else definitions.new_job
        values = creator(body, job_id, ctx.clock.now())
        async with pool().acquire() as conn, conn.transaction():
            if kind == "system" and await store.get_job_by_name(conn, values["name"]):
                raise ApiError(409, f"A job named {values['name']!r} already exists")
            await store.insert_job(conn, job_id, values)
            job = await store.get_job(conn, job_id, kind)
        return Answer(data=view(job, ctx.overdue_before()), message=f"{label} created")

    @get(f"{path}/{{job_id:uuid}}", name=f"{kind}-get")
    async def get_definition(job_id: FromPath[UUID]) -> Answer[c.Task | c.Job]:
        async with pool().acquire() as conn:
            job = await found(conn, job_id)
        return Answer(data=view(job, ctx.overdue_before()))

    @put(f"{path}/{{job_id:uuid}}", name=f"{kind}-update")
    async def update_definition(job_id: FromPath[UUID], request: Request) -> Answer[c.Task | c.Job]:
        body = decode_body(await request.body(), update_body, empty_ok=False)
        async with pool().acquire() as conn, conn.transaction():
            current = await found(conn, job_id, lock=True)
            changes = definitions.changed(current, definitions.given(body), ctx.clock.now())
            if changes:
                await store.update_job(conn, job_id, changes)
            job = await found(conn, job_id)
        return Answer(data=view(job, ctx.overdue_before()), message=f"{label} updated")

    @delete(f"{path}/{{job_id:uuid}}", name=f"{kind}-delete", status_code=200)
    async def delete_definition(job_id: FromPath[UUID]) -> Nothing:
        async with pool().acquire() as conn, conn.transaction():
            job = await found(conn, job_id, lock=True)
            if job["builtin"]:
                raise ApiError(409, "A built-in job cannot be deleted; disable it instead")
            await store.delete_job(conn, job_id, kind)
            await store.notify_jobs_changed(conn)
        return Nothing(message=f"{label} deleted")

    @post(f"{path}/{{job_id:uuid}}/execute", name=f"{kind}-execute", status_code=200)
    async def execute_definition(job_id: FromPath[UUID], request: Request) -> Answer[c.RunStarted]:
        key = idempotency.key_of(request.headers)
        async with pool().acquire() as conn, conn.transaction():
            job = await found(conn, job_id, lock=True)  # serialises runs asked with one key
            earlier = await store.run_with_key(conn, job_id, key) if key else None
            if earlier is not None:
                run_id, status, details = earlier["id"], earlier["status"], earlier["details"]
            else:
                run = await fire_now(conn, job, ctx.clock.now(), ctx.replica, key)
                run_id, status, details = run.id, run.status, run.details
        started = c.RunStarted(run_id=run_id, status=status, sync_log_id=_sync_log_id(details))
        return Answer(data=started, message=f"{label} execution queued")

    @get(f"{path}/{{job_id:uuid}}/runs", name=f"{kind}-runs")
    @takes_query(c.RunsQuery)
    async def definition_runs(job_id: FromPath[UUID], query: c.RunsQuery) -> PagedAnswer[c.Run]:
        page, limit = query.page, query.limit
        async with pool().acquire() as conn:
            await found(conn, job_id)
            runs, total = await store.job_runs(conn, job_id, limit, (page - 1) * limit)
        return PagedAnswer(
            data=[views.run_view(run) for run in runs], pagination=Pages.of(page, limit, total)
        )

    return [
        list_definitions,
        create_definition,
        get_definition,
        update_definition,
        delete_definition,
        execute_definition,
        definition_runs,
    ]


def _sync_log_id(details: dict[str, Any]) -> str | msgspec.UnsetType:
    """The sync a run requested (a `sync.requested` job's), if any."""
    return details.get("syncLogId", msgspec.UNSET)


def _auto_sync_routes(ctx: ApiContext) -> list[Any]:
    async def auto_sync_job(conn: asyncpg.Connection, *, lock: bool = False) -> asyncpg.Record:
        job = await store.get_job_by_name(conn, AUTO_SYNC_JOB)
        if job is None:
            raise ApiError(404, "The auto-sync job does not exist")
        return await store.lock_job(conn, job["id"], "system") if lock else job

    @get("/auto-sync")
    async def get_auto_sync() -> Answer[c.AutoSync]:
        async with ctx.runtime.pool.acquire() as conn:
            return Answer(data=views.auto_sync_view(await auto_sync_job(conn)))

    @put("/auto-sync")
    async def update_auto_sync(
        request: Request, dry_run: Annotated[bool, QueryParameter(name="dryRun")] = False
    ) -> Answer[c.AutoSync]:
        """Change autoSyncEnabled / autoSyncInterval; `dryRun` only validates."""
        body = decode_body(await request.body(), c.AutoSyncUpdate, empty_ok=False)
        async with ctx.runtime.pool.acquire() as conn, conn.transaction():
            job = await auto_sync_job(conn, lock=True)
            changes = definitions.changed(job, definitions.auto_sync_changes(body), ctx.clock.now())
            if changes and not dry_run:
                await store.update_job(conn, job["id"], changes)
            job = await auto_sync_job(conn)
        return Answer(data=views.auto_sync_view(job))

    return [get_auto_sync, update_auto_sync]
