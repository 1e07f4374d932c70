"""Failed agent handshakes lock a node's handshakes out for growing delays.

Kept in PostgreSQL, so every replica sees the same count: an attacker cannot
spread guesses over replicas. The key is the node id the caller claimed.
"""

from __future__ import annotations

import asyncpg

QUIET_RESET = "1 day"  # a node with no failure for this long starts from zero again


def lock_seconds(failures: int, *, threshold: int, base: float, cap: float) -> float:
    """0 below the threshold, then base·2^(failures-threshold), at most `cap`."""
    if failures < threshold:
        return 0.0
    return min(cap, base * 2 ** min(failures - threshold, 32))


async def remaining(conn: asyncpg.Connection, key: str) -> float:
    """Seconds the key stays locked (0 when it is not)."""
    left = await conn.fetchval(
        """SELECT extract(epoch FROM locked_until - now()) FROM handshake_lockouts
           WHERE node_key = $1 AND locked_until > now()""",
        key,
    )
    return float(left or 0.0)


async def record_failure(
    conn: asyncpg.Connection, key: str, *, threshold: int, base: float, cap: float
) -> float:
    """Count a failure; return how long the key is locked now."""
    failures = await conn.fetchval(
        f"""INSERT INTO handshake_lockouts (node_key, failures, last_failure_at)
            VALUES ($1, 1, now())
            ON CONFLICT (node_key) DO UPDATE SET
                failures = CASE WHEN handshake_lockouts.last_failure_at
                                     < now() - interval '{QUIET_RESET}'
                                THEN 1 ELSE handshake_lockouts.failures + 1 END,
                last_failure_at = now()
            RETURNING failures""",
        key,
    )
    seconds = lock_seconds(failures, threshold=threshold, base=base, cap=cap)
    if seconds > 0:
        await conn.execute(
            """UPDATE handshake_lockouts SET locked_until = now() + make_interval(secs => $2)
               WHERE node_key = $1""",
            key,
            seconds,
        )
    return seconds


async def clear(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("DELETE FROM handshake_lockouts WHERE node_key = $1", key)


async def purge_idle(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"""DELETE FROM handshake_lockouts WHERE last_failure_at < now() - interval '{QUIET_RESET}'
            AND (locked_until IS NULL OR locked_until < now())"""
    )
