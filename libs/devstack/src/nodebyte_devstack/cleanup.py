"""Remove what an isolated stack leaves behind: its database and its broker topology.

Benchmarks and test sessions each get a database and a queue prefix of their own;
left behind, hundreds of quorum queues weigh on the one RabbitMQ of the machine.
"""

from __future__ import annotations

import aio_pika
import asyncpg

from nodebyte_common.topology import delete_topology
from nodebyte_devstack.config import StackConfig


async def discard_stack(config: StackConfig) -> None:
    await drop_database(config.admin_dsn, config.database)
    await discard_topology(config.amqp_url, config.prefix)


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def discard_topology(amqp_url: str, prefix: str) -> None:
    """Every exchange and queue declared under `prefix`."""
    connection = await aio_pika.connect(amqp_url)
    try:
        await delete_topology(await connection.channel(), prefix)
    finally:
        await connection.close()
