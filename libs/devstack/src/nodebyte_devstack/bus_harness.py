"""An outbox schema, a relay and a consumer on a private queue, for bus tests."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg

from nodebyte_common.consumer import EventConsumer
from nodebyte_common.consuming import ConsumerConnection
from nodebyte_common.db import create_pool
from nodebyte_common.migrations import migrate
from nodebyte_common.outbox import OutboxRelay
from nodebyte_common.topology import Subscription, declare_topology
from nodebyte_devstack.pgbouncer import PgBouncer


@dataclass
class Bus:
    pool: asyncpg.Pool
    schema: str
    prefix: str
    amqp_url: str
    subscription: Subscription
    relay: OutboxRelay
    channel: aio_pika.abc.AbstractChannel
    consumers: list[ConsumerConnection] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return self.subscription.queue(self.prefix)

    def consumer(self, retry_base_delay: float = 0.01) -> EventConsumer:
        return EventConsumer(
            self.subscription, prefix=self.prefix, retry_base_delay=retry_base_delay
        )

    async def run_consumer(
        self, consumer: EventConsumer, name: str = "bus harness"
    ) -> ConsumerConnection:
        connection = ConsumerConnection(self.amqp_url, name=name)
        await connection.start([consumer], self.pool)
        self.consumers.append(connection)
        return connection

    async def queue_depth(self, name: str) -> int:
        declared = await self.channel.declare_queue(name, passive=True)
        return declared.declaration_result.message_count or 0


@contextlib.asynccontextmanager
async def bus(
    database: str,
    amqp_url: str,
    prefix: str,
    schema: str,
    event_types: tuple[str, ...],
    tmp: Path,
    pgbouncer: PgBouncer | None = None,
) -> AsyncIterator[Bus]:
    """With `pgbouncer`, the schema belongs to a role of its own (as a service's does) that
    migrates and connects through the bouncer; else the administrator connects directly."""
    owner = None
    if pgbouncer is None:
        dsn, cache = database, 100
        await _fresh_schema(database, schema, owner=None)
    else:
        # A short role name: PgBouncer 1.18 lets in no user whose name is much longer.
        run = urlsplit(database).path.rsplit("_", 1)[-1]
        owner = "bus_" + hashlib.sha256(f"{schema}_{run}".encode()).hexdigest()[:16]
        await _fresh_schema(database, schema, owner=owner)
        await pgbouncer.allow_new_role(owner)
        dsn, cache = pgbouncer.dsn(owner), 0
    conn = await asyncpg.connect(dsn, statement_cache_size=cache)
    try:
        await migrate(conn, schema, tmp)
    finally:
        await conn.close()
    pool = await create_pool(dsn, schema, max_size=16, statement_cache_size=cache)
    sub = Subscription("bustest", schema, event_types)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await declare_topology(channel, prefix, (sub,))
    relay = OutboxRelay(pool, schema=schema, service="bustest", amqp_url=amqp_url, prefix=prefix)
    harness = Bus(pool, schema, prefix, amqp_url, sub, relay, channel)
    try:
        yield harness
    finally:
        for consuming in harness.consumers:
            await consuming.stop()
        await relay.stop()
        for name in (sub.queue(prefix), sub.dead_letter_queue(prefix)):
            await channel.queue_delete(name)
        await connection.close()
        await pool.close()
        if owner is not None:
            await _drop_owner(database, schema, owner)


async def _fresh_schema(database: str, schema: str, owner: str | None) -> None:
    """An empty `schema`; with `owner`, a login role owning it whose default search_path
    is the schema (what the bootstrap gives each service's role)."""
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if owner is None:
            await admin.execute(f"CREATE SCHEMA {schema}")
            return
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", owner):
            await admin.execute(f"CREATE ROLE {owner} LOGIN")
        await admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
        database_name = await admin.fetchval("SELECT current_database()")
        await admin.execute(
            f'ALTER ROLE {owner} IN DATABASE "{database_name}" SET search_path TO {schema}'
        )
    finally:
        await admin.close()


async def _drop_owner(database: str, schema: str, owner: str) -> None:
    """Roles are cluster-wide: remove the test's role (its schema first)."""
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f"DROP ROLE {owner}")
    finally:
        await admin.close()
