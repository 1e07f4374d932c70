"""One sync writes the mirror at a time, across replicas: a lease with a fencing token.

The lease is a row with a deadline, renewed while its sync runs, so it does not
rest on one database session staying up (a session lock died with its pooled
connection and let a second sync in). Another replica takes it over only once
the deadline passed, and every take-over increments the token: each write and
the finish of a sync check, in their own transaction, that their token still
holds the lease (`Lease.check`), so a stale holder's writes are refused
(`LeaseLost`) and its delivery is retried later, resuming the sync. A deadline
that passed with nobody taking over costs nothing: the token still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from nodebyte_common.runtime import Runtime
from nodebyte_common.transient import retry_transient
from nodebyte_sync import lease_store

log = logging.getLogger(__name__)

TAKE_POLL_SECONDS = 0.5  # how often a waiting sync looks whether the lease is free


class LeaseLost(Exception):
    """Another replica holds the mirror lease now: this holder may not write."""


@dataclass(frozen=True)
class Lease:
    token: int

    async def check(self, conn: asyncpg.Connection) -> None:
        """In the write's transaction: refuse it unless this token still holds the lease."""
        if not await lease_store.hold(conn, self.token):
            raise LeaseLost(f"mirror lease {self.token} was taken over")


class MirrorLease:
    def __init__(self, runtime: Runtime, *, seconds: float) -> None:
        self.runtime = runtime
        self.seconds = seconds
        self.deadline_seconds = runtime.settings.transient_deadline_seconds

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[Lease]:
        """Wait for the lease, keep it renewed while the block runs, then release it."""
        holder = uuid.uuid4().hex
        token = await self._try_take(holder)
        while token is None:  # polled: the holder may be another replica
            await asyncio.sleep(TAKE_POLL_SECONDS)
            token = await self._try_take(holder)
        lease = Lease(token)
        renewing = asyncio.create_task(self._keep_renewed(lease), name="mirror-lease-renewal")
        try:
            yield lease
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(Exception):  # not released: it expires by itself
                await self._release(lease)

    @contextlib.asynccontextmanager
    async def try_held(self) -> AsyncIterator[Lease | None]:
        """The lease if it is free now (else None), for a short piece of work."""
        token = await self._try_take(uuid.uuid4().hex)
        if token is None:
            yield None
            return
        lease = Lease(token)
        try:
            yield lease
        finally:
            with contextlib.suppress(Exception):
                await self._release(lease)

    async def _try_take(self, holder: str) -> int | None:
        async def take() -> int | None:
            async with self.pool.acquire() as conn:
                return await lease_store.take(conn, holder, self.seconds)

        return await retry_transient(
            take, deadline_seconds=self.deadline_seconds, what="take the mirror lease"
        )

    async def _keep_renewed(self, lease: Lease) -> None:
        """Renew every third of the lease; a failed renewal is tried again sooner."""
        interval = self.seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.pool.acquire() as conn:
                    if not await lease_store.renew(conn, lease.token, self.seconds):
                        log.warning("mirror lease lost", extra={"token": lease.token})
                        return  # the sync's next write is refused
                interval = self.seconds / 3
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("mirror lease renewal failed", extra={"error": type(exc).__name__})
                interval = min(1.0, self.seconds / 10)

    async def _release(self, lease: Lease) -> None:
        async with self.pool.acquire() as conn:
            await lease_store.release(conn, lease.token)
