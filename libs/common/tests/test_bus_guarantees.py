"""The bus's promises that effects alone would hide: counted on the broker itself.

Each test here was written against a way the code could break silently (publishing
without `mandatory`, purging by age of creation, re-publishing, acknowledging past a
delivery still being handled) and fails on it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import aio_pika
import asyncpg
import pytest
from aiormq.exceptions import PublishError
from prometheus_client import REGISTRY

from nodebyte_common import events, inbox, outbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.outbox import OutboxRelay
from nodebyte_common.topology import (
    declare_topology,
    exchange_name,
    producers,
    source_of,
    unrouted_queue_name,
)
from nodebyte_devstack.bus_harness import Bus, bus
from nodebyte_devstack.waiting import eventually

TYPES = ("settings.changed",)


@pytest.fixture
async def harness(
    database: str, amqp_url: str, amqp_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Bus]:
    schema = "busg_" + request.node.name.removeprefix("test_")[:40]
    async with bus(database, amqp_url, amqp_prefix, schema, TYPES, tmp_path) as h:
        async with h.pool.acquire() as conn:
            await conn.execute("CREATE TABLE effects (event_id uuid, owner text)")
        yield h


async def commit(pool: asyncpg.Pool, event: events.Event) -> UUID:
    async with pool.acquire() as conn, conn.transaction():
        return await outbox.enqueue(conn, event, source=source_of(producers(event.TYPE)[0]))


async def effects(h: Bus) -> list[asyncpg.Record]:
    async with h.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM effects")


class BrokerTap:
    """Every message the exchange routes with one key, as published (no inbox between)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.ids.append(message.message_id or "")
        await message.ack()


async def tap(h: Bus, routing_key: str) -> BrokerTap:
    seen = BrokerTap()
    exchange = await h.channel.get_exchange(exchange_name(h.prefix))
    queue = await h.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=routing_key)
    await queue.consume(seen.on_message)
    return seen


def changed(owner: str) -> events.SettingsChanged:
    return events.SettingsChanged(owner=owner, keys=["a"])


def progress() -> events.SyncProgress:
    """An event no queue is bound to: it can only go to the unrouted queue."""
    return events.SyncProgress(
        sync_log_id=UUID(int=1),
        step="nodes",
        items_total=1,
        items_processed=1,
        items_failed=0,
        percentage=100.0,
        message="m",
    )


async def test_an_event_nothing_can_route_stays_unsent_until_it_can_be(harness: Bus) -> None:
    await harness.relay.connect()  # declares the topology, the unrouted queue included
    unrouted = unrouted_queue_name(harness.prefix)
    await harness.channel.queue_delete(unrouted)  # the alternate exchange now routes nowhere
    event_id = await commit(harness.pool, progress())
    with pytest.raises(PublishError):
        await harness.relay.flush_once()  # the broker returned it: not marked sent
    await declare_topology(harness.channel, harness.prefix, (harness.subscription,))
    assert await harness.relay.flush_once() == 1
    queue = await harness.channel.declare_queue(unrouted, passive=True)
    message = await eventually(lambda: queue.get(fail=False), timeout=10)
    assert message.message_id == str(event_id)
    await message.ack()


async def test_the_purge_keeps_unsent_events_however_old(harness: Bus) -> None:
    """A day-long broker outage must not delete the backlog it left."""
    event_id = await commit(harness.pool, changed("old"))
    async with harness.pool.acquire() as conn:
        await conn.execute(
            "UPDATE outbox SET created_at = now() - interval '3 days' WHERE id = $1", event_id
        )
    await harness.relay.refresh_gauges()  # purges sent rows older than a day
    seen = await tap(harness, "settings.changed")
    await harness.relay.start()
    await eventually(lambda: _has(seen.ids), timeout=10)
    assert seen.ids == [str(event_id)]


async def test_the_relay_publishes_each_event_exactly_once(harness: Bus) -> None:
    seen = await tap(harness, "settings.changed")
    harness.relay.idle_poll_seconds = 0.05  # many looks at the outbox meanwhile
    await harness.relay.start()
    ids = [
        await commit(harness.pool, events.SettingsChanged(owner=str(n), keys=["a"]))
        for n in range(5)
    ]
    await eventually(lambda: _count(seen.ids, 5), timeout=10)
    await asyncio.sleep(1.0)  # twenty polls: a re-publish would have come by now
    assert sorted(seen.ids) == sorted(str(i) for i in ids)


async def test_a_slow_delivery_that_fails_after_a_later_one_succeeded_is_not_lost(
    harness: Bus,
) -> None:
    """Out-of-order completion: the later delivery's ack must not cover the slow one."""
    consumer = harness.consumer()
    release_slow = asyncio.Event()

    @consumer.on_long(events.SettingsChanged)
    async def handle(event: events.SettingsChanged, meta: EventMeta) -> None:
        if event.owner == "slow":
            await release_slow.wait()
            if meta.attempt == 1:
                raise RuntimeError("the slow handler fails on its first attempt")
        async with harness.pool.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, consumer.name, meta.id):
                await conn.execute("INSERT INTO effects VALUES ($1, $2)", meta.id, event.owner)

    await harness.run_consumer(consumer)
    async with harness.pool.acquire() as conn, conn.transaction():  # one batch, in order
        slow = await outbox.enqueue(
            conn, events.SettingsChanged(owner="slow", keys=["a"]), source="nodebyte/gateway"
        )
        fast = await outbox.enqueue(
            conn, events.SettingsChanged(owner="fast", keys=["a"]), source="nodebyte/gateway"
        )
    await harness.relay.start()
    await eventually(lambda: effects(harness), timeout=10)  # the fast one, while slow waits
    assert [r["event_id"] for r in await effects(harness)] == [fast]
    release_slow.set()

    async def both() -> bool:
        return len(await effects(harness)) == 2

    await eventually(both, timeout=15)
    assert sorted(r["event_id"] for r in await effects(harness)) == sorted([slow, fast])


async def _has(items: list) -> bool:
    return bool(items)


async def _count(items: list, n: int) -> bool:
    return len(items) >= n


async def test_a_stopping_consumer_finishes_what_it_holds_and_takes_nothing_new(
    harness: Bus,
) -> None:
    """Drain on SIGTERM: the delivery in hand completes once and is acknowledged (not
    redelivered to another replica), and what arrives during the drain stays queued."""
    consumer = harness.consumer()
    started = asyncio.Event()
    handled: list[tuple[str, int]] = []

    @consumer.on_long(events.SettingsChanged)
    async def handle(event: events.SettingsChanged, meta: EventMeta) -> None:
        started.set()
        await asyncio.sleep(1.0)  # still at work when the stop comes
        handled.append((event.owner, meta.attempt))

    connection = await harness.run_consumer(consumer)
    await commit(harness.pool, changed("in-hand"))
    await harness.relay.start()
    await asyncio.wait_for(started.wait(), 10)
    draining = asyncio.create_task(connection.drain(5.0))
    await asyncio.sleep(0.2)
    await commit(harness.pool, changed("after-stop"))
    await draining
    await connection.stop()
    assert handled == [("in-hand", 1)]

    async def one_left() -> bool:
        return await harness.queue_depth(harness.queue) == 1

    await eventually(one_left, timeout=10)  # only the later one; the first was acked


async def test_a_stopped_relay_leaves_no_connection_open_at_the_broker(harness: Bus) -> None:
    """A replica that stops (a deploy, a scale-down) must not leave its publishing
    connection behind: the broker would hold it, and its channel, until a heartbeat
    timeout, one more per restart."""
    name = f"stoptest-{secrets.token_hex(4)}"
    relay = OutboxRelay(
        harness.pool,
        schema=harness.schema,
        service=name,
        amqp_url=harness.amqp_url,
        prefix=harness.prefix,
    )
    await relay.start()
    assert relay.alive()
    assert f"{name} outbox relay" in await broker_connections()
    await relay.stop()
    assert not relay.alive()

    async def gone() -> bool:
        return f"{name} outbox relay" not in await broker_connections()

    await eventually(gone, timeout=15)


async def broker_connections() -> str:
    """The client-given names of the broker's connections (rabbitmqctl)."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "list_connections",
        "-q",
        "client_properties",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_flush_reports_what_it_published_and_nothing_when_nothing_waits(
    harness: Bus,
) -> None:
    """The relay's workers back off on empty looks (and scale on full ones) by this
    count: an empty outbox must read as 0."""
    relay = harness.relay
    await relay.connect()  # no background loop: flush_once is driven by hand
    assert not relay.alive()  # connected, but no worker publishes
    assert await relay.flush_once() == 0
    for n in range(3):
        await commit(harness.pool, changed(f"flush-{n}"))
    await relay.refresh_gauges()
    assert gauge("nodebyte_outbox_backlog", relay.service) == 3
    assert gauge("nodebyte_outbox_oldest_age_seconds", relay.service) > 0
    published = {"service": relay.service, "type": "settings.changed"}
    before = REGISTRY.get_sample_value("nodebyte_events_published_total", published) or 0
    assert await relay.flush_once() == 3
    assert REGISTRY.get_sample_value("nodebyte_events_published_total", published) == before + 3
    assert await relay.flush_once() == 0
    await relay.refresh_gauges()  # nothing waits: no backlog, and no age either
    assert gauge("nodebyte_outbox_backlog", relay.service) == 0
    assert gauge("nodebyte_outbox_oldest_age_seconds", relay.service) == 0


def gauge(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service})


async def test_every_settled_delivery_is_acknowledged_nothing_comes_back_after_a_stop(
    harness: Bus,
) -> None:
    """Acks go out coalesced (one `multiple` ack per run of settled tags): each applied,
    retried or failed delivery must still be settled at the broker, or a consumer that
    stops hands it back and it runs again elsewhere."""
    consumer = harness.consumer()

    @consumer.on(events.SettingsChanged)
    async def apply(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        if event.owner == "flaky" and meta.attempt == 1:
            raise RuntimeError("fails once, then works")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", meta.id, event.owner)

    owners = [f"owner-{n}" for n in range(30)]
    owners[7] = "flaky"
    async with harness.pool.acquire() as conn, conn.transaction():
        for owner in owners:
            await outbox.enqueue(conn, changed(owner), source="nodebyte/gateway")
    await harness.relay.start()
    connection = await harness.run_consumer(consumer)

    async def all_applied() -> bool:
        return len(await effects(harness)) == len(owners)

    await eventually(all_applied, timeout=15)
    await asyncio.sleep(0.3)  # the last acks on their way
    await connection.stop()
    harness.consumers.remove(connection)
    await asyncio.sleep(0.5)  # anything unacknowledged is back in the queue by now
    assert await harness.queue_depth(harness.queue) == 0
    assert sorted(r["owner"] for r in await effects(harness)) == sorted(owners)
