"""SQL for game servers' databases (rows joined with their host's address and name)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

JOINED = """SELECT d.*, h.host, h.port, h.name AS host_name
            FROM game_databases d JOIN database_hosts h ON h.id = d.host_id"""


async def insert(
    conn: asyncpg.Connection,
    database_id: UUID,
    server_id: UUID,
    host_id: UUID,
    name: str,
    username: str,
) -> None:
    await conn.execute(
        """INSERT INTO game_databases (id, server_id, host_id, name, username)
           VALUES ($1, $2, $3, $4, $5)""",
        database_id,
        server_id,
        host_id,
        name,
        username,
    )


async def taken(conn: asyncpg.Connection, host_id: UUID, name: str, username: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM game_databases WHERE host_id = $1 AND (name = $2 OR username = $3)",
            host_id,
            name,
            username,
        )
    )


async def get(conn: asyncpg.Connection, database_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{JOINED} WHERE d.id = $1", database_id)


async def lock(conn: asyncpg.Connection, server_id: UUID, database_id: UUID) -> bool:
    """Hold the server's database row until the transaction ends (one change at a time)."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM game_databases WHERE id = $1 AND server_id = $2 FOR UPDATE",
            database_id,
            server_id,
        )
    )


async def of_server(
    conn: asyncpg.Connection, server_id: UUID, *, lock: bool = False
) -> list[asyncpg.Record]:
    """The server's databases, oldest first; with `lock`, held until the transaction ends."""
    held = " FOR UPDATE OF d" if lock else ""
    return await conn.fetch(
        f"{JOINED} WHERE d.server_id = $1 ORDER BY d.created_at{held}", server_id
    )


async def mark_rotated(conn: asyncpg.Connection, database_id: UUID) -> None:
    await conn.execute(
        "UPDATE game_databases SET password_rotated_at = now() WHERE id = $1", database_id
    )


async def delete(conn: asyncpg.Connection, database_id: UUID) -> None:
    await conn.execute("DELETE FROM game_databases WHERE id = $1", database_id)
