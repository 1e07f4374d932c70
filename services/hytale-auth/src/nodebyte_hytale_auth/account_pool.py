"""The pool of authorised accounts that game sessions are spread over.

One licence allows a limited number of concurrent sessions (100 without the
`sessions.unlimited_servers` entitlement), so a host keeps several accounts. A
session asked for without an account goes to the least loaded usable account
with a free slot; an account Hytale refused for being at its limit sits out a
cool-down, since sessions made elsewhere may count against it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from nodebyte_common.contracts.hytale import PoolAccount
from nodebyte_hytale_auth.metrics import ACCOUNT_SESSION_LIMIT, ACCOUNT_SESSIONS, POOL_FREE_SESSIONS

_CAPACITY = """
SELECT a.account_id, a.status, a.in_pool, a.session_limit, a.limit_reached_at,
       a.selected_profile_uuid, a.access_expires_at, a.refresh_expires_at,
       a.token_refreshed_at, a.last_refresh_error, a.created_at,
       count(s.id)::int AS active_sessions,
       (a.limit_reached_at IS NOT NULL
        AND a.limit_reached_at > now() - make_interval(secs => $1)) AS cooling_down
FROM accounts a
LEFT JOIN game_sessions s ON s.account_id = a.account_id AND s.status = 'active'
GROUP BY a.account_id
ORDER BY a.created_at
"""


@dataclass(frozen=True)
class Capacity:
    account_id: UUID
    usable: bool  # active, in the pool, not cooling down
    session_limit: int
    active_sessions: int
    selected_profile_uuid: UUID | None
    row: asyncpg.Record

    @property
    def free(self) -> int:
        return max(0, self.session_limit - self.active_sessions)

    @property
    def load(self) -> float:
        return self.active_sessions / self.session_limit if self.session_limit else 1.0


class AccountPool:
    def __init__(self, pool_of: Callable[[], asyncpg.Pool], cooldown_seconds: float) -> None:
        self._pool_of = pool_of
        self.cooldown_seconds = cooldown_seconds

    async def capacities(self) -> list[Capacity]:
        async with self._pool_of().acquire() as conn:
            rows = await conn.fetch(_CAPACITY, self.cooldown_seconds)
        return [
            Capacity(
                r["account_id"],
                r["status"] == "active" and r["in_pool"] and not r["cooling_down"],
                r["session_limit"],
                r["active_sessions"],
                r["selected_profile_uuid"],
                r,
            )
            for r in rows
        ]

    async def capacity_of(self, account_id: UUID) -> Capacity | None:
        return next((c for c in await self.capacities() if c.account_id == account_id), None)

    async def candidates(self) -> tuple[list[Capacity], int]:
        """Usable accounts with a free slot, least loaded first; and how many are usable."""
        usable = [c for c in await self.capacities() if c.usable]
        free = [c for c in usable if c.free > 0]
        free.sort(key=lambda c: (c.load, -c.free))
        return free, len(usable)

    async def mark_limit_reached(self, account_id: UUID) -> None:
        async with self._pool_of().acquire() as conn:
            await conn.execute(
                "UPDATE accounts SET limit_reached_at = now() WHERE account_id = $1", account_id
            )

    async def clear_limit_reached(self, conn: asyncpg.Connection, account_id: UUID) -> None:
        await conn.execute(
            """UPDATE accounts SET limit_reached_at = NULL
               WHERE account_id = $1 AND limit_reached_at IS NOT NULL""",
            account_id,
        )

    async def update(
        self, account_id: UUID, *, in_pool: bool | None, session_limit: int | None
    ) -> bool:
        async with self._pool_of().acquire() as conn:
            found = await conn.fetchval(
                """UPDATE accounts SET in_pool = COALESCE($2, in_pool),
                       session_limit = COALESCE($3, session_limit),
                       limit_reached_at = CASE WHEN $3::int IS NULL THEN limit_reached_at END,
                       updated_at = now()
                   WHERE account_id = $1 RETURNING true""",
                account_id,
                in_pool,
                session_limit,
            )
        return bool(found)

    async def publish_metrics(self) -> None:
        capacities = await self.capacities()
        ACCOUNT_SESSIONS.clear()
        ACCOUNT_SESSION_LIMIT.clear()
        for c in capacities:
            ACCOUNT_SESSIONS.labels(str(c.account_id)).set(c.active_sessions)
            ACCOUNT_SESSION_LIMIT.labels(str(c.account_id)).set(c.session_limit)
        POOL_FREE_SESSIONS.set(sum(c.free for c in capacities if c.usable))


def capacity_view(c: Capacity) -> PoolAccount:
    row = c.row
    return PoolAccount(
        account_id=c.account_id,
        status=row["status"],
        in_pool=row["in_pool"],
        usable=c.usable,
        session_limit=c.session_limit,
        active_sessions=c.active_sessions,
        free_sessions=c.free,
        limit_reached_at=row["limit_reached_at"],
        selected_profile_uuid=c.selected_profile_uuid,
        access_expires_at=row["access_expires_at"],
        refresh_expires_at=row["refresh_expires_at"],
        token_refreshed_at=row["token_refreshed_at"],
        last_refresh_error=row["last_refresh_error"],
        created_at=row["created_at"],
    )
