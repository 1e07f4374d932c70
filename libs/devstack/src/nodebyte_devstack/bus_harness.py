"""An outbox schema, a relay and a consumer on a private queue, for bus tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg

from nodebyte_common.consumer import EventConsumer
from nodebyte_common.consuming import ConsumerConnection
from nodebyte_common.db import create_pool
from nodebyte_common.migrations import migrate
from nodebyte_common.outbox import OutboxRelay
from nodebyte_common.topology import Subscription, declare_topology


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
) -> AsyncIterator[Bus]:
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        await migrate(admin, schema, tmp)
    finally:
        await admin.close()
    pool = await create_pool(database, schema, max_size=16)
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
