"""SQL for database hosts (the MySQL/MariaDB servers game databases are made on)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

WITH_COUNT = """SELECT h.*, (SELECT count(*) FROM game_databases d WHERE d.host_id = h.id)
                       AS database_count
                FROM database_hosts h"""


async def insert(conn: asyncpg.Connection, host_id: UUID, fields: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO database_hosts
               (id, name, host, port, username, password_sealed, node_id, location_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        host_id,
        fields["name"],
        fields["host"],
        fields["port"],
        fields["username"],
        fields["password_sealed"],
        fields["node_id"],
        fields["location_id"],
    )


async def name_taken(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM database_hosts WHERE name = $1", name))


async def get(conn: asyncpg.Connection, host_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{WITH_COUNT} WHERE h.id = $1", host_id)


async def get_for_use(conn: asyncpg.Connection, host_id: UUID) -> asyncpg.Record | None:
    """The host, kept from being deleted until the caller's transaction ends."""
    return await conn.fetchrow("SELECT * FROM database_hosts WHERE id = $1 FOR KEY SHARE", host_id)


async def all_hosts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"{WITH_COUNT} ORDER BY h.name")


async def delete_unused(conn: asyncpg.Connection, host_id: UUID) -> str:
    """'deleted', 'missing', or 'in_use' when databases remain on it."""
    row = await conn.fetchrow("SELECT id FROM database_hosts WHERE id = $1 FOR UPDATE", host_id)
    if row is None:
        return "missing"
    if await conn.fetchval("SELECT 1 FROM game_databases WHERE host_id = $1 LIMIT 1", host_id):
        return "in_use"
    await conn.execute("DELETE FROM database_hosts WHERE id = $1", host_id)
    return "deleted"
