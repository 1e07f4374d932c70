"""API keys for service callers: created once, shown once, stored as a SHA-256.

A key made by a user (or by a key a user made) names that user as its creator
and never holds more than the creator holds now; it stops working when the
creator's account is deactivated. Keys an operator mints with the CLI have no
user creator and hold their scopes.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_gateway.accounts import tokens

KEY_PREFIX = "nbk_"
MAX_KEY_LENGTH = 256
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8  # enough to tell keys apart in a list


def new_key() -> str:
    return tokens.new_secret(KEY_PREFIX)


async def create(
    conn: asyncpg.Connection,
    *,
    name: str,
    scopes: list[str],
    created_by: str,
    creator_user_id: UUID | None,
    expires_at: datetime | None = None,
) -> tuple[asyncpg.Record, str]:
    """Store a new key; return its row and the key itself (never stored)."""
    key = new_key()
    row = await conn.fetchrow(
        """INSERT INTO api_keys (id, name, key_prefix, key_hash, scopes, created_by,
                                 expires_at, creator_user_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        uuid6.uuid7(),
        name,
        key[:SHOWN_PREFIX_LENGTH],
        tokens.digest(key),
        scopes,
        created_by,
        expires_at,
        creator_user_id,
    )
    return row, key


async def list_keys(conn: asyncpg.Connection, *, include_revoked: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM api_keys WHERE $1 OR revoked_at IS NULL
           ORDER BY created_at DESC, id DESC""",
        include_revoked,
    )


async def get(conn: asyncpg.Connection, key_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)


async def revoke(conn: asyncpg.Connection, key_id: UUID) -> asyncpg.Record | None:
    """Revoke a live key; None when there is no such key or it was revoked already."""
    return await conn.fetchrow(
        """UPDATE api_keys SET revoked_at = now()
           WHERE id = $1 AND revoked_at IS NULL RETURNING *""",
        key_id,
    )


async def find_active(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The live key matching `key`, its use recorded (coarsely, to spare writes).

    `creator_permissions` are its creator's permissions now (None for an
    operator's key); a key whose creator is inactive is not live.
    """
    if len(key) > MAX_KEY_LENGTH:
        return None
    row = await conn.fetchrow(
        """SELECT k.id, k.name, k.scopes, k.creator_user_id,
                  k.last_used_at < now() - interval '60 seconds'
                  OR k.last_used_at IS NULL AS stale,
                  CASE WHEN u.id IS NOT NULL THEN
                      coalesce((SELECT array_agg(DISTINCT p ORDER BY p)
                                FROM roles r, unnest(r.permissions) AS p
                                WHERE r.name = ANY(u.roles)), '{}')
                  END AS creator_permissions
           FROM api_keys k LEFT JOIN users u ON u.id = k.creator_user_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL
             AND (k.expires_at IS NULL OR k.expires_at > now())
             AND (k.creator_user_id IS NULL OR u.is_active)""",
        tokens.digest(key),
    )
    if row is not None and row["stale"]:
        await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", row["id"])
    return row
