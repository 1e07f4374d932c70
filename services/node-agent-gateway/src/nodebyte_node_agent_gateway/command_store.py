"""SQL for commands on their way to agents: routed → delivered → acknowledged, or failed."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def exists(conn: asyncpg.Connection, request_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM server_commands WHERE request_id = $1", request_id
    )
    return bool(found)


async def insert_routed(
    conn: asyncpg.Connection,
    *,
    request_id: UUID,
    server_id: UUID,
    node_id: UUID,
    action: str,
    requested_by: str | None,
) -> bool:
    """Record a command about to be routed; False when the request id was seen before."""
    inserted = await conn.fetchval(
        """INSERT INTO server_commands (request_id, server_id, node_id, action, status,
                                        requested_by)
           VALUES ($1, $2, $3, $4, 'routed', $5)
           ON CONFLICT (request_id) DO NOTHING RETURNING true""",
        request_id,
        server_id,
        node_id,
        action,
        requested_by,
    )
    return bool(inserted)


async def mark_delivered(
    conn: asyncpg.Connection, request_id: UUID, *, replica: str, awaiting_ack: bool
) -> asyncpg.Record | None:
    """On its way into the agent's socket (taken by this replica)."""
    return await conn.fetchrow(
        """UPDATE server_commands
           SET status = 'delivered', awaiting_ack = $3, delivered_by = $2, delivered_at = now()
           WHERE request_id = $1 AND status = 'routed' RETURNING *""",
        request_id,
        replica,
        awaiting_ack,
    )


async def acknowledge(
    conn: asyncpg.Connection, request_id: UUID, node_id: UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE server_commands SET status = 'acknowledged', finished_at = now()
           WHERE request_id = $1 AND node_id = $2 AND status IN ('routed', 'delivered')
           RETURNING *""",
        request_id,
        node_id,
    )


async def fail(
    conn: asyncpg.Connection, request_id: UUID, reason: str, node_id: UUID | None = None
) -> asyncpg.Record | None:
    """Fail a command still open; None when it had already finished."""
    return await conn.fetchrow(
        """UPDATE server_commands SET status = 'failed', reason = $2, finished_at = now()
           WHERE request_id = $1 AND ($3::uuid IS NULL OR node_id = $3)
             AND status IN ('routed', 'delivered')
           RETURNING *""",
        request_id,
        reason,
        node_id,
    )


async def fail_timed_out(conn: asyncpg.Connection, timeout_seconds: float) -> list[asyncpg.Record]:
    """Fail commands that were neither delivered nor acknowledged in time."""
    return await conn.fetch(
        """WITH late AS (
               SELECT request_id FROM server_commands
               WHERE status IN ('routed', 'delivered')
                 AND requested_at < now() - make_interval(secs => $1)
               FOR UPDATE SKIP LOCKED)
           UPDATE server_commands c SET status = 'failed', reason = 'timeout',
                  finished_at = now()
           FROM late WHERE c.request_id = late.request_id RETURNING c.*""",
        timeout_seconds,
    )


async def get(conn: asyncpg.Connection, server_id: UUID, request_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM server_commands WHERE request_id = $1 AND server_id = $2",
        request_id,
        server_id,
    )
