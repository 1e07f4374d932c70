"""SQL for console lines: appended in batches, bounded per server, read back newest last."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

ConsoleLine = tuple[UUID, str, str, datetime]  # server, stream, data, at


async def append(conn: asyncpg.Connection, lines: list[ConsoleLine], keep_per_server: int) -> None:
    """Insert lines in arrival order (ids follow it), then trim each server touched."""
    servers, streams, data, times = zip(*lines, strict=True)
    await conn.execute(
        """INSERT INTO console_lines (server_id, stream, data, at)
           SELECT v.server_id, v.stream, v.data, v.at
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
                WITH ORDINALITY AS v(server_id, stream, data, at, n)
           JOIN servers s ON s.id = v.server_id
           ORDER BY v.n""",
        list(servers),
        list(streams),
        list(data),
        list(times),
    )
    await conn.execute(
        """DELETE FROM console_lines c USING (
               SELECT t.id AS server_id,
                      (SELECT id FROM console_lines WHERE server_id = t.id
                       ORDER BY id DESC OFFSET $2 LIMIT 1) AS cutoff
               FROM unnest($1::uuid[]) AS t(id)) k
           WHERE c.server_id = k.server_id AND c.id <= k.cutoff""",
        list(set(servers)),
        keep_per_server,
    )


async def recent(
    conn: asyncpg.Connection,
    server_id: UUID,
    *,
    limit: int,
    stream: str | None,
    before: datetime | None,
) -> list[asyncpg.Record]:
    """The last `limit` lines (before `before`), oldest first."""
    rows = await conn.fetch(
        """SELECT * FROM console_lines
           WHERE server_id = $1 AND ($2::text IS NULL OR stream = $2)
             AND ($3::timestamptz IS NULL OR at < $3)
           ORDER BY id DESC LIMIT $4""",
        server_id,
        stream,
        before,
        limit,
    )
    return list(reversed(rows))


async def purge_older_than(conn: asyncpg.Connection, days: int) -> int:
    result = await conn.execute(
        "DELETE FROM console_lines WHERE at < now() - make_interval(days => $1)", days
    )
    return int(result.split()[-1])
