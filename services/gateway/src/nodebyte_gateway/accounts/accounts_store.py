"""SQL for users and roles (the gateway schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import uuid6

# Columns the profile endpoints may change, by their API name.
PROFILE_COLUMNS = {
    "username": "username",
    "firstName": "first_name",
    "lastName": "last_name",
    "phoneNumber": "phone_number",
    "companyName": "company_name",
    "billingEmail": "billing_email",
    "avatarUrl": "avatar_url",
}
ADMIN_ROLES_SQL = "(SELECT coalesce(array_agg(name), '{}') FROM roles WHERE is_admin)"
IS_ADMIN_SQL = f"(u.roles && {ADMIN_ROLES_SQL} OR u.is_pterodactyl_admin OR u.is_virtfusion_admin)"
USER_FILTERS = {
    "all": "true",
    "migrated": "u.is_migrated",
    "active": "u.is_active",
    "inactive": "NOT u.is_active",
    "admin": IS_ADMIN_SQL,
    "verified": "u.email_verified_at IS NOT NULL",
    "unverified": "u.email_verified_at IS NULL",
}
USER_SORTS = {
    "createdAt": "u.created_at",
    "email": "lower(u.email)",
    "username": "lower(u.username)",
    "lastLoginAt": "u.last_login_at",
    "updatedAt": "u.updated_at",
}


async def by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM users WHERE lower(email) = lower($1)", email)


async def by_username(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM users WHERE lower(username) = lower($1)", username)


async def by_id(
    conn: asyncpg.Connection, user_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM users WHERE id = $1{lock}", user_id)


async def email_taken(conn: asyncpg.Connection, email: str) -> bool:
    found = await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email)
    return found is not None


async def username_taken(
    conn: asyncpg.Connection, username: str, except_id: UUID | None = None
) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM users WHERE lower(username) = lower($1) AND id IS DISTINCT FROM $2",
        username,
        except_id,
    )
    return found is not None


@dataclass
class NewUser:
    email: str
    password_hash: str | None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    roles: list[str] = field(default_factory=lambda: ["MEMBER"])
    verified: bool = False


async def insert(conn: asyncpg.Connection, user: NewUser) -> asyncpg.Record:
    """Insert a user; raises asyncpg.UniqueViolationError on a taken email/username."""
    return await conn.fetchrow(
        """INSERT INTO users (id, email, username, password_hash, first_name, last_name,
                              roles, email_verified_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 THEN now() END)
           RETURNING *""",
        uuid6.uuid7(),
        user.email,
        user.username,
        user.password_hash,
        user.first_name,
        user.last_name,
        user.roles,
        user.verified,
    )


async def record_login(conn: asyncpg.Connection, user_id: UUID) -> None:
    await conn.execute("UPDATE users SET last_login_at = now() WHERE id = $1", user_id)


async def upgrade_password_hash(conn: asyncpg.Connection, user_id: UUID, new_hash: str) -> None:
    """Replace a hash that verified with a stronger one of the same password."""
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, new_hash)


async def set_password(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def mark_verified(conn: asyncpg.Connection, user_id: UUID) -> asyncpg.Record:
    """Verify the email; `was_verified` says whether it already was."""
    return await conn.fetchrow(
        """UPDATE users u SET email_verified_at = coalesce(u.email_verified_at, now()),
                  updated_at = now()
           FROM (SELECT id, email_verified_at IS NOT NULL AS was_verified
                 FROM users WHERE id = $1 FOR UPDATE) old
           WHERE u.id = old.id
           RETURNING u.*, old.was_verified""",
        user_id,
    )


async def change_email(conn: asyncpg.Connection, user_id: UUID, email: str) -> asyncpg.Record:
    """Switch to a verified new address; raises UniqueViolationError when it is taken."""
    return await conn.fetchrow(
        """UPDATE users SET email = $2, email_verified_at = now(), updated_at = now()
           WHERE id = $1 RETURNING *""",
        user_id,
        email,
    )


async def update_profile(
    conn: asyncpg.Connection, user_id: UUID, changes: dict[str, Any]
) -> asyncpg.Record:
    """Apply API-named profile changes (keys of PROFILE_COLUMNS only)."""
    columns = [PROFILE_COLUMNS[name] for name in changes]
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
    return await conn.fetchrow(
        f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1 RETURNING *",
        user_id,
        *changes.values(),
    )


async def set_roles(conn: asyncpg.Connection, user_id: UUID, roles: list[str]) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE users SET roles = $2, updated_at = now() WHERE id = $1 RETURNING *",
        user_id,
        roles,
    )


async def roles_catalogue(conn: asyncpg.Connection, *, lock: bool = False) -> list[asyncpg.Record]:
    """Every role; `lock` holds them (FOR SHARE) till the transaction ends, so a role
    being given to a user cannot be deleted meanwhile."""
    suffix = " FOR SHARE" if lock else ""
    return await conn.fetch(f"SELECT * FROM roles ORDER BY position, name{suffix}")


async def permissions_of(conn: asyncpg.Connection, roles: list[str]) -> list[str]:
    """The union of the roles' permissions, sorted (unknown role names grant nothing)."""
    found = await conn.fetchval(
        """SELECT coalesce(array_agg(DISTINCT p ORDER BY p), '{}')
           FROM roles, unnest(permissions) AS p WHERE name = ANY($1::text[])""",
        roles,
    )
    return list(found)


_PERMISSIONS_OF_USER = """coalesce((SELECT array_agg(DISTINCT p ORDER BY p)
    FROM roles r, unnest(r.permissions) AS p WHERE r.name = ANY(u.roles)), '{}')"""


async def session_access(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    """The user's email, roles and permissions as they are now, while the session
    is live and the account active; None otherwise."""
    return await conn.fetchrow(
        f"""SELECT u.email, u.roles, {_PERMISSIONS_OF_USER} AS permissions
            FROM auth_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND u.is_active""",
        session_id,
        user_id,
    )


async def active_user_permissions(conn: asyncpg.Connection, user_id: UUID) -> list[str] | None:
    """An active user's permissions as they are now; None for an inactive or unknown one."""
    found = await conn.fetchval(
        f"SELECT {_PERMISSIONS_OF_USER} FROM users u WHERE u.id = $1 AND u.is_active", user_id
    )
    return None if found is None else list(found)


@dataclass(frozen=True)
class UserQuery:
    filter: str = "all"
    search: str = ""
    sort_field: str = "createdAt"
    sort_order: str = "desc"
    limit: int = 25
    offset: int = 0


async def list_users(conn: asyncpg.Connection, q: UserQuery) -> tuple[list[asyncpg.Record], int]:
    """A page of users with their live session counts, and the total matching."""
    where = [USER_FILTERS[q.filter]]
    args: list[Any] = []
    if q.search:
        args.append(f"%{_escape_like(q.search)}%")
        where.append(
            "(u.email ILIKE $1 OR u.username ILIKE $1 OR u.first_name ILIKE $1"
            " OR u.last_name ILIKE $1)"
        )
    condition = " AND ".join(where)
    order = "DESC" if q.sort_order == "desc" else "ASC"
    total = await conn.fetchval(f"SELECT count(*) FROM users u WHERE {condition}", *args)
    rows = await conn.fetch(
        f"""SELECT u.*, {IS_ADMIN_SQL} AS is_admin,
                   (SELECT count(*) FROM auth_sessions s
                    WHERE s.user_id = u.id AND s.revoked_at IS NULL) AS session_count
            FROM users u WHERE {condition}
            ORDER BY {USER_SORTS[q.sort_field]} {order} NULLS LAST, u.id {order}
            LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}""",
        *args,
        q.limit,
        q.offset,
    )
    return rows, total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def user_stats(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        f"""SELECT count(*) AS total,
                   count(*) FILTER (WHERE u.is_migrated) AS migrated,
                   count(*) FILTER (WHERE {IS_ADMIN_SQL}) AS admins,
                   count(*) FILTER (WHERE u.is_active) AS active
            FROM users u"""
    )
    return {
        "totalUsers": row["total"],
        "migratedUsers": row["migrated"],
        "adminCount": row["admins"],
        "activeCount": row["active"],
    }
