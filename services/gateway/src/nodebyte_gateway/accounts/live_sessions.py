"""What a signed-in session may do now, checked in PostgreSQL on each request.

An access token names its session and user; whether the session is still live
(not logged out, not revoked for refresh-token reuse or a password change), the
account still active, and which permissions the user's roles grant now are read
from the database, so a revocation or a demotion takes effect on every replica
within `TTL_SECONDS`. The answer is remembered that long per session, which
keeps a busy client to one query every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from nodebyte_gateway.accounts import accounts_store

TTL_SECONDS = 2.0
MAX_REMEMBERED = 50_000  # sessions; past that the oldest answers are dropped


@dataclass(frozen=True)
class SessionAccess:
    email: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]


class LiveSessions:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool_of = pool_of
        self._ttl = ttl_seconds
        self._clock = clock
        # session id -> (checked at, its access or None when it has ended)
        self._remembered: dict[UUID, tuple[float, SessionAccess | None]] = {}
        self._pending: dict[UUID, asyncio.Future[SessionAccess | None]] = {}
        self._generation = 0  # moved by forget(): older look-ups are not remembered

    async def access(self, session_id: UUID, user_id: UUID) -> SessionAccess | None:
        """The session's access now; None when it has ended or the account is inactive."""
        now = self._clock()
        remembered = self._remembered.get(session_id)
        if remembered is not None and now - remembered[0] < self._ttl:
            return remembered[1]
        # One query per session at a time: a busy client's concurrent requests share it
        # instead of all asking the database when the remembered answer lapses.
        pending = self._pending.get(session_id)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(session_id, user_id, now))
            self._pending[session_id] = pending
            pending.add_done_callback(lambda done: self._settled(session_id, done))
        return await asyncio.shield(pending)

    async def _look_up(self, session_id: UUID, user_id: UUID, now: float) -> SessionAccess | None:
        generation = self._generation
        async with self._pool_of().acquire() as conn:
            row = await accounts_store.session_access(conn, session_id, user_id)
        found = None
        if row is not None:
            found = SessionAccess(row["email"], tuple(row["roles"]), tuple(row["permissions"]))
        if generation == self._generation:
            self._remember(session_id, now, found)
        return found

    def forget(self) -> None:
        """Drop every remembered answer (after a change this replica made itself); a
        look-up already under way answers its own callers but is not remembered."""
        self._remembered.clear()
        self._pending.clear()
        self._generation += 1

    def _settled(self, session_id: UUID, done: asyncio.Future[SessionAccess | None]) -> None:
        if self._pending.get(session_id) is done:
            del self._pending[session_id]

    def _remember(self, session_id: UUID, now: float, found: SessionAccess | None) -> None:
        if len(self._remembered) >= MAX_REMEMBERED:
            # dicts keep insertion order: drop the older half in one go
            for stale in list(self._remembered)[: MAX_REMEMBERED // 2]:
                del self._remembered[stale]
        self._remembered.pop(session_id, None)
        self._remembered[session_id] = (now, found)
