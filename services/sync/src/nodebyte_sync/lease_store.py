"""SQL for the mirror lease (sync_mirror_lease)."""

from __future__ import annotations

import asyncpg

MIRROR = "mirror"


async def take(conn: asyncpg.Connection, holder: str, seconds: float) -> int | None:
    """Take the lease if nobody holds it or its holder's deadline passed; the new token."""
    return await conn.fetchval(
        """INSERT INTO sync_mirror_lease (name, token, holder, expires_at)
           VALUES ($1, 1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (name) DO UPDATE
               SET token = sync_mirror_lease.token + 1, holder = excluded.holder,
                   expires_at = excluded.expires_at
               WHERE sync_mirror_lease.holder IS NULL OR sync_mirror_lease.expires_at < now()
           RETURNING token""",
        MIRROR,
        holder,
        seconds,
    )


# The token alone says who holds the lease: a deadline that passed lets another replica
# take it (which moves the token on), but while nobody has, the holder's writes are still
# the only ones, and a holder whose renewal was late (a starved event loop, a busy pool)
# carries on instead of throwing its sync away.


async def renew(conn: asyncpg.Connection, token: int, seconds: float) -> bool:
    """Push the deadline on; False when the lease is no longer this token's."""
    return bool(
        await conn.fetchval(
            """UPDATE sync_mirror_lease SET expires_at = now() + make_interval(secs => $3)
               WHERE name = $1 AND token = $2 AND holder IS NOT NULL
               RETURNING true""",
            MIRROR,
            token,
            seconds,
        )
    )


async def hold(conn: asyncpg.Connection, token: int) -> bool:
    """In a transaction: whether `token` still holds the lease, kept so until commit.

    FOR SHARE makes a take-over wait for this transaction, so a write checked here
    can never land after another holder took the lease.
    """
    return bool(
        await conn.fetchval(
            """SELECT true FROM sync_mirror_lease
               WHERE name = $1 AND token = $2 AND holder IS NOT NULL
               FOR SHARE""",
            MIRROR,
            token,
        )
    )


async def release(conn: asyncpg.Connection, token: int) -> None:
    await conn.execute(
        "UPDATE sync_mirror_lease SET holder = NULL WHERE name = $1 AND token = $2",
        MIRROR,
        token,
    )
