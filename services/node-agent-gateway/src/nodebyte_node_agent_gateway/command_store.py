"""SQL for commands on their way to agents: routed → delivered → acknowledged, or failed.

`routed`: recorded, with its frame, and handed to the replica holding the node.
`delivered`: claimed by a replica just before it writes the frame to the agent's
socket (see `claim`): only a routed command is ever sent, so it is sent once. A
command's deadline is `requested_at` (when a replica first took it off the
shared queue) plus COMMAND_TIMEOUT_SECONDS: never claimed after it, failed at it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def record_routed(
    conn: asyncpg.Connection,
    *,
    request_id: UUID,
    server_id: UUID,
    node_id: UUID,
    action: str,
    requested_by: str | None,
    desired: str | None,
    frame: dict[str, Any],
) -> bool:
    """Record a command about to be routed (with the frame it carries), and what the
    server should become, in one statement; False when this request id was recorded
    before (nothing changes)."""
    recorded = await conn.fetchval(
        """WITH cmd AS (
               INSERT INTO server_commands (request_id, server_id, node_id, action, status,
                                            requested_by, frame)
               VALUES ($1, $2, $3, $4, 'routed', $5, $7)
               ON CONFLICT (request_id) DO NOTHING RETURNING request_id),
           wish AS (
               UPDATE servers SET desired_state = $6
               WHERE id = $2 AND $6::text IS NOT NULL AND EXISTS (SELECT 1 FROM cmd))
           SELECT count(*) FROM cmd""",
        request_id,
        server_id,
        node_id,
        action,
        requested_by,
        desired,
        frame,
    )
    return recorded == 1


async def record_refused(
    conn: asyncpg.Connection,
    *,
    request_id: UUID,
    server_id: UUID,
    node_id: UUID,
    action: str,
    requested_by: str | None,
    reason: str,
) -> bool:
    """Record a command refused before routing; False when recorded before."""
    recorded = await conn.fetchval(
        """INSERT INTO server_commands (request_id, server_id, node_id, action, status, reason,
                                        requested_by, finished_at)
           VALUES ($1, $2, $3, $4, 'failed', $5, $6, now())
           ON CONFLICT (request_id) DO NOTHING RETURNING true""",
        request_id,
        server_id,
        node_id,
        action,
        reason,
        requested_by,
    )
    return bool(recorded)


async def claim(
    conn: asyncpg.Connection, request_ids: list[UUID], replica: str, timeout_seconds: float
) -> set[UUID]:
    """Of `request_ids`, those this replica may now send: routed, before their deadline,
    and now marked delivered by it (a concurrent claim, or a redelivery of a command
    already sent, gets nothing: the agent does not tell a repeated command apart)."""
    rows = await conn.fetch(
        """UPDATE server_commands SET status = 'delivered', delivered_at = now(),
                  delivered_by = $2
           WHERE request_id = ANY($1::uuid[]) AND status = 'routed'
             AND requested_at > now() - make_interval(secs => $3)
           RETURNING request_id""",
        request_ids,
        replica,
        timeout_seconds,
    )
    return {r["request_id"] for r in rows}


async def unclaim(conn: asyncpg.Connection, request_id: UUID, replica: str) -> None:
    """Back to routed: the socket refused the frame, so the agent never had it."""
    await conn.execute(
        """UPDATE server_commands SET status = 'routed', delivered_at = NULL,
                  delivered_by = NULL
           WHERE request_id = $1 AND status = 'delivered' AND delivered_by = $2""",
        request_id,
        replica,
    )


async def is_routed(conn: asyncpg.Connection, request_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT status = 'routed' FROM server_commands WHERE request_id = $1", request_id
        )
    )


async def open_for_node(
    conn: asyncpg.Connection, node_id: UUID, timeout_seconds: float
) -> list[asyncpg.Record]:
    """The node's routed (never sent) commands still before their deadline, oldest first."""
    return await conn.fetch(
        """SELECT request_id, server_id, action, frame,
                  extract(epoch FROM requested_at)::float8 AS routed_at
           FROM server_commands
           WHERE node_id = $1 AND status = 'routed' AND frame IS NOT NULL
             AND requested_at > now() - make_interval(secs => $2)
           ORDER BY requested_at""",
        node_id,
        timeout_seconds,
    )


async def acknowledge(
    conn: asyncpg.Connection, request_id: UUID, node_id: UUID, replica: str
) -> asyncpg.Record | None:
    """Acknowledged, on the replica holding the node (which delivered it)."""
    return await conn.fetchrow(
        """UPDATE server_commands SET status = 'acknowledged', finished_at = now(),
                  frame = NULL,
                  delivered_by = coalesce(delivered_by, $3),
                  delivered_at = coalesce(delivered_at, now())
           WHERE request_id = $1 AND node_id = $2 AND status IN ('routed', 'delivered')
           RETURNING *""",
        request_id,
        node_id,
        replica,
    )


async def fail(
    conn: asyncpg.Connection, request_id: UUID, reason: str, node_id: UUID | None = None
) -> asyncpg.Record | None:
    """Fail a command still open; None when it had already finished."""
    return await conn.fetchrow(
        """UPDATE server_commands SET status = 'failed', reason = $2, finished_at = now(),
                  frame = NULL
           WHERE request_id = $1 AND ($3::uuid IS NULL OR node_id = $3)
             AND status IN ('routed', 'delivered')
           RETURNING *""",
        request_id,
        reason,
        node_id,
    )


async def fail_timed_out(conn: asyncpg.Connection, timeout_seconds: float) -> list[asyncpg.Record]:
    """Fail commands not acknowledged by their deadline (sent or not)."""
    return await conn.fetch(
        """WITH late AS (
               SELECT request_id FROM server_commands
               WHERE status IN ('routed', 'delivered')
                 AND requested_at < now() - make_interval(secs => $1)
               FOR UPDATE SKIP LOCKED)
           UPDATE server_commands c SET status = 'failed', reason = 'timeout',
                  finished_at = now(), frame = NULL
           FROM late WHERE c.request_id = late.request_id RETURNING c.*""",
        timeout_seconds,
    )


async def get(conn: asyncpg.Connection, server_id: UUID, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM server_commands WHERE request_id = $1 AND server_id = $2",
        request_id,
        server_id,
    )
