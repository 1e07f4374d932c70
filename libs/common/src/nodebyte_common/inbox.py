"""Inbox: a consumer records each event id it processed, with the effect.

Call `claim` inside the transaction that applies the event: it returns False
when the id was already processed (a redelivery), and the caller skips the
effect. The row commits or rolls back with the effect, so neither can exist
without the other.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event_id,
    )
    return bool(inserted)


async def seen(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event_id
        )
    )


async def claim_many(conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]) -> list[UUID]:
    """Claim several ids in one statement; return those not processed before."""
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer,
        event_ids,
    )
    return [row["event_id"] for row in rows]
