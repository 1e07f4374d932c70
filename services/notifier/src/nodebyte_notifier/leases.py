"""Leases on deliveries: a deadline, renewed while the request runs, and a fencing token.

A worker claims a delivery by setting it `sending` with a fresh `lease_token`
and a deadline `lease_until`. While the request (and the writing of its
outcome) lasts, the worker renews the deadline of every lease it holds, from
any pooled connection: no session has to stay up. A delivery is sent again
only once its lease has expired (its holder died, hung, or lost the database
for longer than the lease); whatever the old holder then tries to write is
refused, because every write names the token and a new claim changed it.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def renew(
    conn: asyncpg.Connection, table: str, held: dict[UUID, UUID], lease_seconds: float
) -> set[UUID]:
    """Extend the leases still ours; the ids renewed.

    A lease that expired and was put back in the queue, but that nobody has
    claimed since, still carries our token: it is taken back (the request is
    still ours, in flight), rather than sent a second time by someone else.
    """
    rows = await conn.fetch(
        f"""UPDATE {table} t
            SET status = 'sending', lease_until = now() + make_interval(secs => $3),
                updated_at = now()
            FROM unnest($1::uuid[], $2::uuid[]) AS u(id, token)
            WHERE t.id = u.id AND t.lease_token = u.token AND t.status IN ('sending', 'queued')
            RETURNING t.id""",
        list(held),
        list(held.values()),
        lease_seconds,
    )
    return {row["id"] for row in rows}


async def recover_expired(conn: asyncpg.Connection, table: str) -> int:
    """Requeue deliveries whose lease ran out; they are in doubt.

    In doubt: the holder may have sent the message before it died. The
    delivery is sent again (nothing is lost); whether the upstream then shows
    it twice depends on the upstream (see the notifier's README). The token is
    kept, so a holder that is alive after all can take it back until someone
    claims it anew.
    """
    rows = await conn.fetch(
        f"""UPDATE {table} SET status = 'queued', in_doubt = true, lease_until = NULL,
                   next_attempt_at = now(), updated_at = now()
            WHERE status = 'sending' AND lease_until < now()
            RETURNING id"""
    )
    return len(rows)


async def release(conn: asyncpg.Connection, table: str, held: dict[UUID, UUID]) -> int:
    """Give up leases whose requests were abandoned (a stop), for others to take now."""
    status = await conn.execute(
        f"""UPDATE {table} t SET status = 'queued', in_doubt = true, lease_until = NULL,
                   lease_token = NULL, next_attempt_at = now(), updated_at = now()
            FROM unnest($1::uuid[], $2::uuid[]) AS u(id, token)
            WHERE t.id = u.id AND t.lease_token = u.token AND t.status = 'sending'""",
        list(held),
        list(held.values()),
    )
    return int(status.rsplit(" ", 1)[-1])
