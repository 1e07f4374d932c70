"""Internal API for servers: registration, admission of actions, policy, logs, backups."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from uuid import UUID

import asyncpg
import uuid6
from litestar import Request, delete, get, patch, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter

from nodebyte_common import events, outbox
from nodebyte_common.backup_contracts import Backup
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer, Pages
from nodebyte_common.contracts.nodes import PageNumber, PageSize, Usage
from nodebyte_common.contracts.servers import (
    ENV_NAME,
    Admission,
    CommandStatus,
    ConsoleLine,
    CrashCountReset,
    RestartPolicy,
    RestartPolicyBody,
    Server,
    ServerCreate,
    ServerUpdate,
    Status,
    Stream,
    SuspendBody,
)
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_common.server_templates import ServerVariables, StopMarked, VariablesUpdate
from nodebyte_common.server_transfers import TransferOrder, TransferView
from nodebyte_node_agent_gateway import (
    allocations,
    backup_store,
    command_store,
    console_store,
    node_store,
    server_provisioning,
    server_store,
    template_store,
    transfer_store,
    usage,
)
from nodebyte_node_agent_gateway.allocations import AllocationRefused
from nodebyte_node_agent_gateway.game_databases import GameDatabases
from nodebyte_node_agent_gateway.lifecycle import ACTION_FROM, ActionRefused, admit
from nodebyte_node_agent_gateway.node_api import given_fields, parse_date
from nodebyte_node_agent_gateway.startup_render import render_server
from nodebyte_node_agent_gateway.template_variables import declared, refuse, resolve
from nodebyte_node_agent_gateway.transfers import Transfers
from nodebyte_node_agent_gateway.views import (
    backup_view,
    command_view,
    console_line_view,
    server_view,
)

SOURCE = "nodebyte/node-agent-gateway"
ENV_NAME_RE = re.compile(ENV_NAME)
STATUSES = get_args(Status)
# What a backup must be for an action on it (BACKUP_ACTIONS).
BACKUP_READY = {"restore_backup": ("completed",), "delete_backup": ("completed", "failed")}


def _check_environment(environment: dict[str, str]) -> None:
    bad = [name for name in environment if not ENV_NAME_RE.match(name)]
    if bad:
        raise ApiError(400, f"Invalid environment variable names: {', '.join(bad[:5])}")


async def _check_capacity(
    conn: asyncpg.Connection,
    node_id: UUID,
    memory: int,
    cores: int,
    excluding: UUID | None = None,
) -> None:
    node = await conn.fetchrow(
        "SELECT max_memory_mb, max_cpu_cores FROM nodes WHERE id = $1 FOR UPDATE", node_id
    )
    if node is None:
        raise ApiError(404, "Node not found")
    used_memory, used_cores = await server_store.committed_resources(conn, node_id, excluding)
    if used_memory + memory > node["max_memory_mb"] or used_cores + cores > node["max_cpu_cores"]:
        raise ApiError(400, "Node does not have enough resources", "INSUFFICIENT_RESOURCES")


async def _primary_to_port(conn: asyncpg.Connection, server_id: UUID, port: int) -> None:
    try:
        await allocations.primary_to_port(conn, server_id, port)
    except AllocationRefused as exc:
        raise ApiError(exc.status, exc.message, exc.code) from None


async def _node_online(conn: asyncpg.Connection, server: asyncpg.Record) -> bool:
    online = await conn.fetchval("SELECT is_online FROM nodes WHERE id = $1", server["node_id"])
    return bool(online)


async def _variables_change(
    conn: asyncpg.Connection, server: asyncpg.Record, given: dict[str, str]
) -> dict[str, Any]:
    """The server's fields after `given`: its template's rules, or its environment."""
    if server["template_id"] is None:
        _check_environment(given)
        return {"environment": {**server["environment"], **given}}
    template = await template_store.get(conn, server["template_id"])
    variables = declared(template["variables"])
    values, problems = resolve(variables, server["variables"], given, editable_only=True)
    if problems:
        raise refuse(problems)
    return {"variables": values}


def variables_view(row: asyncpg.Record) -> ServerVariables:
    return ServerVariables(
        server_id=row["id"],
        template_id=row["template_id"],
        variables=row["variables"] if row["template_id"] is not None else row["environment"],
        startup_command=row["startup_command"],
        rendered_startup_command=render_server(row, None).startup_command,
    )


def routes(
    runtime: Runtime, databases: GameDatabases, transfers: Transfers
) -> list[HTTPRouteHandler]:
    async def load(conn: asyncpg.Connection, server_id: UUID, lock: bool = False) -> asyncpg.Record:
        row = await server_store.get(conn, server_id, for_update=lock)
        if row is None:
            raise ApiError(404, "Server not found")
        return row

    @get("/servers")
    async def list_servers(
        node_id: Annotated[UUID | None, QueryParameter(name="nodeId")] = None,
        status: FromQuery[str | None] = None,
        page: PageNumber = 1,
        limit: PageSize = 20,
    ) -> PagedAnswer[Server]:
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
        async with runtime.pool.acquire() as conn:
            rows, total = await server_store.page(
                conn, node_id=node_id, status=status, offset=(page - 1) * limit, limit=limit
            )
        return PagedAnswer(
            data=[server_view(r) for r in rows], pagination=Pages.of(page, limit, total)
        )

    @get("/servers/{server_id:uuid}")
    async def get_server(server_id: FromPath[UUID]) -> Answer[Server]:
        async with runtime.pool.acquire() as conn:
            row = await load(conn, server_id)
            node = await node_store.get(conn, row["node_id"])
            transfer = await transfer_store.latest(conn, server_id)
        latest = transfer_store.view(transfer) if transfer is not None else None
        return Answer(data=server_view(row, node, latest))

    @post("/servers/{server_id:uuid}/transfer", status_code=200)
    async def transfer(server_id: FromPath[UUID], request: Request) -> Answer[TransferView]:
        """Begin moving the server to another node; its progress shows in its details."""
        body = decode_body(await request.body(), TransferOrder, empty_ok=False)
        view = await transfers.request(server_id, body)
        return Answer(data=view, message="Server transfer started")

    @post("/servers", status_code=201)
    async def create_server(request: Request) -> Answer[Server]:
        body = decode_body(await request.body(), ServerCreate, empty_ok=False)
        _check_environment(body.environment)
        server_id = uuid6.uuid7()
        fields = {k: v for k, v in given_fields(body).items() if v is not None}
        async with runtime.pool.acquire() as conn, conn.transaction():
            if body.template_id is not None:
                template = await template_store.get(conn, body.template_id)
                if template is None:
                    raise ApiError(404, "Template not found")
                fields = server_provisioning.from_template(fields, template)
            fields = server_provisioning.complete(fields)
            await _check_capacity(
                conn, body.node_id, fields["allocated_memory_mb"], fields["allocated_cpu_cores"]
            )
            port = fields.get("primary_port")
            fields["primary_port"] = port or 0  # set by its primary allocation
            await server_store.insert(conn, server_id, fields)
            try:
                await allocations.assign_primary(conn, server_id, body.node_id, port)
            except AllocationRefused as exc:
                raise ApiError(exc.status, exc.message, exc.code) from None
            row = await server_store.get(conn, server_id)
        return Answer(data=server_view(row), message="Server created")

    @put("/servers/{server_id:uuid}")
    async def update_server(server_id: FromPath[UUID], request: Request) -> Answer[Server]:
        body = decode_body(await request.body(), ServerUpdate)
        fields = given_fields(body)
        if "environment" in fields:
            _check_environment(fields["environment"])
        if "name" in fields and fields["name"] is None:
            raise ApiError(400, "name cannot be null")
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            server_provisioning.check_placeholders({**dict(row), **fields})
            if fields.keys() & server_store.RESOURCE_FIELDS:
                if row["state"] not in ("stopped", "crashed"):
                    raise ApiError(409, "Server must be stopped to update resource allocations")
                await _check_capacity(
                    conn,
                    row["node_id"],
                    fields.get("allocated_memory_mb", row["allocated_memory_mb"]),
                    fields.get("allocated_cpu_cores", row["allocated_cpu_cores"]),
                    excluding=server_id,
                )
            if "primary_port" in fields:
                await _primary_to_port(conn, server_id, fields.pop("primary_port"))
            row = await server_store.update(conn, server_id, fields)
        return Answer(data=server_view(row))

    @delete("/servers/{server_id:uuid}", status_code=200)
    async def delete_server(server_id: FromPath[UUID]) -> Nothing:
        """A stopped server, or one on a node that is offline (nothing left to stop it)."""
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            if row["state"] not in ("stopped", "crashed") and await _node_online(conn, row):
                raise ApiError(409, "Server must be stopped before deletion")
            # Its databases go from their hosts first; a host that cannot act keeps the server.
            await databases.remove_all(conn, server_id)
            await server_store.delete(conn, server_id)
            await outbox.enqueue(
                conn,
                events.ServerDeleted(
                    server_id=server_id, node_id=row["node_id"], deleted_at=datetime.now(UTC)
                ),
                source=SOURCE,
            )
        return Nothing(message="Server deleted successfully")

    @post("/servers/{server_id:uuid}/mark-stopped", status_code=200)
    async def mark_stopped(server_id: FromPath[UUID]) -> Answer[StopMarked]:
        """Record as stopped a server whose node is offline: no agent can be told."""
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            if await _node_online(conn, row):
                raise ApiError(409, "The server's node is online: stop it through its agent")
            if row["state"] == "stopped":
                raise ApiError(409, "Server is already stopped")
            await server_store.record_state(
                conn, server_id, state="stopped", desired="stopped", crashed=False, exit_code=None
            )
            await outbox.enqueue(
                conn,
                events.ServerStateChanged(
                    server_id=server_id,
                    node_id=row["node_id"],
                    previous_state=row["state"],
                    state="stopped",
                    changed_at=datetime.now(UTC),
                ),
                source=SOURCE,
            )
        return Answer(
            data=StopMarked(server_id=server_id, action="stop", status="stopped"),
            message="The node is offline: the server is marked stopped",
        )

    @put("/servers/{server_id:uuid}/variables")
    async def update_variables(
        server_id: FromPath[UUID], request: Request
    ) -> Answer[ServerVariables]:
        """New values of the server's variables; its startup is rendered with them from now."""
        body = decode_body(await request.body(), VariablesUpdate, empty_ok=False)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            fields = await _variables_change(conn, row, body.variables)
            row = await server_store.update(conn, server_id, fields)
        return Answer(data=variables_view(row), message="Variables updated")

    async def check_backup(
        conn: asyncpg.Connection, server_id: UUID, action: str, backup_id: UUID | None
    ) -> None:
        """404 for a backup that is not the server's, 409 when it cannot take `action`."""
        if action not in BACKUP_READY:
            return
        if backup_id is None:
            raise ApiError(400, f"{action} needs a backupId")
        backup = await backup_store.get(conn, server_id, backup_id)
        if backup is None:
            raise ApiError(404, "Backup not found")
        if backup["status"] not in BACKUP_READY[action]:
            raise ApiError(409, f"The backup is {backup['status']}", "BACKUP_NOT_READY")

    @get("/servers/{server_id:uuid}/admission")
    async def admission(
        server_id: FromPath[UUID],
        action: FromQuery[str],
        backup_id: Annotated[UUID | None, QueryParameter(name="backupId")] = None,
    ) -> Answer[Admission]:
        """May `action` be asked of the server now? The gateway asks before queueing it."""
        if action not in ACTION_FROM:
            raise ApiError(400, f"action must be one of {', '.join(ACTION_FROM)}")
        async with runtime.pool.acquire() as conn:
            row = await load(conn, server_id)
            await check_backup(conn, server_id, action, backup_id)
            online = await conn.fetchval(
                "SELECT is_online FROM nodes WHERE id = $1", row["node_id"]
            )
        try:
            admit(action, row["state"], row["suspended_at"] is not None)
        except ActionRefused as refused:
            raise ApiError(refused.status, refused.reason) from None
        if not online:
            raise ApiError(409, "The server's node is offline", "NODE_OFFLINE")
        return Answer(data=Admission(server_id=server_id, node_id=row["node_id"], action=action))

    @post("/servers/{server_id:uuid}/suspend", status_code=200)
    async def suspend(server_id: FromPath[UUID], request: Request) -> Answer[Server]:
        body = decode_body(await request.body(), SuspendBody)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            if row["suspended_at"] is not None:
                raise ApiError(409, "Server is already suspended")
            row = await server_store.suspend(conn, server_id, body.suspended_by, body.reason)
            if row["state"] in ("starting", "running"):
                await outbox.enqueue(
                    conn,
                    events.ServerCommandRequested(
                        request_id=uuid6.uuid7(),
                        server_id=server_id,
                        node_id=row["node_id"],
                        action="stop",
                        requested_by="suspension",
                    ),
                    source=SOURCE,
                )
        return Answer(data=server_view(row), message="Server suspended")

    @post("/servers/{server_id:uuid}/unsuspend", status_code=200)
    async def unsuspend(server_id: FromPath[UUID]) -> Answer[Server]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await load(conn, server_id, lock=True)
            if row["suspended_at"] is None:
                raise ApiError(409, "Server is not suspended")
            row = await server_store.unsuspend(conn, server_id)
        return Answer(data=server_view(row), message="Server unsuspended")

    @post("/servers/{server_id:uuid}/reset-crash-count", status_code=200)
    async def reset_crash_count(server_id: FromPath[UUID]) -> Answer[CrashCountReset]:
        async with runtime.pool.acquire() as conn:
            if not await server_store.reset_crash_count(conn, server_id):
                raise ApiError(404, "Server not found")
        return Answer(
            data=CrashCountReset(server_id=server_id, crash_count=0), message="Crash count reset"
        )

    @patch("/servers/{server_id:uuid}/restart-policy")
    async def restart_policy(server_id: FromPath[UUID], request: Request) -> Answer[RestartPolicy]:
        body = decode_body(await request.body(), RestartPolicyBody, empty_ok=False)
        async with runtime.pool.acquire() as conn:
            row = await server_store.set_restart_policy(
                conn, server_id, body.restart_policy, body.max_crash_count
            )
        if row is None:
            raise ApiError(404, "Server not found")
        return Answer(
            data=RestartPolicy(
                restart_policy=row["restart_policy"], max_crash_count=row["max_crash_count"]
            ),
            message="Restart policy updated",
        )

    @get("/servers/{server_id:uuid}/logs")
    async def logs(
        server_id: FromPath[UUID],
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        stream: FromQuery[Stream | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Answer[list[ConsoleLine]]:
        async with runtime.pool.acquire() as conn:
            await load(conn, server_id)
            rows = await console_store.recent(
                conn,
                server_id,
                limit=limit,
                stream=stream,
                before=parse_date(before, "before"),
            )
        return Answer(data=[console_line_view(r) for r in rows])

    @get("/servers/{server_id:uuid}/backups")
    async def backups(server_id: FromPath[UUID]) -> Answer[list[Backup]]:
        async with runtime.pool.acquire() as conn:
            await load(conn, server_id)
            rows = await backup_store.of_server(conn, server_id)
        return Answer(data=[backup_view(r) for r in rows])

    @get("/servers/{server_id:uuid}/commands/{request_id:uuid}")
    async def command_status(
        server_id: FromPath[UUID], request_id: FromPath[UUID]
    ) -> Answer[CommandStatus]:
        async with runtime.pool.acquire() as conn:
            row = await command_store.get(conn, server_id, request_id)
        if row is None:
            raise ApiError(404, "Command not found")
        return Answer(data=command_view(row))

    @get("/servers/{server_id:uuid}/usage/{period:str}")
    async def server_usage(
        server_id: FromPath[UUID],
        period: FromPath[str],
        start: Annotated[str | None, QueryParameter(name="startDate")] = None,
        end: Annotated[str | None, QueryParameter(name="endDate")] = None,
    ) -> Answer[Usage]:
        if period not in usage.PERIODS:
            raise ApiError(400, f"period must be one of {', '.join(usage.PERIODS)}")
        async with runtime.pool.acquire() as conn:
            await load(conn, server_id)
            data = await usage.series(
                conn,
                "server",
                server_id,
                period,
                parse_date(start, "startDate"),
                parse_date(end, "endDate"),
            )
        return Answer(data=data)

    return [
        list_servers,
        get_server,
        transfer,
        create_server,
        update_server,
        delete_server,
        mark_stopped,
        update_variables,
        admission,
        suspend,
        unsuspend,
        reset_crash_count,
        restart_policy,
        logs,
        backups,
        command_status,
        server_usage,
    ]
