"""SQL for server templates."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

COLUMNS = (
    "name",
    "description",
    "docker_image",
    "start_command",
    "stop_command",
    "environment",
    "variables",
    "config_files",
    "ports",
    "resources",
)
_WITH_COUNT = """SELECT t.*, (SELECT count(*) FROM servers s WHERE s.template_id = t.id)
                        AS server_count
                 FROM server_templates t"""


async def insert(
    conn: asyncpg.Connection, template_id: UUID, fields: dict[str, Any]
) -> asyncpg.Record:
    names = ["id", *fields]
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await conn.execute(
        f"INSERT INTO server_templates ({', '.join(names)}) VALUES ({placeholders})",
        template_id,
        *fields.values(),
    )
    return await get(conn, template_id)


async def update(
    conn: asyncpg.Connection, template_id: UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    if fields:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
        await conn.execute(
            f"UPDATE server_templates SET {sets}, updated_at = now() WHERE id = $1",
            template_id,
            *fields.values(),
        )
    return await get(conn, template_id)


async def get(
    conn: asyncpg.Connection, template_id: UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    if for_update:
        return await conn.fetchrow(
            "SELECT *, 0 AS server_count FROM server_templates WHERE id = $1 FOR UPDATE",
            template_id,
        )
    return await conn.fetchrow(f"{_WITH_COUNT} WHERE t.id = $1", template_id)


async def page(
    conn: asyncpg.Connection, offset: int, limit: int
) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        f"{_WITH_COUNT} ORDER BY t.created_at, t.id OFFSET $1 LIMIT $2", offset, limit
    )
    total = await conn.fetchval("SELECT count(*) FROM server_templates")
    return rows, total


async def in_use(conn: asyncpg.Connection, template_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM servers WHERE template_id = $1 LIMIT 1", template_id
    )
    return bool(found)


async def delete(conn: asyncpg.Connection, template_id: UUID) -> None:
    await conn.execute("DELETE FROM server_templates WHERE id = $1", template_id)
