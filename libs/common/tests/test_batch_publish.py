"""publish_batch against the real broker: every outcome a confirm can have; fire_batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import aiormq
import pytest
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError, PublishError
from pamqp import commands as spec

from nodebyte_common.batch_publish import Outgoing, fire_batch, publish_batch


@pytest.fixture
async def connection(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(amqp_url)
    yield connection
    await connection.close()


async def confirming_channel(connection: aio_pika.abc.AbstractConnection) -> aiormq.Channel:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    return await channel.get_underlay_channel()


def message(routing_key: str, n: int) -> Outgoing:
    properties = spec.Basic.Properties(message_id=f"m-{n}", delivery_mode=2)
    return Outgoing(routing_key, f"body {n}".encode(), properties)


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[bytes]:
    bodies = []
    while (got := await queue.get(no_ack=True, fail=False)) is not None:
        bodies.append(got.body)
    return bodies


def nothing_pending(channel: aiormq.Channel) -> bool:
    return not channel.confirmations and not channel.message_id_delivery_tag


async def test_a_batch_is_confirmed_and_queued_in_order(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    queue = await (await connection.channel()).declare_queue(exclusive=True)
    channel = await confirming_channel(connection)
    await publish_batch(channel, "", [message(queue.name, n) for n in range(300)], mandatory=True)
    assert nothing_pending(channel)
    assert await drain(queue) == [f"body {n}".encode() for n in range(300)]


async def test_a_returned_message_fails_the_batch_and_the_rest_still_arrive(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    queue = await (await connection.channel()).declare_queue(exclusive=True)
    channel = await confirming_channel(connection)
    batch = [message(queue.name, 0), message("no.such.queue", 1), message(queue.name, 2)]
    with pytest.raises(PublishError):
        await publish_batch(channel, "", batch, mandatory=True)
    assert nothing_pending(channel)
    assert await drain(queue) == [b"body 0", b"body 2"]
    # The channel is still usable: the next batch goes through.
    await publish_batch(channel, "", [message(queue.name, 3)], mandatory=True)
    assert await drain(queue) == [b"body 3"]


async def test_a_nacked_message_fails_the_batch(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    queue = await (await connection.channel()).declare_queue(
        exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    channel = await confirming_channel(connection)
    with pytest.raises(DeliveryError):
        await publish_batch(channel, "", [message(queue.name, n) for n in range(3)], mandatory=True)
    assert nothing_pending(channel)
    assert await drain(queue) == [b"body 0"]


async def test_a_channel_the_broker_closes_fails_the_batch_instead_of_hanging(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    channel = await confirming_channel(connection)
    with pytest.raises(ChannelNotFoundEntity):
        await asyncio.wait_for(
            publish_batch(channel, "no-such-exchange", [message("x", 0)], mandatory=True), 10
        )


async def test_a_channel_without_confirms_is_refused(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    channel = await (await connection.channel(publisher_confirms=False)).get_underlay_channel()
    with pytest.raises(ValueError, match="publisher confirms"):
        await publish_batch(channel, "", [message("x", 0)], mandatory=False)


async def test_a_body_larger_than_a_frame_is_split_and_arrives_whole(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    queue = await (await connection.channel()).declare_queue(exclusive=True)
    channel = await confirming_channel(connection)
    big = bytes(range(256)) * 2048  # 512 KiB: several frame_max-sized body frames
    assert len(big) > channel.max_content_size
    properties = spec.Basic.Properties(message_id="big", delivery_mode=2)
    batch = [message(queue.name, 0), Outgoing(queue.name, big, properties), message(queue.name, 2)]
    await publish_batch(channel, "", batch, mandatory=True)
    assert await drain(queue) == [b"body 0", big, b"body 2"]


async def test_a_fired_batch_arrives_in_order_and_the_unroutable_is_dropped(
    connection: aio_pika.abc.AbstractConnection,
) -> None:
    queue = await (await connection.channel()).declare_queue(exclusive=True)
    channel = await (await connection.channel(publisher_confirms=False)).get_underlay_channel()
    batch = [message(queue.name, n) for n in range(200)]
    batch.insert(100, message("no.such.queue", 999))
    await fire_batch(channel, "", batch)
    expected = [f"body {n}".encode() for n in range(200)]
    got: list[bytes] = []
    for _ in range(50):  # no confirm to wait for: the queue fills when the broker got them
        got += await drain(queue)
        if len(got) >= len(expected):
            break
        await asyncio.sleep(0.1)
    assert got == expected
    # The channel is still usable afterwards.
    await fire_batch(channel, "", [message(queue.name, 200)])
    await asyncio.sleep(0.2)
    assert await drain(queue) == [b"body 200"]
