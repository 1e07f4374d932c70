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
    conn = await asyncpg.connect(config.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
    finally:
        await conn.close()
    connection = await aio_pika.connect(config.amqp_url)
    try:
        await delete_topology(await connection.channel(), config.prefix)
    finally:
        await connection.close()
