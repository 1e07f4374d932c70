"""Panel users are accounts: the gateway's side of `panel_users.synced`.

The sync service owns the panel mirror and announces the panel users it found new,
changed or gone. For each announced user whose facts are the newest known:

1. an account linked to it (`pterodactyl_id`) follows its admin flag;
2. else an unlinked account with its email (any letter case) is linked, unless an
   admin unlinked that pair by hand;
3. else an account is made for it: unverified and without a password, so nobody
   signs in with it until the mailbox's owner claims it with the password-reset
   email (which verifies the address too).

Accounts linked or made by the sync count as migrated (`isMigrated`, the admin
view's `migratedUsers`). A panel user the panel no longer has is unlinked from its
account, which stays. Everything runs in the consumer's inbox transaction, so a
redelivered batch is applied once.
"""

from __future__ import annotations

import logging

import asyncpg
import uuid6

from nodebyte_common import events
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.accounts import panel_link_store as store

log = logging.getLogger(__name__)


def consume(runtime: Runtime) -> None:
    """Register the consumer of the sync's announcements."""
    consumer = runtime.consumer("panel-users")

    @consumer.on(events.PanelUsersSynced)
    async def on_synced(
        conn: asyncpg.Connection, event: events.PanelUsersSynced, _meta: EventMeta
    ) -> None:
        await apply(conn, event)


async def apply(conn: asyncpg.Connection, event: events.PanelUsersSynced) -> None:
    fresh = await store.record_identities(conn, event.users, event.as_of)
    linked = set(await store.refresh_linked(conn, fresh))
    unlinked = [panel_id for panel_id in fresh if panel_id not in linked]
    matched = set(await store.link_by_email(conn, unlinked))
    orphans = [panel_id for panel_id in unlinked if panel_id not in matched]
    made = await store.create_accounts(conn, orphans, [uuid6.uuid7() for _ in orphans])
    gone = await store.forget_identities(conn, event.removed, event.as_of) if event.removed else 0
    log.info(
        "panel users linked",
        extra={
            "sync_log_id": str(event.sync_log_id),
            "announced": len(event.users),
            "matched_by_email": len(matched),
            "accounts_made": made,
            "not_linked": len(orphans) - made,
            "unlinked_removed": gone,
        },
    )
