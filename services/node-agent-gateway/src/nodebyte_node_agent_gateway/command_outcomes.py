"""How a command ends: acknowledged or failed, each with its event, in the caller's transaction."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import asyncpg

from nodebyte_common import events, outbox
from nodebyte_node_agent_gateway import backup_commands, backup_store, command_store
from nodebyte_node_agent_gateway.metrics import COMMANDS

SOURCE = "nodebyte/node-agent-gateway"


async def acknowledged(
    conn: asyncpg.Connection,
    request_id: UUID,
    node_id: UUID,
    by: Literal["agent", "transport"],
    replica: str,
) -> bool:
    row = await command_store.acknowledge(conn, request_id, node_id, replica)
    if row is None:
        return False
    await backup_commands.on_acknowledged(conn, request_id, row["action"])
    await outbox.enqueue(
        conn,
        events.ServerCommandAcknowledged(
            request_id=request_id,
            server_id=row["server_id"],
            node_id=node_id,
            action=row["action"],
            acknowledged_by=by,
            requested_by=row["requested_by"],
            acknowledged_at=row["finished_at"],
        ),
        source=SOURCE,
    )
    COMMANDS.labels(row["action"], "acknowledged").inc()
    return True


async def failed(
    conn: asyncpg.Connection,
    request_id: UUID,
    reason: str,
    node_id: UUID | None = None,
    *,
    undo: bool = True,
) -> bool:
    """Fail an open command (recorded as routed or delivered); with `undo`, what was
    prepared for it (a server made `restoring`, a backup `deleting`) is undone."""
    row = await command_store.fail(conn, request_id, reason, node_id)
    if row is None:
        return False
    if undo:
        await backup_commands.on_failed(conn, request_id, row["server_id"], row["action"])
    await announce_failure(
        conn,
        request_id=request_id,
        server_id=row["server_id"],
        node_id=row["node_id"],
        action=row["action"],
        reason=reason,
        requested_by=row["requested_by"],
    )
    return True


async def announce_failure(
    conn: asyncpg.Connection,
    *,
    request_id: UUID,
    server_id: UUID,
    node_id: UUID | None,
    action: str,
    reason: str,
    requested_by: str | None,
) -> None:
    """`server.command_failed`, and a failed backup row when it was a backup."""
    if action == "backup":
        await backup_store.fail(conn, request_id, reason)
    await outbox.enqueue(
        conn,
        events.ServerCommandFailed(
            request_id=request_id,
            server_id=server_id,
            node_id=node_id,
            action=action,
            reason=reason,
            requested_by=requested_by,
        ),
        source=SOURCE,
    )
    COMMANDS.labels(action, "failed").inc()


async def fail_timed_out(conn: asyncpg.Connection, timeout_seconds: float) -> int:
    rows = await command_store.fail_timed_out(conn, timeout_seconds)
    for row in rows:
        await backup_commands.on_failed(conn, row["request_id"], row["server_id"], row["action"])
        await announce_failure(
            conn,
            request_id=row["request_id"],
            server_id=row["server_id"],
            node_id=row["node_id"],
            action=row["action"],
            reason="timeout",
            requested_by=row["requested_by"],
        )
    return len(rows)
