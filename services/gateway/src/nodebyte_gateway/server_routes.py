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
from typing import Annotated, Any
from uuid import UUID, uuid5

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, patch, post, put
from litestar.params import FromPath

from nodebyte_common import events, idempotency, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.backup_contracts import BackupCommandAccepted
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.server_templates import ServerVariables, StopMarked, VariablesUpdate
from nodebyte_common.server_transfers import TransferOrder, TransferRequest, TransferView
from nodebyte_gateway import audit
from nodebyte_gateway.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.forwarding import relay
from nodebyte_gateway.node_routes import (
    AGENTS,
    forward,
    json_object,
    query,
    upstream_error,
    usage_period,
)

SOURCE = "nodebyte/gateway"
# Command ids of requests named by an Idempotency-Key: the same key, the same id.
RETRY_NAMESPACE = UUID("6f1c2a4e-3b5d-4e8f-9a7c-1d2e3f4a5b6c")
TAGS = ["servers"]
BACKUP_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

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


class StopBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    timeout: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None


class CommandBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    command: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class BackupBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=BACKUP_NAME)] | None = None


class NoBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


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
            request_id = uuid5(RETRY_NAMESPACE, f"{retry_of}:{server_id}:{action}")
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


def retry_key(request: Request) -> str | None:
    """The caller's Idempotency-Key, made the caller's own (two callers never share one)."""
    key = idempotency.key_of(request.headers)
    return None if key is None else f"{caller(request).id}:{key}"


def accepted(request_id: UUID, server_id: UUID, action: str) -> dict[str, Any]:
    return {
        "requestId": str(request_id),
        "serverId": str(server_id),
        "action": action,
        "status": "pending",
    }


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
    agents = ctx.client(AGENTS)
    commands = CommandQueue(ctx)
    require = ctx.require

    async def marked_stopped(server_id: UUID) -> Any:
        """A stop with the node gone: no agent to tell, so the server is recorded stopped
        (audited as the route's `server.stop`, like any stop)."""
        status, answer = await agents.call("POST", f"/servers/{server_id}/mark-stopped")
        if status >= 400:
            raise upstream_error(status, answer)
        marked = msgspec.convert(answer["data"], StopMarked)
        return ok(marked, message=answer.get("message"))

    @get("/api/servers", guards=[require(catalogue.SERVER_READ)], tags=TAGS, summary="List servers")
    async def list_servers(request: Request) -> Any:
        return await forward(agents, "GET", "/servers", params=query(request))

    @get(
        "/api/servers/{server_id:uuid}",
        guards=[require(catalogue.SERVER_READ)],
        tags=TAGS,
        summary="Server details",
    )
    async def get_server(server_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/servers/{server_id}")

    @post(
        "/api/servers",
        guards=[require(catalogue.SERVER_CREATE)],
        tags=TAGS,
        status_code=201,
        opt=audit.action("server.create"),
        summary="Register a server on a node",
    )
    async def create_server(request: Request) -> Any:
        return await forward(agents, "POST", "/servers", json=await json_object(request))

    @put(
        "/api/servers/{server_id:uuid}",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        summary="Update a server (resources only while stopped)",
        opt=audit.action("server.update"),
    )
    async def update_server(server_id: FromPath[UUID], request: Request) -> Any:
        body = await json_object(request)
        return await forward(agents, "PUT", f"/servers/{server_id}", json=body)

    @delete(
        "/api/servers/{server_id:uuid}",
        guards=[require(catalogue.SERVER_DELETE)],
        tags=TAGS,
        status_code=200,
        opt=audit.action("server.delete"),
        summary="Delete a stopped server (its databases are dropped from their hosts first)",
    )
    async def delete_server(server_id: FromPath[UUID]) -> Any:
        # relay: a database host that cannot drop the server's databases is a public 503
        return relay(*await agents.call("DELETE", f"/servers/{server_id}"))

    @put(
        "/api/servers/{server_id:uuid}/variables",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        summary="Change the server's variables (its startup is rendered with them)",
        opt=audit.action("server.variables.update", keep=("variables",)),
    )
    async def update_variables(server_id: FromPath[UUID], request: Request) -> Any:
        body = decode_body(await request.body(), VariablesUpdate, empty_ok=False)
        path = f"/servers/{server_id}/variables"
        status, answer = await agents.call("PUT", path, json=msgspec.to_builtins(body))
        if status >= 400:
            raise upstream_error(status, answer)
        changed = msgspec.convert(answer["data"], ServerVariables)
        return ok(changed, message="Variables updated")

    def suspension(which: str) -> Any:
        @post(
            f"/api/servers/{{server_id:uuid}}/{which}",
            guards=[require(catalogue.SERVER_SUSPEND)],
            tags=TAGS,
            status_code=200,
            summary="Suspend (stops it, blocks actions) or unsuspend a server",
            name=f"server-{which}",
            opt=audit.action(f"server.{which}", keep=("reason",)),
        )
        async def handler(server_id: FromPath[UUID], request: Request) -> Any:
            body = await json_object(request) if which == "suspend" else None
            return await forward(agents, "POST", f"/servers/{server_id}/{which}", json=body)

        return handler

    def power_action(action: str, body_type: type[msgspec.Struct]) -> Any:
        @post(
            f"/api/servers/{{server_id:uuid}}/{action}",
            guards=[require(POWER_PERMISSIONS[action])],
            tags=TAGS,
            status_code=200,
            summary=ACTION_MESSAGES[action],
            name=f"server-{action}",
            opt=audit.action(f"server.{action}", keep=AUDIT_KEEP.get(action, ())),
        )
        async def handler(server_id: FromPath[UUID], request: Request) -> Any:
            body = decode_body(await request.body(), body_type)
            payload = {k: v for k, v in msgspec.to_builtins(body).items() if v is not None}
            retry_of = retry_key(request)
            try:
                request_id = await commands.submit(server_id, action, payload, retry_of=retry_of)
            except ApiError as refused:
                if action != "stop" or refused.code != "NODE_OFFLINE":
                    raise
                return await marked_stopped(server_id)
            return ok(accepted(request_id, server_id, action), message=ACTION_MESSAGES[action])

        return handler

    actions = [
        power_action("start", NoBody),
        power_action("stop", StopBody),
        power_action("restart", NoBody),
        power_action("kill", NoBody),
        power_action("install", NoBody),
        power_action("command", CommandBody),
    ]

    @post(
        "/api/servers/{server_id:uuid}/transfer",
        guards=[require(catalogue.SERVER_TRANSFER)],
        tags=TAGS,
        status_code=200,
        summary="Move a server and its files to another node (stopped first if running)",
        opt=audit.action("server.transfer", keep=("targetNodeId",)),
    )
    async def transfer(server_id: FromPath[UUID], request: Request) -> Any:
        body = decode_body(await request.body(), TransferRequest, empty_ok=False)
        principal = caller(request)
        order = TransferOrder(target_node_id=body.target_node_id, requested_by=principal.label)
        path = f"/servers/{server_id}/transfer"
        status, answer = await agents.call("POST", path, json=msgspec.to_builtins(order))
        if status != 200:
            raise upstream_error(status, answer)
        view = msgspec.convert(answer["data"], TransferView)
        return ok(view, message=answer.get("message"))

    @get(
        "/api/servers/{server_id:uuid}/commands/{request_id:uuid}",
        guards=[require(catalogue.SERVER_READ)],
        tags=TAGS,
        summary="Where a command is: pending, routed, delivered, acknowledged or failed",
    )
    async def command_status(server_id: FromPath[UUID], request_id: FromPath[UUID]) -> Any:
        status, body = await agents.call("GET", f"/servers/{server_id}/commands/{request_id}")
        if status == 200:
            return ok(body["data"])
        if status == 404:
            action = await commands.accepted_here(server_id, request_id)
            if action is not None:
                return ok(accepted(request_id, server_id, action))
        raise upstream_error(status, body)

    @post(
        "/api/servers/{server_id:uuid}/reset-crash-count",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        status_code=200,
        summary="Reset the crash count (lets the restart policy restart it again)",
        opt=audit.action("server.crash_count.reset"),
    )
    async def reset_crash_count(server_id: FromPath[UUID]) -> Any:
        return await forward(agents, "POST", f"/servers/{server_id}/reset-crash-count")

    @patch(
        "/api/servers/{server_id:uuid}/restart-policy",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        summary="Set the restart policy (always, on-failure, never) and crash limit",
        opt=audit.action("server.restart_policy.update", keep=("restartPolicy", "maxCrashCount")),
    )
    async def restart_policy(server_id: FromPath[UUID], request: Request) -> Any:
        body = await json_object(request)
        return await forward(agents, "PATCH", f"/servers/{server_id}/restart-policy", json=body)

    @get(
        "/api/servers/{server_id:uuid}/logs",
        guards=[require(catalogue.SERVER_LOGS_READ)],
        tags=TAGS,
        summary="Past console lines (limit, stream, before)",
    )
    async def logs(server_id: FromPath[UUID], request: Request) -> Any:
        return await forward(agents, "GET", f"/servers/{server_id}/logs", params=query(request))

    @get(
        "/api/servers/{server_id:uuid}/backups",
        guards=[require(catalogue.BACKUP_READ)],
        tags=TAGS,
        summary="List backups",
    )
    async def list_backups(server_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/servers/{server_id}/backups")

    @post(
        "/api/servers/{server_id:uuid}/backups",
        guards=[require(catalogue.BACKUP_CREATE)],
        tags=TAGS,
        status_code=200,
        opt=audit.action("server.backup.create", keep=("name",)),
        summary="Create a backup on the node",
    )
    async def create_backup(server_id: FromPath[UUID], request: Request) -> Any:
        body = decode_body(await request.body(), BackupBody)
        name = body.name or datetime.now(UTC).strftime("backup-%Y%m%d-%H%M%S")
        request_id = await commands.submit(server_id, "backup", {"name": name})
        return ok(
            {
                **accepted(request_id, server_id, "backup"),
                "backupId": str(request_id),
                "backupName": name,
            },
            message="Backup creation started",
        )

    @post(
        "/api/servers/{server_id:uuid}/backups/{backup_id:uuid}/restore",
        guards=[require(catalogue.BACKUP_RESTORE)],
        tags=TAGS,
        status_code=200,
        summary="Restore a stopped server's files from a completed backup",
        opt=audit.in_handler(),  # audited_backup_command records it
    )
    async def restore_backup(
        server_id: FromPath[UUID], backup_id: FromPath[UUID], request: Request
    ) -> Any:
        decode_body(await request.body(), NoBody)
        request_id = await audited_backup_command(
            ctx, commands, request, server_id, backup_id, "restore_backup"
        )
        answer = BackupCommandAccepted(
            request_id=str(request_id),
            server_id=str(server_id),
            backup_id=str(backup_id),
            action="restore_backup",
        )
        return ok(answer, message="Backup restoration started")

    @delete(
        "/api/servers/{server_id:uuid}/backups/{backup_id:uuid}",
        guards=[require(catalogue.BACKUP_DELETE)],
        tags=TAGS,
        status_code=200,
        summary="Delete a backup (its archive on the node, then its record)",
        opt=audit.in_handler(),  # audited_backup_command records it
    )
    async def delete_backup(
        server_id: FromPath[UUID], backup_id: FromPath[UUID], request: Request
    ) -> Any:
        request_id = await audited_backup_command(
            ctx, commands, request, server_id, backup_id, "delete_backup"
        )
        answer = BackupCommandAccepted(
            request_id=str(request_id),
            server_id=str(server_id),
            backup_id=str(backup_id),
            action="delete_backup",
        )
        return ok(answer, message="Backup deletion started")

    @get(
        "/api/servers/{server_id:uuid}/usage/{period:str}",
        guards=[require(catalogue.SERVER_READ)],
        tags=TAGS,
        summary="Server usage chart: daily, weekly or monthly",
    )
    async def server_usage(
        server_id: FromPath[UUID], period: FromPath[str], request: Request
    ) -> Any:
        path = f"/servers/{server_id}/usage/{usage_period(period)}"
        return await forward(agents, "GET", path, params=query(request))

    return [
        list_servers,
        get_server,
        create_server,
        update_server,
        delete_server,
        update_variables,
        suspension("suspend"),
        suspension("unsuspend"),
        *actions,
        transfer,
        command_status,
        reset_crash_count,
        restart_policy,
        logs,
        list_backups,
        create_backup,
        restore_backup,
        delete_backup,
        server_usage,
    ]
