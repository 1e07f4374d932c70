"""SQL for backups: queued by a command (`pending`), `in_progress` once the agent took it,
completed (or failed) by the agent's report; `deleting` while the agent removes it."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def start(conn: asyncpg.Connection, backup_id: UUID, server_id: UUID, name: str) -> bool:
    """A `pending` row for a backup command; False when the name is taken."""
    inserted = await conn.fetchval(
        """INSERT INTO backups (id, server_id, name, status) VALUES ($1, $2, $3, 'pending')
           ON CONFLICT DO NOTHING RETURNING true""",
        backup_id,
        server_id,
        name,
    )
    return bool(inserted)


async def started(conn: asyncpg.Connection, backup_id: UUID) -> None:
    """The agent took the backup command (a report that came first is left alone)."""
    await conn.execute(
        "UPDATE backups SET status = 'in_progress' WHERE id = $1 AND status = 'pending'",
        backup_id,
    )


async def complete(
    conn: asyncpg.Connection,
    *,
    server_id: UUID,
    backup_id: UUID | None,
    name: str,
    path: str | None,
    size_mb: float,
    size_bytes: int | None,
    checksum: str | None,
    success: bool,
    error: str | None,
    new_id: UUID,
) -> asyncpg.Record:
    """Record the agent's report, on the backup it started or as a new row.

    Only a failure carries an error, so a failed row is told from a completed one
    by its error alone (see `undelete`)."""
    status = "completed" if success else "failed"
    error = None if success else error or "the agent reported a failure"
    row = await conn.fetchrow(
        """UPDATE backups SET path = $4, size_mb = $5, size_bytes = $6, checksum = $7,
                  status = $8, error = $9, completed_at = now()
           WHERE server_id = $1 AND (id = $2 OR ($2::uuid IS NULL AND name = $3))
           RETURNING *""",
        server_id,
        backup_id,
        name,
        path,
        size_mb,
        size_bytes,
        checksum,
        status,
        error,
    )
    if row is not None:
        return row
    return await conn.fetchrow(
        """INSERT INTO backups (id, server_id, name, path, size_mb, size_bytes, checksum,
                                status, error, completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
           ON CONFLICT (server_id, name) DO UPDATE SET path = excluded.path,
               size_mb = excluded.size_mb, size_bytes = excluded.size_bytes,
               checksum = excluded.checksum, status = excluded.status,
               error = excluded.error, completed_at = now()
           RETURNING *""",
        new_id,
        server_id,
        name,
        path,
        size_mb,
        size_bytes,
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


async def get(conn: asyncpg.Connection, server_id: UUID, backup_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM backups WHERE id = $1 AND server_id = $2", backup_id, server_id
    )


async def mark_deleting(conn: asyncpg.Connection, backup_id: UUID) -> bool:
    """Hand a finished backup to the agent for removal; False when it is not finished."""
    marked = await conn.fetchval(
        """UPDATE backups SET status = 'deleting'
           WHERE id = $1 AND status IN ('completed', 'failed') RETURNING true""",
        backup_id,
    )
    return bool(marked)


async def deleted(conn: asyncpg.Connection, backup_id: UUID) -> None:
    """The agent removed the archive: the backup leaves the list."""
    await conn.execute("DELETE FROM backups WHERE id = $1 AND status = 'deleting'", backup_id)


async def undelete(conn: asyncpg.Connection, backup_id: UUID) -> None:
    """The agent did not remove it: back to what it was (failed rows carry an error)."""
    await conn.execute(
        """UPDATE backups SET status = CASE WHEN error IS NULL THEN 'completed' ELSE 'failed' END
           WHERE id = $1 AND status = 'deleting'""",
        backup_id,
    )


async def beyond_limit(conn: asyncpg.Connection, server_id: UUID, keep: int) -> list[UUID]:
    """The completed backups older than the newest `keep`."""
    rows = await conn.fetch(
        """SELECT id FROM backups WHERE server_id = $1 AND status = 'completed'
           ORDER BY completed_at DESC, id DESC OFFSET $2""",
        server_id,
        keep,
    )
    return [row["id"] for row in rows]
