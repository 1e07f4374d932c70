"""One leader at a time, through a lease row in PostgreSQL.

Why a lease and not a session advisory lock: a leader that hangs (paused,
partitioned) keeps its connection and so its lock, and nobody else would fire;
a lease simply runs out, the next replica takes it with a higher term, and the
hung one is fenced (its transactions check the term). The lease row also gives
the status endpoint the leader's name and last heartbeat.

Every replica calls `renew` on a timer: the holder extends its lease, the others
take it when it has expired. Locally a leader stops believing in its lease a
margin before the database would expire it, so it steps down before anyone can
take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from nodebyte_scheduler import store
from nodebyte_scheduler.metrics import IS_LEADER

log = logging.getLogger(__name__)

SAFETY_MARGIN = 0.2  # of the lease: stop leading this much before the database expires us


class Lease:
    def __init__(
        self, pool: asyncpg.Pool, replica: str, *, ttl_seconds: float, renew_seconds: float
    ) -> None:
        self.pool = pool
        self.replica = replica
        self.ttl = ttl_seconds
        self.renew_every = renew_seconds
        self.term: int | None = None
        self._valid_until = 0.0  # monotonic
        self.changed = asyncio.Event()  # set at every change of leadership

    @property
    def is_leader(self) -> bool:
        return self.term is not None and time.monotonic() < self._valid_until

    async def campaign(self) -> None:
        """Renew or take the lease for the life of the process."""
        while True:
            await self.renew()
            await asyncio.sleep(self.renew_every)

    async def renew(self) -> None:
        started = time.monotonic()
        try:
            async with self.pool.acquire(timeout=self.renew_every) as conn:
                term = await store.claim_lease(conn, self.replica, self.ttl, self.term)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("lease renewal failed", extra={"error": type(exc).__name__})
            if not self.is_leader:
                self._set(None)
            return
        if term is None:
            self._set(None)
            return
        self._valid_until = started + self.ttl * (1 - SAFETY_MARGIN)
        self._set(term)

    def step_down(self) -> None:
        """Stop leading at once (the database says our lease is gone)."""
        self._valid_until = 0.0
        self._set(None)

    def _set(self, term: int | None) -> None:
        if term != self.term:
            log.info(
                "leadership changed",
                extra={"replica": self.replica, "term": term, "leader": term is not None},
            )
            self.term = term
            IS_LEADER.set(1 if term is not None else 0)
            self.changed.set()

    async def release(self) -> None:
        """Hand the lease over at once on a clean stop, instead of letting it expire."""
        term, self.term = self.term, None
        IS_LEADER.set(0)
        if term is None:
            return
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            async with self.pool.acquire(timeout=2) as conn:
                await store.release_lease(conn, self.replica, term)
