"""Deployment tokens: what an agent proves its node's identity with.

A token is 256 random bits shown once, when issued; only its SHA-256 is kept
(no dictionary to attack, so a fast hash is enough). Tokens expire, and issuing
a new one for a node revokes the ones before it (rotation).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

import asyncpg
import uuid6

TOKEN_PREFIX = "nbdt_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue(conn: asyncpg.Connection, node_id: UUID, ttl_days: int) -> tuple[str, datetime]:
    """Revoke the node's tokens and issue a new one; return (token, expires_at)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        """UPDATE deployment_tokens SET revoked_at = now()
           WHERE node_id = $1 AND revoked_at IS NULL""",
        node_id,
    )
    expires_at = await conn.fetchval(
        """INSERT INTO deployment_tokens (id, node_id, token_hash, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(days => $4)) RETURNING expires_at""",
        uuid6.uuid7(),
        node_id,
        hash_token(token),
        ttl_days,
    )
    return token, expires_at


async def verify(conn: asyncpg.Connection, node_id: UUID, token: str) -> bool:
    """True when `token` is the node's current, unexpired token."""
    found = await conn.fetchval(
        """UPDATE deployment_tokens SET last_used_at = now()
           WHERE token_hash = $1 AND node_id = $2 AND revoked_at IS NULL AND expires_at > now()
           RETURNING true""",
        hash_token(token),
        node_id,
    )
    return bool(found)


async def target(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    """The node a current, unexpired token belongs to (id, name, expires_at), if any."""
    return await conn.fetchrow(
        """SELECT n.id, n.name, t.expires_at FROM deployment_tokens t
           JOIN nodes n ON n.id = t.node_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()""",
        hash_token(token),
    )
