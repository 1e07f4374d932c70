"""The loop both delivery workers share: claim, send concurrently, settle in batches.

- Claims leased deliveries when woken (NOTIFY on enqueue) or every second.
- Sends up to `max_in_flight` at once; each outcome joins a settle queue that
  is written in one transaction per batch (fenced by the lease owner, so a
  delivery recovered by another worker is never settled twice).
- Sweeps for deliveries abandoned by dead workers every `RECOVERY_INTERVAL`.
- On stop, claims nothing more and lets requests in flight finish (up to
  `drain_seconds`) and their outcomes be written, so a restart of the notifier
  leaves nothing in doubt; only a crash mid-request can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from typing import Any

import asyncpg

from nodebyte_common.observability import resumed_span
from nodebyte_notifier.leases import (
    hold_owner_lock,
    new_owner_key,
    recover_abandoned,
    release_owner_lock,
)
from nodebyte_notifier.retry_policy import Attempt

log = logging.getLogger(__name__)

RECOVERY_INTERVAL = 2.0
IDLE_WAIT = 1.0
SETTLE_BATCH = 200


class LeaseWorker(ABC):
    table: str  # the deliveries table
    channel: str  # NOTIFY channel of new deliveries

    def __init__(
        self, pool: asyncpg.Pool, *, max_in_flight: int, lease_seconds: float, drain_seconds: float
    ) -> None:
        self.pool = pool
        self.owner = new_owner_key()
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.drain_seconds = drain_seconds
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        # Outcomes waiting to be written; None tells the settler to finish.
        self._outcomes: asyncio.Queue[tuple[asyncpg.Record, Attempt] | None] = asyncio.Queue()

    @abstractmethod
    async def claim(self, conn: asyncpg.Connection, free: int) -> list[asyncpg.Record]:
        """Lease up to `free` due deliveries to `self.owner`."""

    @abstractmethod
    async def send(self, row: asyncpg.Record) -> Attempt:
        """Make one attempt at a claimed delivery."""

    @abstractmethod
    async def settle(self, conn: asyncpg.Connection, outcomes: list[tuple[Any, Attempt]]) -> None:
        """Write outcomes (inside the caller's transaction), fenced by `self.owner`."""

    def wait_hint(self) -> float:
        """How long to sleep when idle; workers with rate limits may sleep less."""
        return IDLE_WAIT

    async def run(self) -> None:
        async with self.pool.acquire() as listener:
            await hold_owner_lock(listener, self.owner)
            await listener.add_listener(self.channel, self._on_notify)
            settler = asyncio.create_task(self._settle_forever(), name=f"{self.table}-settle")
            try:
                await self._claim_forever()
            finally:
                await self._drain(settler)
                await listener.remove_listener(self.channel, self._on_notify)
                await release_owner_lock(listener, self.owner)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _claim_forever(self) -> None:
        next_recovery = 0.0
        while True:
            if time.monotonic() >= next_recovery:
                await self.recover()
                next_recovery = time.monotonic() + RECOVERY_INTERVAL
            free = self.max_in_flight - len(self._in_flight)
            self._wake.clear()
            claimed = await self._claim(free) if free > 0 else []
            for row in claimed:
                task = asyncio.create_task(self._attempt(row))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.wait_hint())

    async def _claim(self, free: int) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.claim(conn, free)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # room for another claim

    async def _attempt(self, row: asyncpg.Record) -> None:
        try:
            # In the trace of what queued the delivery, however long it waited.
            with resumed_span(
                f"deliver {self.table}", row["traceparent"], {"delivery.id": str(row["id"])}
            ):
                attempt = await self.send(row)
        except Exception as exc:  # a bug must not strand the lease until it expires
            log.exception("delivery attempt crashed", extra={"delivery_id": str(row["id"])})
            attempt = Attempt(sent=False, error=f"internal error: {type(exc).__name__}")
        self._outcomes.put_nowait((row, attempt))

    async def recover(self) -> int:
        async with self.pool.acquire() as conn:
            recovered = await recover_abandoned(conn, self.table)
        if recovered:
            log.warning("recovered abandoned deliveries", extra={"count": recovered})
            self._wake.set()
        return recovered

    async def _settle_forever(self) -> None:
        finished = False
        while not finished:
            batch: list[tuple[asyncpg.Record, Attempt]] = []
            item = await self._outcomes.get()
            while True:
                if item is None:
                    finished = True
                    break
                batch.append(item)
                if self._outcomes.empty() or len(batch) >= SETTLE_BATCH:
                    break
                item = self._outcomes.get_nowait()
            if batch:
                await self._settle_batch(batch)

    async def _settle_batch(self, batch: list[tuple[asyncpg.Record, Attempt]]) -> None:
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self.settle(conn, batch)
                return
            except (OSError, asyncpg.PostgresError):
                # Leases are still ours; try again rather than leave them to expire.
                log.exception("settling deliveries failed; retrying")
                await asyncio.sleep(1.0)

    async def _drain(self, settler: asyncio.Task[None]) -> None:
        """Let requests in flight finish and their outcomes be written."""
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight), timeout=self.drain_seconds)
            for task in late:  # their leases are recovered, in doubt, after we are gone
                task.cancel()
        self._outcomes.put_nowait(None)
        await settler
