"""SQL for linking accounts to panel users (users.pterodactyl_id, panel_identities)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from nodebyte_common.events import PanelUser


async def record_identities(
    conn: asyncpg.Connection, users: Sequence[PanelUser], as_of: datetime
) -> list[int]:
    """Keep the announced facts; return the ids whose facts are the newest known."""
    rows = await conn.fetch(
        """INSERT INTO panel_identities AS p
               (panel_id, email, username, first_name, last_name, root_admin, as_of)
           SELECT v.*, $7::timestamptz
           FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
                AS v(panel_id, email, username, first_name, last_name, root_admin)
           ON CONFLICT (panel_id) DO UPDATE
           SET email = excluded.email, username = excluded.username,
               first_name = excluded.first_name, last_name = excluded.last_name,
               root_admin = excluded.root_admin, as_of = excluded.as_of
           WHERE p.as_of <= excluded.as_of
           RETURNING panel_id""",
        [u.id for u in users],
        [u.email for u in users],
        [u.username for u in users],
        [u.first_name for u in users],
        [u.last_name for u in users],
        [u.root_admin for u in users],
        as_of,
    )
    return [r["panel_id"] for r in rows]


async def refresh_linked(conn: asyncpg.Connection, panel_ids: list[int]) -> list[int]:
    """Accounts already linked follow their panel user's admin flag; return their panel ids.
    Nothing else is copied: the account's own data (email, names) is its owner's."""
    rows = await conn.fetch(
        """WITH linked AS (
               SELECT u.id, p.panel_id, p.root_admin FROM users u
               JOIN panel_identities p ON p.panel_id = u.pterodactyl_id
               WHERE p.panel_id = ANY($1::int[])),
           changed AS (
               UPDATE users u SET is_pterodactyl_admin = l.root_admin, updated_at = now()
               FROM linked l WHERE u.id = l.id
                   AND u.is_pterodactyl_admin IS DISTINCT FROM l.root_admin)
           SELECT panel_id FROM linked""",
        panel_ids,
    )
    return [r["panel_id"] for r in rows]


async def link_by_email(conn: asyncpg.Connection, panel_ids: list[int]) -> list[int]:
    """Link unlinked accounts whose email is the panel user's (any letter case), unless an
    admin unlinked that pair; return the panel ids linked."""
    rows = await conn.fetch(
        """UPDATE users u SET pterodactyl_id = p.panel_id, is_pterodactyl_admin = p.root_admin,
                  is_migrated = true, updated_at = now()
           FROM panel_identities p
           WHERE p.panel_id = ANY($1::int[]) AND lower(u.email) = lower(p.email)
             AND u.pterodactyl_id IS NULL
             AND u.panel_unlinked_id IS DISTINCT FROM p.panel_id
           RETURNING p.panel_id""",
        panel_ids,
    )
    return [r["panel_id"] for r in rows]


async def create_accounts(
    conn: asyncpg.Connection, panel_ids: list[int], account_ids: list[UUID]
) -> int:
    """An account for each panel user whose email no account has: unverified, without a
    password (its owner claims it through the password-reset email), the panel's
    username when free. Returns how many were made."""
    result = await conn.execute(
        """INSERT INTO users (id, email, username, first_name, last_name, pterodactyl_id,
                              is_pterodactyl_admin, is_migrated)
           SELECT v.account_id, p.email,
                  CASE WHEN NOT EXISTS (SELECT 1 FROM users t
                                        WHERE lower(t.username) = lower(p.username))
                       THEN p.username END,
                  p.first_name, p.last_name, p.panel_id, p.root_admin, true
           FROM unnest($1::int[], $2::uuid[]) AS v(panel_id, account_id)
           JOIN panel_identities p ON p.panel_id = v.panel_id
           WHERE NOT EXISTS (SELECT 1 FROM users t WHERE lower(t.email) = lower(p.email))
           ON CONFLICT DO NOTHING""",
        panel_ids,
        account_ids,
    )
    return int(result.split()[-1])


async def forget_identities(
    conn: asyncpg.Connection, panel_ids: Sequence[int], as_of: datetime
) -> int:
    """Panel users the panel no longer has: drop their facts (unless newer ones came)
    and unlink their accounts, which stay. Returns how many accounts were unlinked."""
    await conn.execute(
        "DELETE FROM panel_identities WHERE panel_id = ANY($1::int[]) AND as_of <= $2",
        list(panel_ids),
        as_of,
    )
    result = await conn.execute(
        """UPDATE users u SET pterodactyl_id = NULL, is_pterodactyl_admin = false,
                  updated_at = now()
           WHERE u.pterodactyl_id = ANY($1::int[])
             AND NOT EXISTS (SELECT 1 FROM panel_identities p
                             WHERE p.panel_id = u.pterodactyl_id)""",
        list(panel_ids),
    )
    return int(result.split()[-1])


async def identity(conn: asyncpg.Connection, panel_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM panel_identities WHERE panel_id = $1", panel_id)


async def holder_of(conn: asyncpg.Connection, panel_id: int) -> UUID | None:
    """The account linked to the panel user, if any."""
    return await conn.fetchval("SELECT id FROM users WHERE pterodactyl_id = $1", panel_id)


async def set_link(
    conn: asyncpg.Connection, user_id: UUID, panel_id: int, root_admin: bool
) -> asyncpg.Record:
    """An admin's link; raises UniqueViolationError when another account took the id."""
    return await conn.fetchrow(
        """UPDATE users SET pterodactyl_id = $2, is_pterodactyl_admin = $3,
                  panel_unlinked_id = NULL, updated_at = now()
           WHERE id = $1 RETURNING *""",
        user_id,
        panel_id,
        root_admin,
    )


async def clear_link(conn: asyncpg.Connection, user_id: UUID) -> asyncpg.Record:
    """An admin's unlink; the sync will not link the pair again by email."""
    return await conn.fetchrow(
        """UPDATE users SET panel_unlinked_id = coalesce(pterodactyl_id, panel_unlinked_id),
                  pterodactyl_id = NULL, is_pterodactyl_admin = false, updated_at = now()
           WHERE id = $1 RETURNING *""",
        user_id,
    )
