"""Periodic work, driven by the scheduler's ticks with a fallback timer of our own.

The scheduler publishes `job.fired` for `hytale.refresh`, `hytale.server_logs`
and `hytale.cleanup`; the replica that receives a tick runs the task. When no
tick of a task came for `fallback_after` seconds (the scheduler is down or not
deployed), the replicas run it themselves every `interval` seconds; claiming
the task's `periodic_tasks` row with one UPDATE lets only one of them do so per
interval. A run never overlaps another run of the same task in a process: a
trigger during a run asks for one more run after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class PeriodicTask:
    name: str  # the scheduler's job name
    run: Callable[[], Awaitable[Any]]
    interval: float  # the fallback's cadence
    fallback_after: float  # silence from the scheduler before the fallback takes over


@dataclass
class _State:
    running: asyncio.Task[None] | None = None
    again: bool = False


class PeriodicTasks:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        tasks: list[PeriodicTask],
        *,
        check_every: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self._pool_of = pool_of
        self.check_every = check_every
        self.tasks = {t.name: t for t in tasks}
        self._states = {t.name: _State() for t in tasks}

    async def record_tick(self, conn: asyncpg.Connection, name: str) -> bool:
        """Note a scheduler tick (in the consumer's transaction); False for other jobs."""
        if name not in self.tasks:
            return False
        await conn.execute(
            """INSERT INTO periodic_tasks (name, last_tick_at, last_run_at)
               VALUES ($1, now(), now())
               ON CONFLICT (name) DO UPDATE SET last_tick_at = now(), last_run_at = now()""",
            name,
        )
        return True

    def trigger(self, name: str) -> None:
        """Run the task now in the background, or once more after the run in progress."""
        state = self._states[name]
        if state.running is not None and not state.running.done():
            state.again = True
            return
        state.running = asyncio.get_running_loop().create_task(self._run(name), name=name)

    async def _run(self, name: str) -> None:
        state = self._states[name]
        while True:
            state.again = False
            try:
                result = await self.tasks[name].run()
                log.debug("periodic task ran", extra={"task": name, "result": result})
            except Exception:
                log.exception("periodic task failed", extra={"task": name})
            if not state.again:
                return

    async def run_fallbacks(self) -> None:
        """The background loop: run tasks the scheduler has gone quiet about."""
        async with self._pool_of().acquire() as conn:
            await conn.executemany(
                "INSERT INTO periodic_tasks (name) VALUES ($1) ON CONFLICT DO NOTHING",
                [(name,) for name in self.tasks],
            )
        while True:
            for task in self.tasks.values():
                if await self._claim_fallback(task):
                    log.debug(
                        "no tick from the scheduler; running the task", extra={"task": task.name}
                    )
                    self.trigger(task.name)
            await asyncio.sleep(self.check_every)

    async def _claim_fallback(self, task: PeriodicTask) -> bool:
        async with self._pool_of().acquire() as conn:
            claimed = await conn.fetchval(
                """UPDATE periodic_tasks SET last_run_at = now()
                   WHERE name = $1
                     AND (last_tick_at IS NULL OR last_tick_at < now() - make_interval(secs => $2))
                     AND (last_run_at IS NULL OR last_run_at < now() - make_interval(secs => $3))
                   RETURNING true""",
                task.name,
                task.fallback_after,
                task.interval,
            )
        return bool(claimed)

    async def stop(self) -> None:
        for state in self._states.values():
            if state.running is not None and not state.running.done():
                state.running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await state.running
