"""Tell the gateway which panel users are new, changed or gone (`panel_users.synced`).

The gateway owns accounts and links each panel user to one. After the users step,
in the transaction of its prune, the rows the upserts inserted or changed since
their last announcement and the ids the prune deleted go out through the outbox,
a few hundred users per event: an unchanged re-sync announces nothing, and a
crash before the commit leaves them unannounced for the next sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_sync import store

USERS_PER_EVENT = 500
REMOVED_PER_EVENT = 5_000


async def announce(
    conn: asyncpg.Connection, sync_log_id: UUID, removed: Sequence[int], *, source: str
) -> int:
    """Queue the announcements; return how many users they name."""
    changed = await store.take_unannounced_users(conn)
    if not changed and not removed:
        return 0
    as_of = await store.transaction_time(conn)
    users = [
        events.PanelUser(
            id=r["id"],
            email=r["email"],
            username=r["username"],
            first_name=r["first_name"],
            last_name=r["last_name"],
            root_admin=r["root_admin"],
        )
        for r in changed
    ]
    batches = [
        events.PanelUsersSynced(
            sync_log_id=sync_log_id, as_of=as_of, users=users[i : i + USERS_PER_EVENT]
        )
        for i in range(0, len(users), USERS_PER_EVENT)
    ] + [
        events.PanelUsersSynced(
            sync_log_id=sync_log_id, as_of=as_of, removed=list(removed[i : i + REMOVED_PER_EVENT])
        )
        for i in range(0, len(removed), REMOVED_PER_EVENT)
    ]
    await outbox.enqueue_many(conn, [(uuid6.uuid7(), e) for e in batches], source=source)
    return len(users) + len(removed)
