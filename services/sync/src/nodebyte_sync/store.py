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


async def mark_running(conn: asyncpg.Connection, log_id: UUID, *, resumed: bool = False) -> int:
    """Start (or restart after a crash) a sync; return which attempt this is."""
    note = {"lastMessage": "resumed after an interrupted attempt"} if resumed else {}
    return await conn.fetchval(
        """UPDATE sync_logs SET status = 'RUNNING', attempts = attempts + 1,
                  started_at = coalesce(started_at, now()), metadata = metadata || $2::jsonb
           WHERE id = $1 RETURNING attempts""",
        log_id,
        note,
    )


async def request_cancel(conn: asyncpg.Connection, log_id: UUID) -> None:
    await conn.execute("UPDATE sync_logs SET cancel_requested = true WHERE id = $1", log_id)


async def kind_of(conn: asyncpg.Connection, log_id: UUID) -> str:
    return await conn.fetchval("SELECT type FROM sync_logs WHERE id = $1", log_id)


async def delete_old_logs(conn: asyncpg.Connection, retention_days: int) -> int:
    result = await conn.execute(
        """DELETE FROM sync_logs WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
           AND created_at < now() - make_interval(days => $1)""",
        retention_days,
    )
    return int(result.split()[-1])


async def orphaned_runs(conn: asyncpg.Connection, stale_seconds: float) -> list[asyncpg.Record]:
    """RUNNING syncs whose progress has not moved for `stale_seconds`."""
    return await conn.fetch(
        """SELECT id, type FROM sync_logs WHERE status = 'RUNNING'
           AND coalesce((metadata->>'lastUpdated')::timestamptz, started_at)
               < now() - make_interval(secs => $1)""",
        stale_seconds,
    )


async def list_logs(
    conn: asyncpg.Connection, *, limit: int, offset: int, kind: str | None
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        """SELECT * FROM sync_logs WHERE ($3::text IS NULL OR type = $3)
           ORDER BY created_at DESC LIMIT $1 OFFSET $2""",
        limit,
        offset,
        kind,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM sync_logs WHERE ($1::text IS NULL OR type = $1)", kind
    )
    return rows, total


async def current_and_last(conn: asyncpg.Connection) -> tuple[asyncpg.Record | None, ...]:
    running = await conn.fetchrow(
        "SELECT * FROM sync_logs WHERE status IN ('RUNNING', 'PENDING') ORDER BY created_at LIMIT 1"
    )
    last = await conn.fetchrow(
        """SELECT * FROM sync_logs WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
           ORDER BY completed_at DESC NULLS LAST LIMIT 1"""
    )
    return running, last


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
    conn: asyncpg.Connection,
    log_id: UUID,
    status: str,
    *,
    error: str | None = None,
    rows_written: int = 0,
    step_seconds: dict[str, float] | None = None,
) -> None:
    await conn.execute(
        """UPDATE sync_logs SET status = $2, error = $3, completed_at = now(),
                  metadata = metadata || jsonb_build_object('rowsWritten', $4::int,
                                                            'stepSeconds', $5::jsonb)
           WHERE id = $1""",
        log_id,
        status,
        error,
        rows_written,
        step_seconds or {},
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


async def prune(
    conn: asyncpg.Connection,
    table: str,
    keep_ids: Sequence[Any],
    *,
    key_type: str = "bigint",
    scope: str = "",
) -> list[asyncpg.Record]:
    """Delete mirror rows the panel no longer has (one array parameter, any size).

    Returns the deleted rows' ids (and uuids where the table has them).
    """
    condition = f"NOT (id = ANY($1::{key_type}[]))" + (f" AND {scope}" if scope else "")
    returning = "id, uuid" if table == "servers" else "id"
    return await conn.fetch(
        f"DELETE FROM {table} WHERE {condition} RETURNING {returning}", list(keep_ids)
    )


async def link_allocations(conn: asyncpg.Connection, links: Sequence[tuple[int, int]]) -> int:
    """Point each allocation at the server holding it; clear the links that ended."""
    allocation_ids = [a for a, _ in links]
    linked = await conn.execute(
        """UPDATE allocations a SET server_id = v.server_id, synced_at = now()
           FROM unnest($1::bigint[], $2::bigint[]) AS v(id, server_id)
           WHERE a.id = v.id AND a.server_id IS DISTINCT FROM v.server_id""",
        allocation_ids,
        [s for _, s in links],
    )
    cleared = await conn.execute(
        """UPDATE allocations SET server_id = NULL, synced_at = now()
           WHERE server_id IS NOT NULL AND NOT (id = ANY($1::bigint[]))""",
        allocation_ids,
    )
    return int(linked.split()[-1]) + int(cleared.split()[-1])


async def mark_owners(conn: asyncpg.Connection) -> list[str]:
    """Each server's owner as a subuser row marked `is_owner`; returns their ids."""
    rows = await conn.fetch(
        """INSERT INTO server_subusers
               (id, server_id, user_uuid, username, email, two_factor, permissions, is_owner)
           SELECT s.id || ':' || u.uuid, s.id, u.uuid, u.username, u.email, u.two_factor,
                  '{*}', true
           FROM servers s JOIN panel_users u ON u.id = s.owner_id
           ON CONFLICT (id) DO UPDATE SET is_owner = true, synced_at = now()
           WHERE NOT server_subusers.is_owner
           RETURNING id"""
    )
    unchanged = await conn.fetch(
        """SELECT s.id || ':' || u.uuid AS id FROM servers s
           JOIN panel_users u ON u.id = s.owner_id"""
    )
    return [r["id"] for r in rows] + [r["id"] for r in unchanged]


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
