"""SQL for roles: the built-in ones and those admins define (the gateway schema).

Users name their roles (`users.roles`), so renaming a role renames it in every
user's list, in the same transaction.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

CUSTOM_POSITION = 100  # custom roles are listed after the built-in ones

_WITH_USERS = """SELECT r.*,
                        (SELECT count(*) FROM users u WHERE r.name = ANY(u.roles)) AS user_count
                 FROM roles r"""


async def all_roles(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(f"{_WITH_USERS} ORDER BY r.position, r.name")


async def by_id(
    conn: asyncpg.Connection, role_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF r" if for_update else ""
    return await conn.fetchrow(f"{_WITH_USERS} WHERE r.id = $1{lock}", role_id)


async def insert(
    conn: asyncpg.Connection, role_id: UUID, name: str, description: str, permissions: list[str]
) -> asyncpg.Record:
    """The new role; asyncpg.UniqueViolationError when the name (any case) is taken."""
    await conn.execute(
        """INSERT INTO roles (id, name, description, permissions, position)
           VALUES ($1, $2, $3, $4, $5)""",
        role_id,
        name,
        description,
        permissions,
        CUSTOM_POSITION,
    )
    return await by_id(conn, role_id)  # type: ignore[return-value]


async def update(
    conn: asyncpg.Connection,
    before: asyncpg.Record,
    name: str,
    description: str,
    permissions: list[str],
) -> asyncpg.Record:
    """Change a custom role; a new name is carried into its users' role lists."""
    await conn.execute(
        """UPDATE roles SET name = $2, description = $3, permissions = $4, updated_at = now()
           WHERE id = $1""",
        before["id"],
        name,
        description,
        permissions,
    )
    if name != before["name"]:
        await conn.execute(
            """UPDATE users SET roles = array_replace(roles, $1, $2), updated_at = now()
               WHERE $1 = ANY(roles)""",
            before["name"],
            name,
        )
    return await by_id(conn, before["id"])  # type: ignore[return-value]


async def holders(conn: asyncpg.Connection, name: str) -> int:
    """How many users hold the role now (read after the role's row is locked)."""
    return await conn.fetchval("SELECT count(*) FROM users WHERE $1 = ANY(roles)", name)


async def delete(conn: asyncpg.Connection, role_id: UUID) -> None:
    await conn.execute("DELETE FROM roles WHERE id = $1 AND NOT is_builtin", role_id)
