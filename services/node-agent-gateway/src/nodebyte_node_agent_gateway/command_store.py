"""SQL for commands on their way to agents: routed → delivered → acknowledged, or failed."""

from __future__ import annotations

from datetime import datetime
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
) -> bool:
    """Record a command about to be routed, and what the server should become, in one
    statement; False when this request id was recorded before (nothing changes)."""
    recorded = await conn.fetchval(
        """WITH cmd AS (
               INSERT INTO server_commands (request_id, server_id, node_id, action, status,
                                            requested_by)
               VALUES ($1, $2, $3, $4, 'routed', $5)
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


async def mark_delivered(
    conn: asyncpg.Connection, deliveries: list[tuple[UUID, datetime]], replica: str
) -> None:
    """Record commands this replica wrote to agents' sockets (in batches, after the fact)."""
    await conn.execute(
        """UPDATE server_commands c SET status = 'delivered', delivered_at = v.at,
                  delivered_by = $3
           FROM unnest($1::uuid[], $2::timestamptz[]) AS v(request_id, at)
           WHERE c.request_id = v.request_id AND c.status = 'routed'""",
        [d[0] for d in deliveries],
        [d[1] for d in deliveries],
        replica,
    )


async def acknowledge(
    conn: asyncpg.Connection, request_id: UUID, node_id: UUID, replica: str
) -> asyncpg.Record | None:
    """Acknowledged, on the replica holding the node (which delivered it)."""
    return await conn.fetchrow(
        """UPDATE server_commands SET status = 'acknowledged', finished_at = now(),
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
