"""Forgetting idle rate buckets, so `rate_buckets` holds only callers seen lately.

A bucket left alone for its whole window has refilled: deleting it changes
nothing, since the next request creates it full. Its window is read from its
key (`<class>:<requests>/<seconds>:…`, see `rate_keys`). Harmless when several
replicas run it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60.0

_PURGE_IDLE = r"""
DELETE FROM rate_buckets
WHERE updated_at < now() - make_interval(
    secs => coalesce(substring(key FROM '^[^:]*:[0-9]+/([0-9.e+]+):')::float8, 86400) + 1)
"""


async def purge_idle(conn: asyncpg.Connection) -> int:
    """Delete the buckets idle for longer than their window; how many went."""
    result = await conn.execute(_PURGE_IDLE)
    return int(result.rsplit(" ", 1)[-1])


def purge_loop(
    pool_of: Callable[[], asyncpg.Pool], interval: float = PURGE_INTERVAL_SECONDS
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        while True:
            async with pool_of().acquire() as conn:
                deleted = await purge_idle(conn)
            if deleted:
                log.info("idle rate buckets deleted", extra={"count": deleted})
            await asyncio.sleep(interval)

    return run
