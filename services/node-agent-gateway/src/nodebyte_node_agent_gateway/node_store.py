"""SQL for nodes and their agent sessions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

import asyncpg

# API field -> column, for the fields an admin may set.
NODE_COLUMNS = {
    "name": "name",
    "description": "description",
    "location_id": "location_id",
    "hostname": "hostname",
    "public_address": "public_address",
    "max_memory_mb": "max_memory_mb",
    "max_cpu_cores": "max_cpu_cores",
}


async def insert(conn: asyncpg.Connection, node_id: UUID, fields: dict[str, Any]) -> asyncpg.Record:
    columns = ["id", *(NODE_COLUMNS[f] for f in fields)]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return await conn.fetchrow(
        f"INSERT INTO nodes ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
        node_id,
        *fields.values(),
    )


async def update(
    conn: asyncpg.Connection, node_id: UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    if not fields:
        return await get(conn, node_id)
    sets = ", ".join(f"{NODE_COLUMNS[f]} = ${i}" for i, f in enumerate(fields, start=2))
    return await conn.fetchrow(
        f"UPDATE nodes SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
        node_id,
        *fields.values(),
    )


async def get(conn: asyncpg.Connection, node_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM nodes WHERE id = $1", node_id)


async def page(
    conn: asyncpg.Connection, offset: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        "SELECT * FROM nodes ORDER BY created_at, id OFFSET $1 LIMIT $2", offset, limit
    )
    total = await conn.fetchval("SELECT count(*) FROM nodes")
    return rows, total


async def servers_of(
    conn: asyncpg.Connection, node_ids: list[UUID]
) -> dict[UUID, list[asyncpg.Record]]:
    rows = await conn.fetch(
        """SELECT id, node_id, name, state, suspended_at FROM servers
           WHERE node_id = ANY($1::uuid[]) ORDER BY created_at""",
        node_ids,
    )
    by_node: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        by_node[row["node_id"]].append(row)
    return by_node


async def has_servers(conn: asyncpg.Connection, node_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM servers WHERE node_id = $1 LIMIT 1", node_id))


async def delete(conn: asyncpg.Connection, node_id: UUID) -> bool:
    return (
        await conn.fetchval("DELETE FROM nodes WHERE id = $1 RETURNING true", node_id) is not None
    )


async def server_ids(conn: asyncpg.Connection, node_id: UUID) -> set[UUID]:
    rows = await conn.fetch("SELECT id FROM servers WHERE node_id = $1", node_id)
    return {row["id"] for row in rows}


async def server_ids_of(conn: asyncpg.Connection, node_ids: list[UUID]) -> dict[UUID, set[UUID]]:
    """The servers of each of `node_ids` (an empty set for a node without any)."""
    found: dict[UUID, set[UUID]] = {node_id: set() for node_id in node_ids}
    rows = await conn.fetch(
        "SELECT node_id, id FROM servers WHERE node_id = ANY($1::uuid[])", node_ids
    )
    for row in rows:
        found[row["node_id"]].add(row["id"])
    return found


async def mark_online(
    conn: asyncpg.Connection,
    node_id: UUID,
    session_id: UUID,
    replica: str,
    agent_version: str | None,
) -> bool:
    """Record the new session; True when the node was offline before (a real reconnect)."""
    was_online = await conn.fetchval(
        """WITH before AS (SELECT id, is_online FROM nodes WHERE id = $1 FOR UPDATE)
           UPDATE nodes n SET is_online = true, session_id = $2, replica = $3,
                  agent_version = $4, connected_at = now(), last_seen_at = now(),
                  offline_alerted = false
           FROM before WHERE n.id = before.id RETURNING before.is_online""",
        node_id,
        session_id,
        replica,
        agent_version,
    )
    return not was_online


async def mark_offline(conn: asyncpg.Connection, node_id: UUID, session_id: UUID) -> bool:
    """End `session_id` if it is still the node's session; True when it was."""
    ended = await conn.fetchval(
        """UPDATE nodes SET is_online = false, session_id = NULL, replica = NULL
           WHERE id = $1 AND session_id = $2 RETURNING true""",
        node_id,
        session_id,
    )
    return bool(ended)


async def holder(conn: asyncpg.Connection, node_id: UUID) -> str | None:
    """The replica recorded as holding the node's agent, if any."""
    return await conn.fetchval(
        "SELECT replica FROM nodes WHERE id = $1 AND session_id IS NOT NULL", node_id
    )
