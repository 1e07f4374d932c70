"""A service's running parts: pool, migrations, broker, outbox relay, consumers.

Every service's `app.py` builds one `Runtime`, registers its consumers and
background loops, and hands `create_app` the routes; the Litestar lifespan
starts everything in order (pool → migrations → relay → consumers → loops) and
stops it in reverse, the consumers draining first: on SIGTERM no new event is
taken and those in hand finish (`SHUTDOWN_DRAIN_SECONDS`). Each start-up step
retries a database or broker that is not there yet (transient.py) until
`STARTUP_DEADLINE_SECONDS`, instead of exiting.

Ready (`/health/ready`) means "can serve its callers": the database answers.
The broker is not part of it: the outbox rides a broker outage out, and taking
every pod out of its Service for one would turn a blip into an outage. Broker
and relay health are exported instead (`nodebyte_broker_connected`,
`nodebyte_outbox_relay_alive`, the outbox backlog and oldest unsent age) and
alerted on (deploy/prometheus/alerts.yaml). A consumer-only service needs the
same: its database to apply what it consumes; its broker is watched the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from litestar import Litestar

from nodebyte_common.consumer import EventConsumer
from nodebyte_common.consuming import ConsumerConnection
from nodebyte_common.db import create_pool, ping
from nodebyte_common.migrations import migrate
from nodebyte_common.observability import (
    BROKER_CONNECTED,
    DB_POOL_IN_USE,
    DB_POOL_SIZE,
    OUTBOX_RELAY_ALIVE,
    configure_logging,
    configure_tracing,
)
from nodebyte_common.outbox import OutboxRelay
from nodebyte_common.outbox_status import outbox_status_route
from nodebyte_common.settings import CommonSettings
from nodebyte_common.topology import subscription
from nodebyte_common.transient import retry_transient
from nodebyte_common.webapp import create_app, internal_router

log = logging.getLogger(__name__)
T = TypeVar("T")

GAUGE_INTERVAL_SECONDS = 5.0
Loop = Callable[[], Awaitable[None]]


class Runtime:
    def __init__(
        self, *, service: str, schema: str, settings: CommonSettings, migrations_dir: Path
    ) -> None:
        self.service = service
        self.schema = schema
        self.settings = settings
        self.migrations_dir = migrations_dir
        self.consuming = ConsumerConnection(settings.amqp_url, name=f"{service} consumers")
        self.consumers: list[EventConsumer] = []
        self._loops: list[tuple[str, Loop]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the runtime has not started")
        return self._pool

    def consumer(self, purpose: str, *, retry_base_delay: float = 0.2) -> EventConsumer:
        sub = subscription(self.service, purpose)
        consumer = EventConsumer(
            sub,
            prefix=self.settings.amqp_prefix,
            prefetch=self.settings.consumer_prefetch,
            retry_base_delay=retry_base_delay,
        )
        self.consumers.append(consumer)
        return consumer

    def loop(self, name: str, body: Loop) -> None:
        """Run `body` as a background task for the life of the process."""
        self._loops.append((name, body))

    def on_start(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Prepare something after migrations, before any event is consumed."""
        self._on_start.append(callback)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Close something (a client, a connection) when the service stops."""
        self._on_stop.append(callback)

    async def start(self) -> None:
        s = self.settings
        self._pool = await self._starting("database pool", self._create_pool)
        await self._starting("migrations", self._migrate)
        for callback in self._on_start:
            await self._starting("start-up callback", callback)
        self.relay = relay = OutboxRelay(
            self._pool,
            schema=self.schema,
            service=self.service,
            amqp_url=s.amqp_url,
            prefix=s.amqp_prefix,
        )
        await self._starting("broker (relay)", relay.connect)  # declares the topology
        await relay.start()
        await self._starting("broker (consumers)", self._start_consuming)
        BROKER_CONNECTED.labels(self.service, "relay").set_function(relay.connected)
        BROKER_CONNECTED.labels(self.service, "consumers").set_function(self.consuming.ready)
        OUTBOX_RELAY_ALIVE.labels(self.service).set_function(relay.alive)
        self.loop("gauges", self._refresh_gauges)
        self._tasks = [asyncio.create_task(_forever(n, b), name=n) for n, b in self._loops]
        log.info("service started", extra={"schema": self.schema})

    async def _starting(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        deadline = self.settings.startup_deadline_seconds
        return await retry_transient(step, deadline_seconds=deadline, what=f"start: {what}")

    async def _create_pool(self) -> asyncpg.Pool:
        s = self.settings
        return await create_pool(
            s.database_url,
            self.schema,
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            statement_cache_size=s.db_statement_cache_size,
        )

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn:
            await migrate(conn, self.schema, self.migrations_dir)

    async def _start_consuming(self) -> None:
        try:
            await self.consuming.start(self.consumers, self.pool)
        except BaseException:
            with contextlib.suppress(Exception):  # a half-made connection is not reused
                await self.consuming.stop()
            raise

    async def stop(self) -> None:
        # Consumers first: the events in hand finish while the loops they may rely on
        # (a broker link, a flush) still run.
        with contextlib.suppress(Exception):
            await self.consuming.drain(self.settings.shutdown_drain_seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.consuming.stop()
        for callback in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await callback()
        if self.relay is not None:
            await self.relay.stop()
        if self._pool is not None:
            await self._pool.close()

    async def ready_db(self) -> bool:
        return self._pool is not None and await ping(self._pool)

    async def _refresh_gauges(self) -> None:
        while True:
            pool = self.pool
            DB_POOL_SIZE.labels(self.service).set(pool.get_size())
            DB_POOL_IN_USE.labels(self.service).set(pool.get_size() - pool.get_idle_size())
            if self.relay is not None:
                await self.relay.refresh_gauges()
            await asyncio.sleep(GAUGE_INTERVAL_SECONDS)

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def create_app(
        self, route_handlers: Sequence[Any], *, outbox_status: bool = True, **kwargs: Any
    ) -> Litestar:
        """The service's app; `outbox_status` adds `/internal/v1/bus/outbox` (off for the
        public gateway, which reads its own outbox)."""
        if outbox_status:
            status = outbox_status_route(self.service, lambda: self.pool)
            route_handlers = [
                *route_handlers,
                internal_router(self.settings.service_token, [status]),
            ]
        return create_app(
            service=self.service,
            route_handlers=route_handlers,
            readiness={"database": self.ready_db},
            lifespan=[self.lifespan],
            cors_origins=self.settings.cors_origins,
            max_body_bytes=self.settings.max_body_bytes,
            **kwargs,
        )


async def _forever(name: str, body: Loop) -> None:
    """Keep a background loop alive: log a crash and start it again."""
    while True:
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop crashed; restarting", extra={"loop": name})
            await asyncio.sleep(1.0)


async def _freeze_survivors(_: Litestar) -> None:
    """The app, its pool, broker and schemas live as long as the process: once all
    have started (the last startup hook), they are kept out of the collector's
    view, so full collections stay short and no request waits long on one."""
    gc.collect()
    gc.freeze()


def serve(app: Litestar, settings: CommonSettings, service: str) -> None:
    """Run the app under uvicorn with uvloop and httptools, access log off."""
    import uvicorn

    configure_logging(service, settings.log_level)
    configure_tracing(service, settings.otel_exporter_otlp_endpoint)
    app.on_startup.append(_freeze_survivors)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        # The client address is decided by the gateway's TRUSTED_PROXIES, not by
        # uvicorn believing X-Forwarded-For from any local peer.
        proxy_headers=False,
        log_config=None,
        lifespan="on",
        # SIGTERM: requests (and agent sockets) in flight get this long, then the
        # lifespan drains the consumers for as long again.
        timeout_graceful_shutdown=settings.shutdown_drain_seconds,
    )
