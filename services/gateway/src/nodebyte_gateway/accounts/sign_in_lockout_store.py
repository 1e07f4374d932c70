"""SQL of sign-in lockouts (`sign_in_failures`), keyed by the email's digest."""

from __future__ import annotations

from datetime import datetime

import asyncpg

_LOCKED_UNTIL = """
SELECT locked_until FROM sign_in_failures WHERE email_digest = $1 AND locked_until > now()
"""

# A failure a quiet hour after the last one starts counting afresh; lockouts
# are forgotten after a quiet day.
_COUNT_FAILURE = """
INSERT INTO sign_in_failures AS f (email_digest, failures, updated_at)
VALUES ($1, 1, now())
ON CONFLICT (email_digest) DO UPDATE SET
    failures = CASE WHEN f.updated_at < now() - interval '1 hour' THEN 1 ELSE f.failures + 1 END,
    lockouts = CASE WHEN f.updated_at < now() - interval '1 day' THEN 0 ELSE f.lockouts END,
    updated_at = now()
RETURNING failures
"""

# The lock's length doubles with each lockout: $2 seconds, then twice that, up to $3.
_LOCK = """
UPDATE sign_in_failures SET
    failures = 0,
    lockouts = lockouts + 1,
    locked_until = now() + make_interval(secs => LEAST($2 * 2 ^ lockouts, $3)),
    updated_at = now()
WHERE email_digest = $1 AND failures >= $4
RETURNING locked_until
"""


async def locked_until(conn: asyncpg.Connection, digest: bytes) -> datetime | None:
    value: datetime | None = await conn.fetchval(_LOCKED_UNTIL, digest)
    return value


async def count_failure(conn: asyncpg.Connection, digest: bytes) -> int:
    failures: int = await conn.fetchval(_COUNT_FAILURE, digest)
    return failures


async def lock(
    conn: asyncpg.Connection,
    digest: bytes,
    *,
    threshold: int,
    first_seconds: float,
    longest_seconds: float,
) -> datetime | None:
    """Lock the address if it has `threshold` failures (None if a concurrent one did)."""
    until: datetime | None = await conn.fetchval(
        _LOCK, digest, first_seconds, longest_seconds, threshold
    )
    return until


async def release(conn: asyncpg.Connection, digest: bytes) -> None:
    """End the lock and the count, but remember the lockouts: the next one is longer."""
    await conn.execute(
        """UPDATE sign_in_failures SET failures = 0, locked_until = NULL, updated_at = now()
           WHERE email_digest = $1""",
        digest,
    )


async def forget(conn: asyncpg.Connection, digest: bytes) -> None:
    await conn.execute("DELETE FROM sign_in_failures WHERE email_digest = $1", digest)


async def purge_stale(conn: asyncpg.Connection) -> int:
    """Forget addresses without a failure for a day (and so without a lock)."""
    result = await conn.execute(
        """DELETE FROM sign_in_failures
           WHERE updated_at < now() - interval '1 day'
             AND (locked_until IS NULL OR locked_until < now())"""
    )
    return int(result.rsplit(" ", 1)[-1])
