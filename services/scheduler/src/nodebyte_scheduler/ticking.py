"""The leader's loop: sleep until the next fire time, fire what is due, repeat.

The sleep ends early when a schedule changes (NOTIFY from the API, on any
replica) or leadership changes, and never lasts longer than `max_tick`: a
fresh leader, a new job and a clock that jumped are all noticed within it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from nodebyte_scheduler import store
from nodebyte_scheduler.clock import Clock
from nodebyte_scheduler.firing import Firer, LostLease
from nodebyte_scheduler.leadership import Lease
from nodebyte_scheduler.metrics import TASK_OUTCOMES

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0


class Ticker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        lease: Lease,
        firer: Firer,
        *,
        max_tick: float,
        outcome_timeout: float,
        run_retention_days: int = 90,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.lease = lease
        self.firer = firer
        self.max_tick = max_tick
        self.outcome_timeout = outcome_timeout
        self._wake = asyncio.Event()
        self.run_retention_days = run_retention_days
        self._last_settle = 0.0
        self._last_prune = 0.0

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        listener = await self.pool.acquire()
        await listener.add_listener(store.JOBS_CHANGED, self.wake)
        try:
            while True:
                self._wake.clear()  # a change notified from here on ends the next sleep
                delay = await self._lead_once() if self.lease.is_leader else self.max_tick
                await self._sleep(delay)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(store.JOBS_CHANGED, self.wake)
            await self.pool.release(listener)

    async def _lead_once(self) -> float:
        """Fire what is due; return how long (real seconds) to sleep after."""
        term = self.lease.term
        assert term is not None
        try:
            await self.firer.schedule_new()
            await self.firer.fire_due(term)
        except LostLease:
            self.lease.step_down()
            return self.max_tick
        await self._settle_outcomes()
        await self._prune_history()
        async with self.pool.acquire() as conn:
            upcoming = await store.next_fire_time(conn)
        if upcoming is None:
            return self.max_tick
        return max(0.0, min(self.max_tick, self.clock.real_seconds_until(upcoming)))

    async def _settle_outcomes(self) -> None:
        """Task runs that nobody failed in time become `sent` (about once a second)."""
        if time.monotonic() - self._last_settle < 1.0:
            return
        self._last_settle = time.monotonic()
        async with self.pool.acquire() as conn:
            settled = await store.settle_silent_runs(conn, self.outcome_timeout)
        if settled:
            TASK_OUTCOMES.labels("sent").inc(settled)

    async def _prune_history(self) -> None:
        """Old runs go (a bounded batch, about once a minute), so history stays bounded."""
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        async with self.pool.acquire() as conn:
            await store.prune_runs(conn, self.run_retention_days)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.lease.changed.clear()
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.lease.changed.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
