"""Leases on deliveries, and knowing at once when their holder has died.

A worker claims a delivery by setting it `sending` with its own key and a
lease deadline. While alive it holds a session advisory lock on that key, so
PostgreSQL itself says whether the holder lives: a killed worker's connection
closes and its lock vanishes, and its leases are recovered at the next sweep
instead of waiting out the deadline. The deadline stays as the bound for a
holder that lives but hangs.
"""

from __future__ import annotations

import secrets

import asyncpg

# First key of the advisory locks that mark live delivery workers (ASCII "NB").
OWNER_LOCK_CLASS = 0x4E42


def new_owner_key() -> int:
    return secrets.randbelow(2**31 - 2) + 1


async def hold_owner_lock(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_lock($1, $2)", OWNER_LOCK_CLASS, key)


async def release_owner_lock(conn: asyncpg.Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", OWNER_LOCK_CLASS, key)


def _holder_alive(column: str) -> str:
    return f"""EXISTS (SELECT 1 FROM pg_locks l
                       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                         AND l.classid = {OWNER_LOCK_CLASS}::oid AND l.objid = {column}::oid
                         AND l.database = (SELECT oid FROM pg_database
                                           WHERE datname = current_database()))"""


async def recover_abandoned(conn: asyncpg.Connection, table: str) -> int:
    """Requeue deliveries whose holder died or overran its lease; they are in doubt.

    In doubt: the holder may have sent the message before it died. The
    delivery is sent again (nothing is lost); whether the upstream then shows
    it twice depends on the upstream (see the notifier's README).
    """
    rows = await conn.fetch(
        f"""UPDATE {table} SET status = 'queued', in_doubt = true, lease_owner = NULL,
                   lease_until = NULL, next_attempt_at = now(), updated_at = now()
            WHERE status = 'sending'
              AND (lease_until < now() OR NOT {_holder_alive("lease_owner")})
            RETURNING id"""
    )
    return len(rows)
