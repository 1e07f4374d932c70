"""Game server console logs, kept in the database for 30 days.

Every few minutes the console log of each server with a game session is read
through the panel's Client API (`files/list` of the log directory, then
`files/contents` of the newest file). A cursor per server (file name and byte
offset) makes each round take only what was written since: complete lines
after the offset, stored with their offset, so a line is never stored twice
even when two rounds overlap. A file that shrank was rotated in place and is
read from the start; when a newer file appears, the rest of the old one is
read first. A failing server is recorded on its cursor and tried next round.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from nodebyte_common.contracts.hytale import LogSync, ServerLogLine
from nodebyte_hytale_auth.metrics import SERVER_LOG_LINES
from nodebyte_hytale_auth.panel_servers import ServerDirectory

log = logging.getLogger(__name__)

MAX_LINE = 8192
HEAD_BYTES = 256  # how much of a file's start identifies it
CONCURRENCY = 4


class LogReadError(Exception):
    """The panel would not give the server's log (status or transport failure)."""


@dataclass(frozen=True)
class Cursor:
    """Where reading a server's log resumes, and how to tell the file was rewritten."""

    file_name: str | None
    generation: int
    byte_offset: int = 0
    head_length: int = 0
    head_hash: bytes | None = None

    def rewritten(self, data: bytes) -> bool:
        """Shorter than what was read, or its first bytes changed: not the file we read."""
        if len(data) < self.byte_offset:
            return True
        head = data[: self.head_length]
        return self.head_hash is not None and hashlib.sha256(head).digest() != self.head_hash

    def advanced(self, data: bytes, offset: int) -> Cursor:
        head = data[: min(offset, HEAD_BYTES)]
        return Cursor(
            self.file_name, self.generation, offset, len(head), hashlib.sha256(head).digest()
        )


@dataclass(frozen=True)
class LogFile:
    name: str
    modified_at: str


class PanelFileReader:
    """The two Client API file calls the collector needs (contents is text, not JSON)."""

    def __init__(self, base_url: str, client_key: str, timeout: float = 15.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/client/servers",
            headers={"Authorization": f"Bearer {client_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def log_files(self, identifier: str, directory: str) -> list[LogFile]:
        body = (await self._get(f"/{identifier}/files/list", {"directory": directory})).json()
        files = [entry["attributes"] for entry in body.get("data", [])]
        return sorted(
            (LogFile(f["name"], f["modified_at"]) for f in files if _is_log(f)),
            key=lambda f: (f.modified_at, f.name),
        )

    async def contents(self, identifier: str, path: str) -> bytes:
        return (await self._get(f"/{identifier}/files/contents", {"file": path})).content

    async def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise LogReadError(type(exc).__name__) from None
        if response.status_code != 200:
            raise LogReadError(f"panel answered {response.status_code}")
        return response


def _is_log(attributes: dict[str, Any]) -> bool:
    return bool(attributes.get("is_file")) and str(attributes.get("name", "")).endswith(".log")


def complete_lines(data: bytes, start: int) -> tuple[list[tuple[int, str]], int]:
    """(offset, line) for each whole line from `start`, and where the next read begins."""
    lines: list[tuple[int, str]] = []
    position = start
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            return lines, position
        text = data[position:end].rstrip(b"\r").decode("utf-8", "replace")[:MAX_LINE]
        if text.strip():
            lines.append((position, text))
        position = end + 1


class ServerLogCollector:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        directory: ServerDirectory,
        reader: PanelFileReader,
        *,
        log_dir: str = "logs",
        retention_days: int = 30,
    ) -> None:
        self._pool_of = pool_of
        self.directory = directory
        self.reader = reader
        self.log_dir = "/" + log_dir.strip("/")
        self.retention_days = retention_days

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()

    async def collect(self) -> int:
        """One round over every server with an active session; return lines stored."""
        async with self.pool.acquire() as conn:
            servers = [
                r["server_id"]
                for r in await conn.fetch(
                    """SELECT DISTINCT server_id FROM game_sessions
                       WHERE status = 'active' AND server_id IS NOT NULL"""
                )
            ]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(server_id: int) -> int:
            async with gate:
                return await self.collect_server(server_id)

        return sum(await asyncio.gather(*(one(s) for s in servers)))

    async def collect_server(self, server_id: int) -> int:
        try:
            return await self._collect(server_id)
        except Exception as exc:  # one server's trouble never stops the round
            await self._record_failure(server_id, f"{type(exc).__name__}: {exc}"[:300])
            log.warning(
                "server log fetch failed; will retry",
                extra={"server_id": server_id, "error": type(exc).__name__},
            )
            return 0

    async def _collect(self, server_id: int) -> int:
        identifier = (await self.directory.server(server_id)).identifier
        files = [f.name for f in await self.reader.log_files(identifier, self.log_dir)]
        cursor = await self._cursor(server_id)
        if not files:
            return await self._save(server_id, cursor, [])  # nothing written yet
        newest, stored = files[-1], 0
        if cursor.file_name in files and cursor.file_name != newest:
            stored += await self._read(server_id, identifier, cursor)  # the old file's tail
        if cursor.file_name != newest:
            cursor = Cursor(newest, cursor.generation + 1)
        return stored + await self._read(server_id, identifier, cursor)

    async def _cursor(self, server_id: int) -> Cursor:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT file_name, generation, byte_offset, head_length, head_hash
                   FROM server_log_cursors WHERE server_id = $1""",
                server_id,
            )
        return Cursor(*row) if row is not None else Cursor(None, 0)

    async def _read(self, server_id: int, identifier: str, cursor: Cursor) -> int:
        assert cursor.file_name is not None
        data = await self.reader.contents(identifier, f"{self.log_dir}/{cursor.file_name}")
        if cursor.rewritten(data):  # rotated in place: a new generation from the start
            cursor = Cursor(cursor.file_name, cursor.generation + 1)
        lines, next_offset = complete_lines(data, cursor.byte_offset)
        return await self._save(server_id, cursor.advanced(data, next_offset), lines)

    async def _save(self, server_id: int, cursor: Cursor, lines: list[tuple[int, str]]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = 0
            if lines:
                result = await conn.fetchval(
                    """WITH added AS (
                           INSERT INTO server_logs
                               (server_id, file_name, generation, byte_offset, line)
                           SELECT $1, $2, $3, o, l
                           FROM unnest($4::bigint[], $5::text[]) AS t(o, l)
                           ON CONFLICT DO NOTHING RETURNING 1)
                       SELECT count(*) FROM added""",
                    server_id,
                    cursor.file_name,
                    cursor.generation,
                    [o for o, _ in lines],
                    [line for _, line in lines],
                )
                inserted = int(result)
            await conn.execute(
                """INSERT INTO server_log_cursors (server_id, file_name, generation, byte_offset,
                       head_length, head_hash, last_synced_at, consecutive_failures)
                   VALUES ($1, $2, $3, $4, $5, $6, now(), 0)
                   ON CONFLICT (server_id) DO UPDATE SET file_name = $2, generation = $3,
                       byte_offset = $4, head_length = $5, head_hash = $6,
                       last_synced_at = now(), last_error = NULL, consecutive_failures = 0""",
                server_id,
                cursor.file_name,
                cursor.generation,
                cursor.byte_offset,
                cursor.head_length,
                cursor.head_hash,
            )
        SERVER_LOG_LINES.inc(inserted)
        return inserted

    async def _record_failure(self, server_id: int, error: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO server_log_cursors (server_id, last_error, consecutive_failures)
                   VALUES ($1, $2, 1)
                   ON CONFLICT (server_id) DO UPDATE SET last_error = $2,
                       consecutive_failures = server_log_cursors.consecutive_failures + 1""",
                server_id,
                error,
            )

    async def purge(self) -> int:
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                "DELETE FROM server_logs WHERE logged_at < now() - make_interval(days => $1)",
                self.retention_days,
            )
        return int(done.split()[-1])

    async def page(
        self, server_id: int, limit: int, offset: int
    ) -> tuple[list[ServerLogLine], int]:
        """Newest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT id, file_name, byte_offset, line, logged_at FROM server_logs
                   WHERE server_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3""",
                server_id,
                limit,
                offset,
            )
            total = await self.count(server_id, conn)
        return [log_view(r) for r in rows], total

    async def count(self, server_id: int, conn: asyncpg.Connection | None = None) -> int:
        if conn is None:
            async with self.pool.acquire() as own:
                return await self.count(server_id, own)
        return await conn.fetchval(
            "SELECT count(*) FROM server_logs WHERE server_id = $1", server_id
        )

    async def sync_state(self, server_id: int) -> LogSync | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM server_log_cursors WHERE server_id = $1", server_id
            )
        if row is None:
            return None
        return LogSync(
            file_name=row["file_name"],
            generation=row["generation"],
            byte_offset=row["byte_offset"],
            last_synced_at=row["last_synced_at"],
            last_error=row["last_error"],
            consecutive_failures=row["consecutive_failures"],
        )


def log_view(row: asyncpg.Record) -> ServerLogLine:
    return ServerLogLine(
        id=row["id"],
        file_name=row["file_name"],
        byte_offset=row["byte_offset"],
        line=row["line"],
        logged_at=row["logged_at"],
    )
