"""A NOTIFY channel that wakes a worker early: a hint only, never ownership.

The listening connection may die (terminated, pooler, failover); the worker
polls anyway, so a lost listener costs latency until `ensure` listens again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Wakeups:
    def __init__(self, pool: asyncpg.Pool, channel: str, wake: Callable[[], None]) -> None:
        self.pool = pool
        self.channel = channel
        self._wake = wake
        self._conn: asyncpg.Connection | None = None

    def _on_notify(self, *_: object) -> None:
        self._wake()

    async def ensure(self) -> None:
        """Listen, on a new connection if the last one died; errors are left for next time."""
        if self._listening():
            return
        await self.close()
        conn = await self.pool.acquire()
        try:
            await conn.add_listener(self.channel, self._on_notify)
        except DB_ERRORS:
            await self.pool.release(conn)
            raise
        self._conn = conn
        self._wake()  # whatever was notified while nobody listened is due now

    def _listening(self) -> bool:
        if self._conn is None:
            return False
        try:
            return not self._conn.is_closed()
        except asyncpg.InterfaceError:  # the pool took the dead connection back already
            return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*DB_ERRORS):
            await conn.remove_listener(self.channel, self._on_notify)
        with contextlib.suppress(*DB_ERRORS):
            await self.pool.release(conn)
