"""SQL of `ws_tickets`: a ticket is inserted once and taken at most once."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def insert(
    conn: asyncpg.Connection,
    digest: bytes,
    user_id: UUID,
    label: str,
    permissions: tuple[str, ...],
    roles: tuple[str, ...],
    session_id: UUID | None,
    seconds: float,
) -> None:
    await conn.execute(
        """INSERT INTO ws_tickets (digest, user_id, label, permissions, roles, session_id,
                                   expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))""",
        digest,
        user_id,
        label,
        list(permissions),
        list(roles),
        session_id,
        seconds,
    )


async def take(conn: asyncpg.Connection, digest: bytes) -> asyncpg.Record | None:
    """The ticket's row if it is still valid; it is gone afterwards either way."""
    return await conn.fetchrow(
        "DELETE FROM ws_tickets WHERE digest = $1 RETURNING *, expires_at > now() AS valid",
        digest,
    )


async def purge_expired(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM ws_tickets WHERE expires_at < now()")
