"""SQL for servers: registration, runtime state, crash counting, suspension."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

SERVER_COLUMNS = {
    "name": "name",
    "description": "description",
    "node_id": "node_id",
    "docker_image": "docker_image",
    "startup_command": "startup_command",
    "environment": "environment",
    "allocated_memory_mb": "allocated_memory_mb",
    "allocated_cpu_cores": "allocated_cpu_cores",
    "allocated_disk_mb": "allocated_disk_mb",
    "primary_port": "primary_port",
    "network_mode": "network_mode",
    "restart_policy": "restart_policy",
    "max_crash_count": "max_crash_count",
    "template_id": "template_id",
    "variables": "variables",
    "backup_limit": "backup_limit",
}
# Changing these needs the server stopped (the reference's "must be stopped to update").
RESOURCE_FIELDS = frozenset(
    {
        "docker_image",
        "startup_command",
        "environment",
        "allocated_memory_mb",
        "allocated_cpu_cores",
        "allocated_disk_mb",
        "primary_port",
        "network_mode",
    }
)


async def insert(
    conn: asyncpg.Connection, server_id: UUID, fields: dict[str, Any]
) -> asyncpg.Record:
    columns = ["id", *(SERVER_COLUMNS[f] for f in fields)]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return await conn.fetchrow(
        f"INSERT INTO servers ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
        server_id,
        *fields.values(),
    )


async def update(
    conn: asyncpg.Connection, server_id: UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    if not fields:
        return await get(conn, server_id)
    sets = ", ".join(f"{SERVER_COLUMNS[f]} = ${i}" for i, f in enumerate(fields, start=2))
    return await conn.fetchrow(
        f"UPDATE servers SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
        server_id,
        *fields.values(),
    )


SHORT_ID = 8  # hex digits of the server id: its UUIDv7's random tail (the head is a time)


def short_id(server_id: UUID) -> str:
    return server_id.hex[-SHORT_ID:]


async def ids_by_short_id(conn: asyncpg.Connection, short: str) -> list[UUID]:
    """The servers whose short id is `short` (two, rarely: the caller refuses both)."""
    rows = await conn.fetch(
        "SELECT id FROM servers WHERE right(replace(id::text, '-', ''), $2) = lower($1) LIMIT 2",
        short,
        SHORT_ID,
    )
    return [row["id"] for row in rows]


async def get(
    conn: asyncpg.Connection, server_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM servers WHERE id = $1{lock}", server_id)


async def on_node(
    conn: asyncpg.Connection, server_id: UUID, node_id: UUID
) -> asyncpg.Record | None:
    """The server, locked, when it is registered on `node_id`."""
    return await conn.fetchrow(
        "SELECT * FROM servers WHERE id = $1 AND node_id = $2 FOR UPDATE", server_id, node_id
    )


_SERVER_FILTER = """($1::uuid IS NULL OR node_id = $1)
    AND ($2::text IS NULL
         OR ($2 = 'suspended' AND suspended_at IS NOT NULL)
         OR (suspended_at IS NULL AND state = $2))"""


async def page(
    conn: asyncpg.Connection,
    *,
    node_id: UUID | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[asyncpg.Record], int]:
    """A page of servers, by node and by the reference's status (`suspended` included)."""
    rows = await conn.fetch(
        f"""SELECT * FROM servers WHERE {_SERVER_FILTER}
            ORDER BY created_at, id OFFSET $3 LIMIT $4""",
        node_id,
        status,
        offset,
        limit,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM servers WHERE {_SERVER_FILTER}", node_id, status
    )
    return rows, total


async def committed_resources(
    conn: asyncpg.Connection, node_id: UUID, excluding: UUID | None = None
) -> tuple[int, int]:
    """Memory (MB) and CPU cores already allocated on the node."""
    row = await conn.fetchrow(
        """SELECT coalesce(sum(allocated_memory_mb), 0) AS memory,
                  coalesce(sum(allocated_cpu_cores), 0) AS cpu
           FROM servers WHERE node_id = $1 AND ($2::uuid IS NULL OR id <> $2)""",
        node_id,
        excluding,
    )
    return int(row["memory"]), int(row["cpu"])


async def delete(conn: asyncpg.Connection, server_id: UUID) -> None:
    await conn.execute("DELETE FROM servers WHERE id = $1", server_id)


async def record_state(
    conn: asyncpg.Connection,
    server_id: UUID,
    *,
    state: str,
    desired: str,
    crashed: bool,
    exit_code: int | None,
) -> asyncpg.Record:
    """Store a new runtime state; a crash counts and stamps the crash."""
    return await conn.fetchrow(
        """UPDATE servers SET state = $2, desired_state = $3, state_changed_at = now(),
                  crash_count = crash_count + CASE WHEN $4 THEN 1 ELSE 0 END,
                  last_crash_at = CASE WHEN $4 THEN now() ELSE last_crash_at END,
                  last_exit_code = coalesce($5, last_exit_code),
                  updated_at = now()
           WHERE id = $1 RETURNING *""",
        server_id,
        state,
        desired,
        crashed,
        exit_code,
    )


async def reset_crash_count(conn: asyncpg.Connection, server_id: UUID) -> bool:
    done = await conn.fetchval(
        """UPDATE servers SET crash_count = 0, updated_at = now() WHERE id = $1
           RETURNING true""",
        server_id,
    )
    return bool(done)


async def set_restart_policy(
    conn: asyncpg.Connection, server_id: UUID, policy: str, max_crash_count: int | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE servers SET restart_policy = $2,
                  max_crash_count = coalesce($3, max_crash_count), updated_at = now()
           WHERE id = $1 RETURNING *""",
        server_id,
        policy,
        max_crash_count,
    )


async def suspend(
    conn: asyncpg.Connection, server_id: UUID, by: str | None, reason: str | None
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE servers SET suspended_at = now(), suspended_by = $2, suspension_reason = $3,
                  desired_state = 'stopped', updated_at = now()
           WHERE id = $1 RETURNING *""",
        server_id,
        by,
        reason,
    )


async def unsuspend(conn: asyncpg.Connection, server_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE servers SET suspended_at = NULL, suspended_by = NULL,
                  suspension_reason = NULL, updated_at = now()
           WHERE id = $1 RETURNING *""",
        server_id,
    )
