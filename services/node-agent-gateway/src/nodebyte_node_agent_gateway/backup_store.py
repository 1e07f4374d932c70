"""SQL for backups: started by a command, completed (or failed) by the agent's report."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def start(conn: asyncpg.Connection, backup_id: UUID, server_id: UUID, name: str) -> bool:
    """An `in_progress` row for a backup command; False when the name is taken."""
    inserted = await conn.fetchval(
        """INSERT INTO backups (id, server_id, name, status) VALUES ($1, $2, $3, 'in_progress')
           ON CONFLICT DO NOTHING RETURNING true""",
        backup_id,
        server_id,
        name,
    )
    return bool(inserted)


async def complete(
    conn: asyncpg.Connection,
    *,
    server_id: UUID,
    backup_id: UUID | None,
    name: str,
    path: str | None,
    size_mb: float,
    checksum: str | None,
    success: bool,
    error: str | None,
    new_id: UUID,
) -> asyncpg.Record:
    """Record the agent's report, on the backup it started or as a new row."""
    status = "completed" if success else "failed"
    row = await conn.fetchrow(
        """UPDATE backups SET path = $4, size_mb = $5, checksum = $6, status = $7, error = $8,
                  completed_at = now()
           WHERE server_id = $1 AND (id = $2 OR ($2::uuid IS NULL AND name = $3))
           RETURNING *""",
        server_id,
        backup_id,
        name,
        path,
        size_mb,
        checksum,
        status,
        error,
    )
    if row is not None:
        return row
    return await conn.fetchrow(
        """INSERT INTO backups (id, server_id, name, path, size_mb, checksum, status, error,
                                completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
           ON CONFLICT (server_id, name) DO UPDATE SET path = excluded.path,
               size_mb = excluded.size_mb, checksum = excluded.checksum,
               status = excluded.status, error = excluded.error, completed_at = now()
           RETURNING *""",
        new_id,
        server_id,
        name,
        path,
        size_mb,
        checksum,
        status,
        error,
    )


async def fail(conn: asyncpg.Connection, backup_id: UUID, reason: str) -> None:
    await conn.execute(
        """UPDATE backups SET status = 'failed', error = $2, completed_at = now()
           WHERE id = $1 AND status IN ('pending', 'in_progress')""",
        backup_id,
        reason,
    )


async def of_server(conn: asyncpg.Connection, server_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM backups WHERE server_id = $1 ORDER BY created_at DESC", server_id
    )
