"""Composition root of the scheduler: settings → pool → broker → HTTP app."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from litestar import Litestar

from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_scheduler import api, consumers
from nodebyte_scheduler.clock import Clock, clock_from_settings
from nodebyte_scheduler.environment_seed import seed_auto_sync
from nodebyte_scheduler.firing import Firer
from nodebyte_scheduler.leadership import Lease
from nodebyte_scheduler.settings import SchedulerSettings
from nodebyte_scheduler.ticking import Ticker

SERVICE = "scheduler"


def build_app(settings: SchedulerSettings | None = None) -> Litestar:
    settings = settings or load_settings(SchedulerSettings)
    runtime = Runtime(
        service=SERVICE,
        schema="scheduler",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    replica = settings.replica_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
    clock = clock_from_settings(settings.clock_speed, settings.clock_start, settings.clock_origin)
    consumers.register(runtime)

    async def seed() -> None:
        async with runtime.pool.acquire() as conn:
            await seed_auto_sync(conn, settings, clock)

    runtime.on_start(seed)
    runtime.loop("scheduler", leading(runtime, settings, clock, replica))
    context = api.ApiContext(
        runtime, clock, replica, timedelta(seconds=settings.overdue_after_seconds)
    )
    routes = [internal_router(settings.service_token, api.internal_routes(context))]
    return runtime.create_app(routes)


def leading(
    runtime: Runtime, settings: SchedulerSettings, clock: Clock, replica: str
) -> Callable[[], Awaitable[None]]:
    """The background loop: campaign for the lease, and fire while holding it."""

    async def run() -> None:
        pool = runtime.pool
        lease = Lease(
            pool,
            replica,
            ttl_seconds=settings.leader_lease_seconds,
            renew_seconds=settings.leader_renew_seconds,
        )
        firer = Firer(
            pool,
            clock,
            replica,
            grace=timedelta(seconds=settings.misfire_grace_seconds),
            batch_size=settings.fire_batch_size,
            idle_transaction_limit=settings.leader_lease_seconds,
        )
        ticker = Ticker(
            pool,
            clock,
            lease,
            firer,
            max_tick=settings.max_tick_seconds,
            outcome_timeout=settings.task_outcome_timeout_seconds,
            run_retention_days=settings.run_retention_days,
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(lease.campaign())
                group.create_task(ticker.run())
        finally:
            await lease.release()  # a clean stop hands over at once

    return run


def main() -> None:
    settings = load_settings(SchedulerSettings)
    serve(build_app(settings), settings, SERVICE)
