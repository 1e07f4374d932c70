"""Publish an event on a stack's exchange, as another service's outbox relay would."""

from __future__ import annotations

from uuid import UUID, uuid4

import aio_pika

from nodebyte_common import events
from nodebyte_common.cloudevents import event_headers
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.config import StackConfig


async def publish_event(
    config: StackConfig,
    event: events.Event,
    *,
    source: str = "test",
    event_id: UUID | None = None,
    times: int = 1,
) -> UUID:
    """Publish `event` `times` times under one id (a redelivery); return the id."""
    event_id = event_id or uuid4()
    headers = event_headers(event, event_id, source)
    connection = await aio_pika.connect(config.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(config.prefix))
        for _ in range(times):
            message = aio_pika.Message(
                events.encode(event),
                headers=headers,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=event.TYPE)
    finally:
        await connection.close()
    return event_id


async def publish_raw(
    config: StackConfig, routing_key: str, body: bytes, headers: dict[str, str]
) -> None:
    """Publish bytes with `headers` as they are: a poison message no relay would send."""
    connection = await aio_pika.connect(config.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(config.prefix))
        message = aio_pika.Message(
            body, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        await exchange.publish(message, routing_key=routing_key)
    finally:
        await connection.close()
