"""The loop both delivery workers share: claim, send concurrently, settle in batches.

- Claims deliveries when woken (NOTIFY on enqueue) or every second; each claim
  is a lease with a deadline and its own fencing token (see `leases`).
- Sends up to `max_in_flight` at once, and renews the leases it holds every
  third of a lease, from any pooled connection, until their outcomes are
  written: losing one database connection loses no lease.
- Writes outcomes in one transaction per batch, each fenced by its token: a
  delivery whose lease ran out and was claimed again is never settled twice.
- Requeues deliveries whose lease expired every `RECOVERY_INTERVAL`.
- Database errors are retried (briefly paused), never the end of the worker.
- On stop, claims nothing more, lets requests in flight finish (up to
  `drain_seconds`) and their outcomes be written, and hands back the leases
  of any request it gave up on, so another replica takes them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common.observability import resumed_span
from nodebyte_notifier import leases
from nodebyte_notifier.retry_policy import Attempt
from nodebyte_notifier.wakeups import DB_ERRORS, Wakeups

log = logging.getLogger(__name__)

RECOVERY_INTERVAL = 2.0
IDLE_WAIT = 1.0
SETTLE_BATCH = 200
RENEWALS_PER_LEASE = 3
RETRY_PAUSE = 0.5  # after a database error, before trying again


class LeaseWorker(ABC):
    table: str  # the deliveries table
    channel: str  # NOTIFY channel of new deliveries

    def __init__(
        self, pool: asyncpg.Pool, *, max_in_flight: int, lease_seconds: float, drain_seconds: float
    ) -> None:
        self.pool = pool
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.drain_seconds = drain_seconds
        self._wake = asyncio.Event()
        self._wakeups = Wakeups(pool, self.channel, self._wake.set)
        self._in_flight: dict[UUID, asyncio.Task[None]] = {}
        self._held: dict[UUID, UUID] = {}  # delivery id -> lease token, until settled
        # Outcomes waiting to be written; None tells the settler to finish.
        self._outcomes: asyncio.Queue[tuple[asyncpg.Record, Attempt] | None] = asyncio.Queue()

    @abstractmethod
    async def claim(self, conn: asyncpg.Connection, free: int) -> list[asyncpg.Record]:
        """Lease up to `free` due deliveries; each row carries its `lease_token`."""

    @abstractmethod
    async def send(self, row: asyncpg.Record) -> Attempt:
        """Make one attempt at a claimed delivery."""

    @abstractmethod
    async def settle(self, conn: asyncpg.Connection, outcomes: list[tuple[Any, Attempt]]) -> None:
        """Write outcomes (inside the caller's transaction), each fenced by its lease token."""

    def wait_hint(self) -> float:
        """How long to sleep when idle; workers with rate limits may sleep less."""
        return IDLE_WAIT

    async def run(self) -> None:
        settler = asyncio.create_task(self._settle_forever(), name=f"{self.table}-settle")
        renewer = asyncio.create_task(self._renew_forever(), name=f"{self.table}-renew")
        try:
            await self._claim_forever()
        finally:
            await self._drain(settler)
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self._release_abandoned()
            await self._wakeups.close()

    async def _claim_forever(self) -> None:
        next_recovery = 0.0
        while True:
            self._wake.clear()
            try:
                await self._wakeups.ensure()
                if time.monotonic() >= next_recovery:
                    await self.recover()
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL
                free = self.max_in_flight - len(self._in_flight)
                claimed = await self._claim(free) if free > 0 else []
            except DB_ERRORS as exc:
                log.warning("claiming deliveries failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(RETRY_PAUSE)
                continue
            for row in claimed:
                self._start(row)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.wait_hint())

    async def _claim(self, free: int) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self.claim(conn, free)

    def _start(self, row: Any) -> None:
        delivery_id = row["id"]
        self._held[delivery_id] = row["lease_token"]
        task = asyncio.create_task(self._attempt(row))
        self._in_flight[delivery_id] = task
        task.add_done_callback(lambda _: self._finished(delivery_id))

    def _finished(self, delivery_id: UUID) -> None:
        self._in_flight.pop(delivery_id, None)
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
            recovered = await leases.recover_expired(conn, self.table)
        if recovered:
            log.warning("recovered deliveries whose lease expired", extra={"count": recovered})
            self._wake.set()
        return recovered

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / RENEWALS_PER_LEASE)
            await self._renew_held()

    async def _renew_held(self) -> None:
        """Extend every lease held; a request whose lease another claim took is abandoned."""
        held = dict(self._held)
        if not held:
            return
        while True:
            try:
                async with self.pool.acquire() as conn:
                    renewed = await leases.renew(conn, self.table, held, self.lease_seconds)
                break
            except DB_ERRORS as exc:
                log.warning("renewing leases failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(RETRY_PAUSE)
        for delivery_id in held.keys() - renewed:
            task = self._in_flight.get(delivery_id)
            if task is not None and self._held.get(delivery_id) == held[delivery_id]:
                # Someone else holds it now and will send it; ours would be a copy.
                log.warning("lost a delivery's lease", extra={"delivery_id": str(delivery_id)})
                self._held.pop(delivery_id, None)
                task.cancel()

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
                break
            except DB_ERRORS as exc:
                # The leases are renewed meanwhile: try again rather than let them expire.
                log.warning("settling deliveries failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(RETRY_PAUSE)
        for row, _ in batch:
            if self._held.get(row["id"]) == row["lease_token"]:
                del self._held[row["id"]]

    async def _drain(self, settler: asyncio.Task[None]) -> None:
        """Let requests in flight finish and their outcomes be written."""
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight.values()), timeout=self.drain_seconds)
            for task in late:
                task.cancel()
        self._outcomes.put_nowait(None)
        await settler

    async def _release_abandoned(self) -> None:
        """Leases of requests given up on go back to the queue (in doubt) for others."""
        if not self._held:
            return
        with contextlib.suppress(*DB_ERRORS):  # else they expire, and are recovered then
            async with self.pool.acquire() as conn:
                await leases.release(conn, self.table, self._held)
        self._held.clear()
