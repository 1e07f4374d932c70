"""Deletes what has expired: used or stale email tokens, old refresh tokens and
sessions. Harmless when several replicas run it at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 3600.0


async def purge(conn: asyncpg.Connection, refresh_ttl_seconds: int) -> dict[str, int]:
    counts = {}
    for name, sql, args in (
        (
            "account_tokens",
            "DELETE FROM account_tokens WHERE expires_at < now() - interval '7 days'",
            (),
        ),
        (
            "refresh_tokens",
            "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'",
            (),
        ),
        (
            "auth_sessions",
            """DELETE FROM auth_sessions
               WHERE revoked_at < now() - interval '30 days'
                  OR last_used_at < now() - make_interval(secs => $1) - interval '1 day'""",
            (refresh_ttl_seconds,),
        ),
    ):
        result = await conn.execute(sql, *args)
        counts[name] = int(result.rsplit(" ", 1)[-1])
    return counts


def purge_loop(
    pool_of: Callable[[], asyncpg.Pool], refresh_ttl_seconds: int
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        while True:
            async with pool_of().acquire() as conn:
                counts = await purge(conn, refresh_ttl_seconds)
            if any(counts.values()):
                log.info("expired account rows deleted", extra={"counts": counts})
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    return run
