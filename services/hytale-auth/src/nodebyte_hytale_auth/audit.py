"""The Hytale audit trail, written off the request path.

`record` only queues the entry; a background writer inserts what queued up in
one statement every `flush_seconds` (or sooner when a batch fills). The queue is
bounded: when the database cannot keep up, entries are dropped and counted
rather than slowing requests. Entries still queued at shutdown are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common.contracts.envelope import Caller
from nodebyte_common.contracts.hytale import AuditEvent
from nodebyte_hytale_auth.metrics import AUDIT_DROPPED

log = logging.getLogger(__name__)

MAX_USER_AGENT = 512

_INSERT = """INSERT INTO audit_logs (id, event_type, account_id, profile_uuid, session_id,
                 server_id, ip_address, user_agent, details, created_at)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[],
                 $6::int[], $7::inet[], $8::text[], $9::jsonb[], $10::timestamptz[])"""


SYSTEM = Caller()


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class AuditWriter:
    def __init__(
        self, pool_of: Any, *, max_queue: int = 10_000, batch: int = 500, flush_seconds: float = 0.2
    ) -> None:
        self._pool_of = pool_of  # the pool once the runtime has started
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(max_queue)
        self._batch = batch
        self._flush_seconds = flush_seconds

    def record(
        self,
        event: AuditEvent,
        caller: Caller = SYSTEM,
        *,
        account_id: UUID | None = None,
        profile_uuid: UUID | None = None,
        session_id: UUID | None = None,
        server_id: int | None = None,
        **details: Any,
    ) -> None:
        entry = (
            uuid6.uuid7(),
            event,
            account_id,
            profile_uuid,
            session_id,
            server_id,
            _ip(caller.ip),
            (caller.user_agent or None) and caller.user_agent[:MAX_USER_AGENT],
            details,
            datetime.now(UTC),
        )
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            AUDIT_DROPPED.inc()

    async def run(self) -> None:
        """The background writer: insert batches until cancelled, then flush the rest."""
        try:
            while True:
                first = await self._queue.get()
                await asyncio.sleep(self._flush_seconds)  # let a burst gather
                await self._write([first, *self._drain()])
        finally:
            with contextlib.suppress(Exception):
                await self.flush()

    async def flush(self) -> None:
        while not self._queue.empty():
            await self._write(self._drain())

    def _drain(self) -> list[tuple[Any, ...]]:
        taken = []
        while len(taken) < self._batch and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _write(self, entries: list[tuple[Any, ...]]) -> None:
        if not entries:
            return
        columns = [list(column) for column in zip(*entries, strict=True)]
        pool: asyncpg.Pool = self._pool_of()
        try:
            async with pool.acquire() as conn:
                await conn.execute(_INSERT, *columns)
        except (OSError, asyncpg.PostgresError):
            log.exception("audit entries could not be written", extra={"count": len(entries)})
