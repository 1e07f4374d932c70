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
    # Steps write concurrently, so an older figure may commit after a newer one: the
    # percentage a poller reads only ever grows (a resumed attempt starts from it too).
    await conn.execute(
        """UPDATE sync_logs SET items_total = $2, items_synced = $3, items_failed = $4,
                  metadata = metadata || $5::jsonb || jsonb_build_object('percentage',
                      greatest(coalesce((metadata->>'percentage')::float8, 0),
                               ($5::jsonb->>'percentage')::float8))
           WHERE id = $1""",
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

    A row given twice (the panel changed while it was paged: an item came on two pages
    of one batch) is written once, as last given: one upsert cannot touch a row twice.
    Returns the number of rows inserted or changed.
    """
    if not records:
        return 0
    at = columns.index(key)
    records = list({record[at]: record for record in records}.values())
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


async def save_allocation_links(conn: asyncpg.Connection, links: Sequence[tuple[int, int]]) -> int:
    """Keep the servers' allocation links as the panel gave them; returns rows changed."""
    allocation_ids = [a for a, _ in links]
    saved = await conn.execute(
        """INSERT INTO allocation_links (allocation_id, server_id)
           SELECT * FROM unnest($1::bigint[], $2::bigint[])
           ON CONFLICT (allocation_id) DO UPDATE SET server_id = excluded.server_id
           WHERE allocation_links.server_id IS DISTINCT FROM excluded.server_id""",
        allocation_ids,
        [s for _, s in links],
    )
    ended = await conn.execute(
        "DELETE FROM allocation_links WHERE NOT (allocation_id = ANY($1::bigint[]))",
        allocation_ids,
    )
    return int(saved.split()[-1]) + int(ended.split()[-1])


async def link_allocations(conn: asyncpg.Connection) -> int:
    """Point each allocation at the server holding it; clear the links that ended."""
    linked = await conn.execute(
        """UPDATE allocations a SET server_id = l.server_id, synced_at = now()
           FROM allocation_links l
           WHERE a.id = l.allocation_id AND a.server_id IS DISTINCT FROM l.server_id"""
    )
    cleared = await conn.execute(
        """UPDATE allocations a SET server_id = NULL, synced_at = now()
           WHERE a.server_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM allocation_links l WHERE l.allocation_id = a.id)"""
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


async def panel_server(conn: asyncpg.Connection, ref: str) -> asyncpg.Record | None:
    """A mirrored panel server named by its id, uuid or identifier."""
    if ref.isdigit():
        where, value = "id = $1::bigint", int(ref)
    elif len(ref) == 36:
        where, value = "uuid = $1::uuid", ref
    else:
        where, value = "identifier = $1", ref
    return await conn.fetchrow(
        f"""SELECT id, uuid, identifier FROM servers
            WHERE {where} AND panel_type = 'pterodactyl'""",
        value,
    )


async def take_unannounced_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Panel users inserted or changed since they were last announced; marked announced."""
    return await conn.fetch(
        """UPDATE panel_users SET announced_at = synced_at
           WHERE announced_at IS DISTINCT FROM synced_at
           RETURNING id, email, username, first_name, last_name, root_admin"""
    )


async def transaction_time(conn: asyncpg.Connection) -> datetime:
    return await conn.fetchval("SELECT now()")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
