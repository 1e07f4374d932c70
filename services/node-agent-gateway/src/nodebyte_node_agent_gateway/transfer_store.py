"""SQL for server transfers: one row per attempt, its phase and progress."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from nodebyte_common.server_transfers import TransferView

ACTIVE = "phase IN ('stopping', 'streaming')"


async def insert(
    conn: asyncpg.Connection,
    transfer_id: UUID,
    server: asyncpg.Record,
    target_node_id: UUID,
    *,
    phase: str,
    restart_after: bool,
    requested_by: str | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO server_transfers (id, server_id, source_node_id, target_node_id, phase,
                                        previous_state, restart_after, requested_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        transfer_id,
        server["id"],
        server["node_id"],
        target_node_id,
        phase,
        server["state"],
        restart_after,
        requested_by,
    )


async def active_of_server(
    conn: asyncpg.Connection, server_id: UUID, phase: str
) -> asyncpg.Record | None:
    """The server's transfer in `phase`, locked."""
    return await conn.fetchrow(
        f"SELECT * FROM server_transfers WHERE server_id = $1 AND phase = $2 AND {ACTIVE}"
        " FOR UPDATE",
        server_id,
        phase,
    )


async def lock_active(conn: asyncpg.Connection, transfer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM server_transfers WHERE id = $1 AND {ACTIVE} FOR UPDATE", transfer_id
    )


async def set_phase(conn: asyncpg.Connection, transfer_id: UUID, phase: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE server_transfers SET phase = $2, progress_at = now() WHERE id = $1
           RETURNING *""",
        transfer_id,
        phase,
    )


async def finish(
    conn: asyncpg.Connection, transfer_id: UUID, phase: str, error: str | None = None
) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE server_transfers SET phase = $2, error = $3, finished_at = now(),
                  progress_at = now()
           WHERE id = $1 RETURNING *""",
        transfer_id,
        phase,
        error,
    )


async def count_chunk(
    conn: asyncpg.Connection, transfer_id: UUID, source_node_id: UUID, size: int
) -> asyncpg.Record | None:
    """Count a chunk the source sent; None unless it is that streaming transfer's source."""
    return await conn.fetchrow(
        """UPDATE server_transfers
              SET bytes_transferred = bytes_transferred + $3, chunks = chunks + 1,
                  progress_at = now()
           WHERE id = $1 AND source_node_id = $2 AND phase = 'streaming'
           RETURNING server_id, source_node_id, target_node_id""",
        transfer_id,
        source_node_id,
        size,
    )


async def streaming(conn: asyncpg.Connection, transfer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM server_transfers WHERE id = $1 AND phase = 'streaming'", transfer_id
    )


async def stalled(conn: asyncpg.Connection, seconds: float) -> list[UUID]:
    rows = await conn.fetch(
        f"""SELECT id FROM server_transfers
            WHERE {ACTIVE} AND progress_at < now() - make_interval(secs => $1)""",
        seconds,
    )
    return [r["id"] for r in rows]


async def streaming_with_node(conn: asyncpg.Connection, node_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT id FROM server_transfers
           WHERE phase = 'streaming' AND (source_node_id = $1 OR target_node_id = $1)""",
        node_id,
    )
    return [r["id"] for r in rows]


async def latest(conn: asyncpg.Connection, server_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM server_transfers WHERE server_id = $1
           ORDER BY started_at DESC, id DESC LIMIT 1""",
        server_id,
    )


def view(row: asyncpg.Record) -> TransferView:
    return TransferView(
        id=row["id"],
        server_id=row["server_id"],
        source_node_id=row["source_node_id"],
        target_node_id=row["target_node_id"],
        phase=row["phase"],
        previous_state=row["previous_state"],
        restart_after=row["restart_after"],
        bytes_transferred=row["bytes_transferred"],
        chunks=row["chunks"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
