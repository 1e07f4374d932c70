"""SQL for the sync schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


async def record_pending(
    conn: asyncpg.Connection, log_id: UUID, kind: str, requested_by: str | None, skip_users: bool
) -> None:
    await conn.execute(
        """INSERT INTO sync_logs (id, type, status, requested_by, skip_users)
           VALUES ($1, $2, 'PENDING', $3, $4) ON CONFLICT (id) DO NOTHING""",
        log_id,
        kind,
        requested_by,
        skip_users,
    )


async def status_of(conn: asyncpg.Connection, log_id: UUID) -> str | None:
    return await conn.fetchval("SELECT status FROM sync_logs WHERE id = $1", log_id)


async def mark_running(conn: asyncpg.Connection, log_id: UUID) -> int:
    """Start (or restart after a crash) a sync; return which attempt this is."""
    return await conn.fetchval(
        """UPDATE sync_logs SET status = 'RUNNING', attempts = attempts + 1,
                  started_at = coalesce(started_at, now())
           WHERE id = $1 RETURNING attempts""",
        log_id,
    )


async def save_progress(
    conn: asyncpg.Connection,
    log_id: UUID,
    *,
    total: int,
    synced: int,
    failed: int,
    metadata: dict[str, Any],
) -> None:
    await conn.execute(
        """UPDATE sync_logs SET items_total = $2, items_synced = $3, items_failed = $4,
                  metadata = metadata || $5::jsonb WHERE id = $1""",
        log_id,
        total,
        synced,
        failed,
        metadata,
    )


async def finish(
    conn: asyncpg.Connection, log_id: UUID, status: str, *, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE sync_logs SET status = $2, error = $3, completed_at = now() WHERE id = $1",
        log_id,
        status,
        error,
    )


async def cancel_requested(conn: asyncpg.Connection, log_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT cancel_requested FROM sync_logs WHERE id = $1", log_id))


async def get_log(conn: asyncpg.Connection, log_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM sync_logs WHERE id = $1", log_id)


async def upsert_changed(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
    *,
    key: str = "id",
) -> int:
    """Bulk upsert through COPY; rows equal to the mirror are not written.

    Returns the number of rows inserted or changed.
    """
    if not records:
        return 0
    staging = f"_stage_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(staging, records=records, columns=list(columns))
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM excluded.{c}" for c in columns if c != key)
    result = await conn.execute(
        f"""INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}
            ON CONFLICT ({key}) DO UPDATE SET {updates}, synced_at = now() WHERE {changed}"""
    )
    return int(result.split()[-1])


async def prune(conn: asyncpg.Connection, table: str, keep_ids: Sequence[int]) -> int:
    """Delete mirror rows the panel no longer has (one array parameter, any size)."""
    result = await conn.execute(f"DELETE FROM {table} WHERE NOT (id = ANY($1::bigint[]))", keep_ids)
    return int(result.split()[-1])


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
