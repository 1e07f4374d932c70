"""Sign-in sessions and their rotating refresh tokens.

A session is one sign-in: a family of refresh tokens, each used once. Using a
token marks it rotated and issues the next; presenting a rotated token again
means it was copied, so the whole session is revoked (the thief and the owner
both sign in again). Only SHA-256 digests of refresh tokens are stored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_gateway.accounts import tokens

REFRESH_PREFIX = "nbr_"


class Outcome(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"  # never issued, expired, or its session was revoked
    REUSED = "reused"  # a rotated token came back: the session is now revoked


@dataclass(frozen=True)
class Rotation:
    outcome: Outcome
    session_id: UUID | None = None
    user_id: UUID | None = None
    refresh_token: str | None = None


async def start(
    conn: asyncpg.Connection,
    user_id: UUID,
    *,
    ttl_seconds: int,
    ip: str | None,
    user_agent: str | None,
) -> tuple[UUID, str]:
    """Open a session for `user_id`; return its id and first refresh token."""
    session_id = uuid6.uuid7()
    await conn.execute(
        "INSERT INTO auth_sessions (id, user_id, ip, user_agent) VALUES ($1, $2, $3, $4)",
        session_id,
        user_id,
        ip,
        (user_agent or "")[:512] or None,
    )
    return session_id, await _issue(conn, session_id, ttl_seconds)


async def _issue(conn: asyncpg.Connection, session_id: UUID, ttl_seconds: int) -> str:
    token = tokens.new_secret(REFRESH_PREFIX)
    await conn.execute(
        """INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))""",
        tokens.digest(token),
        session_id,
        ttl_seconds,
    )
    return token


async def rotate(conn: asyncpg.Connection, refresh_token: str, ttl_seconds: int) -> Rotation:
    """Exchange a refresh token for the next one; call inside a transaction."""
    row = await conn.fetchrow(
        """SELECT t.session_id, t.rotated_at, t.expires_at > now() AS live,
                  s.user_id, s.revoked_at
           FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
           WHERE t.token_hash = $1
           FOR UPDATE OF t, s""",
        tokens.digest(refresh_token),
    )
    if row is None or row["revoked_at"] is not None or not row["live"]:
        return Rotation(Outcome.UNKNOWN)
    if row["rotated_at"] is not None:
        await revoke(conn, row["session_id"], "refresh token reused")
        return Rotation(Outcome.REUSED, row["session_id"], row["user_id"])
    await conn.execute(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        tokens.digest(refresh_token),
    )
    await conn.execute(
        "UPDATE auth_sessions SET last_used_at = now() WHERE id = $1", row["session_id"]
    )
    next_token = await _issue(conn, row["session_id"], ttl_seconds)
    return Rotation(Outcome.ROTATED, row["session_id"], row["user_id"], next_token)


async def revoke(conn: asyncpg.Connection, session_id: UUID, reason: str) -> None:
    await conn.execute(
        """UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
           WHERE id = $1 AND revoked_at IS NULL""",
        session_id,
        reason,
    )


async def revoke_by_token(conn: asyncpg.Connection, refresh_token: str, reason: str) -> bool:
    """Revoke the session a refresh token belongs to (any token of it, rotated or not)."""
    session_id = await conn.fetchval(
        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
        tokens.digest(refresh_token),
    )
    if session_id is None:
        return False
    await revoke(conn, session_id, reason)
    return True


async def revoke_all(
    conn: asyncpg.Connection, user_id: UUID, reason: str, *, keep: UUID | None = None
) -> int:
    """Revoke every live session of a user except `keep`; return how many."""
    result = await conn.execute(
        """UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2
           WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $3""",
        user_id,
        reason,
        keep,
    )
    return int(result.rsplit(" ", 1)[-1])


async def is_live(conn: asyncpg.Connection, session_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM auth_sessions WHERE id = $1 AND revoked_at IS NULL", session_id
    )
    return found is not None
