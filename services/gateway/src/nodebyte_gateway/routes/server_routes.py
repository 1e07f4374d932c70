"""Servers on the nodes (`/api/servers`): registration, power actions, console, backups.

Queries and registration go to the node-agent-gateway's internal API. Power
actions, console commands and backups are commands: the gateway asks the
node-agent-gateway whether the server may take the action now (404, 409, or
423 when suspended), then writes `server.command_requested` to its outbox; the
event's id is the request id, so a status poll right after the answer finds
the command pending, never missing. Whether it reached the agent is told by
`server.command_acknowledged` / `server.command_failed` and the status route.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.backup_contracts import Backup, BackupCommandAccepted
from nodebyte_common.contracts.envelope import Answer, Empty, Nothing, PagedAnswer
from nodebyte_common.contracts.nodes import Usage, UsagePeriod, UsageQuery
from nodebyte_common.contracts.servers import (
    CommandBody,
    CommandStatus,
    ConsoleLine,
    CrashCountReset,
    LogQuery,
    RestartPolicy,
    RestartPolicyBody,
    Server,
    ServerCreate,
    ServerQuery,
    ServerUpdate,
    StopBody,
    SuspendBody,
)
from nodebyte_common.envelope import ApiError
from nodebyte_common.server_templates import ServerVariables, StopMarked, VariablesUpdate
from nodebyte_common.server_transfers import TransferOrder, TransferRequest, TransferView
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.openapi_links import CREATES, Creates
from nodebyte_gateway.edge.retries import retry_id, retry_key
from nodebyte_gateway.routes.node_routes import AGENTS, upstream_error

SOURCE = "nodebyte/gateway"
TAGS = ["servers"]
BACKUP_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# A backup the node keeps: its deletion and restore (links in the OpenAPI document).
BACKUP = "/api/servers/{server_id}/backups/{backup_id}"

POWER_PERMISSIONS = {
    "start": catalogue.SERVER_START,
    "stop": catalogue.SERVER_STOP,
    "restart": catalogue.SERVER_RESTART,
    "kill": catalogue.SERVER_KILL,
    "install": catalogue.SERVER_INSTALL,
    "command": catalogue.SERVER_CONSOLE,
}
# Request fields worth keeping in the audit entry of an action.
AUDIT_KEEP = {"command": ("command",), "stop": ("timeout",)}
ACTION_MESSAGES = {
    "start": "Server start initiated",
    "stop": "Server stop initiated",
    "restart": "Server restart initiated",
    "kill": "Server kill initiated",
    "install": "Installation started",
    "command": "Command sent",
}


class BackupBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=BACKUP_NAME)] | None = None


class NoBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An action that takes no input: an empty object, or no body at all."""


class CommandAccepted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Queued: follow it at /api/servers/{id}/commands/{requestId}."""

    request_id: UUID
    server_id: UUID
    action: str
    status: Literal["pending"] = "pending"


class BackupStarted(CommandAccepted, frozen=True, kw_only=True):
    backup_id: UUID
    backup_name: str


class CommandQueue:
    """Admission by the owner, then `server.command_requested` through the outbox."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.agents = ctx.client(AGENTS)

    async def submit(
        self,
        server_id: UUID,
        action: str,
        payload: dict[str, Any] | None = None,
        requested_by: str | None = None,
        retry_of: str | None = None,
    ) -> UUID:
        """Queue the command; `retry_of` (the caller's Idempotency-Key, scoped to the
        caller) names one request: asked again, the same command id comes back and
        nothing more is queued (the owner, too, routes one command per id)."""
        if retry_of is None:
            request_id = uuid6.uuid7()
        else:
            # Looked up before admission: the first command may have moved the server on
            # (installing), and its retry must still get the same answer.
            request_id = retry_id(retry_of, server_id, action)
            if await self.accepted_here(server_id, request_id) is not None:
                return request_id
        params = {"action": action}
        if payload and "backupId" in payload:  # the owner checks the backup is ready too
            params["backupId"] = payload["backupId"]
        status, body = await self.agents.call(
            "GET", f"/servers/{server_id}/admission", params=params
        )
        if status != 200:
            raise upstream_error(status, body)
        event = events.ServerCommandRequested(
            request_id=request_id,
            server_id=server_id,
            node_id=UUID(body["data"]["nodeId"]),
            action=action,  # type: ignore[arg-type]
            payload=payload or {},
            requested_by=requested_by,
        )
        try:
            async with self.ctx.runtime.pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, event, source=SOURCE, event_id=request_id)
        except asyncpg.UniqueViolationError:  # the same retry, asked twice at once
            pass
        return request_id

    async def accepted_here(self, server_id: UUID, request_id: UUID) -> str | None:
        """The action of a command this gateway accepted (its outbox row), if it did."""
        async with self.ctx.runtime.pool.acquire() as conn:
            payload = await conn.fetchval(
                "SELECT payload FROM outbox WHERE id = $1 AND type = $2",
                request_id,
                events.ServerCommandRequested.TYPE,
            )
        if payload is None:
            return None
        event = msgspec.json.decode(payload, type=events.ServerCommandRequested)
        return event.action if event.server_id == server_id else None


def accepted(request_id: UUID, server_id: UUID, action: str) -> CommandAccepted:
    return CommandAccepted(request_id=request_id, server_id=server_id, action=action)


def pending(request_id: UUID, server_id: UUID, action: str) -> CommandStatus:
    return CommandStatus(
        request_id=request_id, server_id=server_id, action=action, status="pending"
    )


async def audited_backup_command(
    ctx: GatewayContext,
    commands: CommandQueue,
    request: Request,
    server_id: UUID,
    backup_id: UUID,
    action: str,
) -> UUID:
    """Queue a restore or delete of a backup; the attempt and its outcome are audited."""
    facts: dict[str, Any] = {"backupId": str(backup_id)}
    try:
        request_id = await commands.submit(
            server_id,
            action,
            {"backupId": str(backup_id)},
            requested_by=caller(request).id,
            retry_of=retry_key(request),
        )
    except ApiError as refused:
        facts.update(outcome="refused", status=refused.status, reason=refused.message)
        raise
    else:
        facts.update(outcome="accepted", requestId=str(request_id))
        return request_id
    finally:
        async with ctx.runtime.pool.acquire() as conn:
            await audit.record(
                conn, None, f"server.{action}", ("server", server_id), None, facts, request
            )


def routes(ctx: GatewayContext) -> list[Any]:
    return [*forwarded(ctx), *commanded(ctx)]


def forwarded(ctx: GatewayContext) -> list[Any]:
    """What the owner answers as it is: queries, registration, settings of a server."""
    server = "/api/servers/{server_id:uuid}"
    internal = "/servers/{server_id}"
    table = [
        Forward("GET", "/api/servers", "/servers", catalogue.SERVER_READ, PagedAnswer[Server],
                "List servers", query=ServerQuery),
        Forward("GET", server, internal, catalogue.SERVER_READ, Answer[Server],
                "Server details (with its node and latest transfer)"),
        Forward("POST", "/api/servers", "/servers", catalogue.SERVER_CREATE, Answer[Server],
                "Register a server on a node", body=ServerCreate, status=201,
                audit=audit.action("server.create"),
                refuses={404: "No template has this templateId"}),
        Forward("PUT", server, internal, catalogue.SERVER_UPDATE, Answer[Server],
                "Update a server (resources only while stopped)", body=ServerUpdate,
                audit=audit.action("server.update")),
        # a database host that cannot drop the server's databases is a public 503
        Forward("DELETE", server, internal, catalogue.SERVER_DELETE, Nothing,
                "Delete a stopped server (its databases are dropped from their hosts first)",
                audit=audit.action("server.delete")),
        Forward("POST", server + "/suspend", internal + "/suspend", catalogue.SERVER_SUSPEND,
                Answer[Server], "Suspend a server (stops it, blocks actions)", body=SuspendBody,
                audit=audit.action("server.suspend", keep=("reason",))),
        Forward("POST", server + "/unsuspend", internal + "/unsuspend",
                catalogue.SERVER_SUSPEND, Answer[Server], "Unsuspend a server",
                audit=audit.action("server.unsuspend")),
        Forward("POST", server + "/reset-crash-count", internal + "/reset-crash-count",
                catalogue.SERVER_UPDATE, Answer[CrashCountReset],
                "Reset the crash count (lets the restart policy restart it again)",
                audit=audit.action("server.crash_count.reset")),
        Forward("PATCH", server + "/restart-policy", internal + "/restart-policy",
                catalogue.SERVER_UPDATE, Answer[RestartPolicy],
                "Set the restart policy (always, on-failure, never) and crash limit",
                body=RestartPolicyBody,
                audit=audit.action("server.restart_policy.update",
                                   keep=("restartPolicy", "maxCrashCount"))),
        Forward("GET", server + "/logs", internal + "/logs", catalogue.SERVER_LOGS_READ,
                Answer[list[ConsoleLine]], "Past console lines (limit, stream, before)",
                query=LogQuery),
        Forward("GET", server + "/backups", internal + "/backups", catalogue.BACKUP_READ,
                Answer[list[Backup]], "List backups"),
        Forward("GET", server + "/usage/{period:str}", internal + "/usage/{period}",
                catalogue.SERVER_READ, Answer[Usage],
                "Server usage chart: daily, weekly or monthly", query=UsageQuery,
                path_types={"period": UsagePeriod}),
    ]  # fmt: skip
    return forward_routes(ctx, AGENTS, TAGS, table)


def commanded(ctx: GatewayContext) -> list[Any]:
    """What the gateway turns into commands for the server's agent, or completes itself."""
    agents = ctx.client(AGENTS)
    commands = CommandQueue(ctx)
    require = ctx.require

    async def marked_stopped(server_id: UUID) -> Answer[StopMarked]:
        """A stop with the node gone: no agent to tell, so the server is recorded stopped
        (audited as the route's `server.stop`, like any stop)."""
        path = f"/servers/{server_id}/mark-stopped"
        return await agents.call_as(Answer[StopMarked], "POST", path)

    @put(
        "/api/servers/{server_id:uuid}/variables",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        summary="Change the server's variables (its startup is rendered with them)",
        opt=audit.action("server.variables.update", keep=("variables",)),
    )
    async def update_variables(
        server_id: FromPath[UUID], data: JSONBody[VariablesUpdate]
    ) -> Answer[ServerVariables]:
        path = f"/servers/{server_id}/variables"
        changed = await agents.call_as(Answer[ServerVariables], "PUT", path, json=data)
        return Answer(data=changed.data, message="Variables updated")

    def power_action(action: str, body_type: Any, *, required: bool = False) -> HTTPRouteHandler:
        async def handler(
            server_id: FromPath[UUID], request: Request, data: Any = None
        ) -> Answer[CommandAccepted] | Answer[StopMarked]:
            payload = {k: v for k, v in msgspec.to_builtins(data or {}).items() if v is not None}
            retry_of = retry_key(request)
            try:
                request_id = await commands.submit(server_id, action, payload, retry_of=retry_of)
            except ApiError as refused:
                if action != "stop" or refused.code != "NODE_OFFLINE":
                    raise
                return await marked_stopped(server_id)
            return Answer(
                data=accepted(request_id, server_id, action), message=ACTION_MESSAGES[action]
            )

        handler.__annotations__["data"] = body_type  # each action its own body
        if required:
            handler.__defaults__ = None
        return post(
            f"/api/servers/{{server_id:uuid}}/{action}",
            guards=[require(POWER_PERMISSIONS[action])],
            tags=TAGS,
            status_code=200,
            summary=ACTION_MESSAGES[action],
            name=f"server-{action}",
            opt=audit.action(f"server.{action}", keep=AUDIT_KEEP.get(action, ())),
        )(handler)

    actions = [
        power_action("start", JSONBody[NoBody | None]),
        power_action("stop", JSONBody[StopBody | None]),
        power_action("restart", JSONBody[NoBody | None]),
        power_action("kill", JSONBody[NoBody | None]),
        power_action("install", JSONBody[NoBody | None]),
        power_action("command", JSONBody[CommandBody], required=True),
    ]

    @post(
        "/api/servers/{server_id:uuid}/transfer",
        guards=[require(catalogue.SERVER_TRANSFER)],
        tags=TAGS,
        status_code=200,
        summary="Move a server and its files to another node (stopped first if running)",
        opt=audit.action("server.transfer", keep=("targetNodeId",)),
    )
    async def transfer(
        server_id: FromPath[UUID], data: JSONBody[TransferRequest], request: Request
    ) -> Answer[TransferView]:
        order = TransferOrder(
            target_node_id=data.target_node_id, requested_by=caller(request).label
        )
        path = f"/servers/{server_id}/transfer"
        return await agents.call_as(Answer[TransferView], "POST", path, json=order)

    @get(
        "/api/servers/{server_id:uuid}/commands/{request_id:uuid}",
        guards=[require(catalogue.SERVER_READ)],
        tags=TAGS,
        summary="Where a command is: pending, routed, delivered, acknowledged or failed",
    )
    async def command_status(
        server_id: FromPath[UUID], request_id: FromPath[UUID]
    ) -> Answer[CommandStatus]:
        try:
            return await agents.call_as(
                Answer[CommandStatus], "GET", f"/servers/{server_id}/commands/{request_id}"
            )
        except ApiError as refused:
            action = await commands.accepted_here(server_id, request_id)
            if refused.status != 404 or action is None:
                raise
        # accepted here, not yet routed by the owner: pending
        return Answer(data=pending(request_id, server_id, action))

    @post(
        "/api/servers/{server_id:uuid}/backups",
        guards=[require(catalogue.BACKUP_CREATE)],
        tags=TAGS,
        status_code=200,
        opt={
            **audit.action("server.backup.create", keep=("name",)),
            CREATES: Creates(items=(BACKUP, BACKUP + "/restore"), id="/data/backupId"),
        },
        summary="Create a backup on the node",
    )
    async def create_backup(
        server_id: FromPath[UUID], data: JSONBody[BackupBody | None] = None
    ) -> Answer[BackupStarted]:
        name = (data and data.name) or datetime.now(UTC).strftime("backup-%Y%m%d-%H%M%S")
        request_id = await commands.submit(server_id, "backup", {"name": name})
        started = BackupStarted(
            request_id=request_id,
            server_id=server_id,
            action="backup",
            backup_id=request_id,
            backup_name=name,
        )
        return Answer(data=started, message="Backup creation started")

    async def backup_command(
        request: Request, server_id: UUID, backup_id: UUID, action: str, message: str
    ) -> Answer[BackupCommandAccepted]:
        request_id = await audited_backup_command(
            ctx, commands, request, server_id, backup_id, action
        )
        answer = BackupCommandAccepted(
            request_id=str(request_id),
            server_id=str(server_id),
            backup_id=str(backup_id),
            action=action,  # type: ignore[arg-type]
        )
        return Answer(data=answer, message=message)

    backup = "/api/servers/{server_id:uuid}/backups/{backup_id:uuid}"

    @post(
        backup + "/restore",
        guards=[require(catalogue.BACKUP_RESTORE)],
        tags=TAGS,
        status_code=200,
        summary="Restore a stopped server's files from a completed backup",
        opt=audit.in_handler(),  # audited_backup_command records it
    )
    async def restore_backup(
        server_id: FromPath[UUID],
        backup_id: FromPath[UUID],
        request: Request,
        data: JSONBody[Empty | None] = None,  # takes no input
    ) -> Answer[BackupCommandAccepted]:
        message = "Backup restoration started"
        return await backup_command(request, server_id, backup_id, "restore_backup", message)

    @delete(
        backup,
        guards=[require(catalogue.BACKUP_DELETE)],
        tags=TAGS,
        status_code=200,
        summary="Delete a backup (its archive on the node, then its record)",
        opt=audit.in_handler(),  # audited_backup_command records it
    )
    async def delete_backup(
        server_id: FromPath[UUID], backup_id: FromPath[UUID], request: Request
    ) -> Answer[BackupCommandAccepted]:
        message = "Backup deletion started"
        return await backup_command(request, server_id, backup_id, "delete_backup", message)

    return [
        update_variables,
        *actions,
        transfer,
        command_status,
        create_backup,
        restore_backup,
        delete_backup,
    ]
