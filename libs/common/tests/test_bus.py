"""Outbox → RabbitMQ → consumer, over the real broker and database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock
from uuid import UUID, uuid4

import aio_pika
import asyncpg
import pytest

from nodebyte_common import events, outbox
from nodebyte_common.cloudevents import EventMeta, event_headers
from nodebyte_common.consumer import EventConsumer, PermanentFailure
from nodebyte_common.topology import producers, source_of
from nodebyte_devstack.bus_harness import Bus, bus
from nodebyte_devstack.pgbouncer import PgBouncer
from nodebyte_devstack.waiting import eventually

TYPES = ("settings.changed",)


@pytest.fixture
async def harness(
    database: str,
    amqp_url: str,
    amqp_prefix: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    pgbouncer: PgBouncer | None,
) -> AsyncIterator[Bus]:
    schema = "bus_" + request.node.name.removeprefix("test_")[:40]
    async with bus(database, amqp_url, amqp_prefix, schema, TYPES, tmp_path, pgbouncer) as h:
        async with h.pool.acquire() as conn:
            await conn.execute("CREATE TABLE effects (event_id uuid, owner text)")
        yield h


def changed(owner: str = "sync") -> events.SettingsChanged:
    return events.SettingsChanged(owner=owner, keys=["a"])


async def commit_event(pool: asyncpg.Pool, event: events.Event) -> UUID:
    async with pool.acquire() as conn, conn.transaction():
        return await outbox.enqueue(conn, event, source=source_of(producers(event.TYPE)[0]))


def record_effects(h: Bus) -> EventConsumer:
    """A consumer whose effect is a row in `effects` per event."""
    consumer = h.consumer()

    @consumer.on(events.SettingsChanged)
    async def apply(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", meta.id, event.owner)

    return consumer


async def effects(h: Bus) -> list[asyncpg.Record]:
    async with h.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM effects")


async def test_outbox_waits_for_the_relay_then_delivers_once(harness: Bus) -> None:
    event_id = await commit_event(harness.pool, changed())
    await asyncio.sleep(0.3)
    assert await harness.queue_depth(harness.queue) == 0  # nothing published: relay stopped
    await harness.run_consumer(record_effects(harness))
    await harness.relay.start()
    await eventually(lambda: effects(harness))
    await asyncio.sleep(0.3)
    rows = await effects(harness)
    assert [r["event_id"] for r in rows] == [event_id]
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT sent_at IS NOT NULL FROM outbox WHERE id=$1", event_id)


async def test_a_commit_after_a_nudge_is_published_without_waiting_for_the_poll(
    harness: Bus,
) -> None:
    harness.relay.idle_poll_seconds = 60.0  # only the nudge can explain a prompt delivery
    await harness.run_consumer(record_effects(harness))
    await harness.relay.start()
    await asyncio.sleep(0.3)  # the relay has looked, found nothing and is waiting
    async with harness.pool.acquire() as conn, conn.transaction():
        event_id = await outbox.enqueue(conn, changed(), source="nodebyte/gateway")
        await asyncio.sleep(0.5)  # the nudge comes well before the commit
    await eventually(lambda: effects(harness), timeout=10)
    assert [r["event_id"] for r in await effects(harness)] == [event_id]


async def test_rows_committed_by_another_process_are_found_by_polling(harness: Bus) -> None:
    harness.relay.idle_poll_seconds = 0.2
    await harness.run_consumer(record_effects(harness))
    await harness.relay.start()
    await asyncio.sleep(0.3)  # the relay has looked, found nothing and is waiting
    event_id = uuid4()
    async with harness.pool.acquire() as conn:  # plain SQL: no nudge reaches the relay
        await conn.execute(
            outbox.INSERT_OUTBOX,
            event_id,
            "settings.changed",
            1,
            events.encode(changed()),
            event_headers(changed(), event_id, "elsewhere"),
        )
    await eventually(lambda: effects(harness), timeout=10)
    assert [r["event_id"] for r in await effects(harness)] == [event_id]


async def test_relay_crash_after_publish_redelivers_and_inbox_deduplicates(harness: Bus) -> None:
    await harness.run_consumer(record_effects(harness))
    event_id = await commit_event(harness.pool, changed())
    # Publish, then die before the marking commits: the rows stay unsent.
    await harness.relay.connect()  # no background loop: flush_once is driven by hand
    publish_batch = outbox.publish_batch

    async def publish_then_die(*args: object, **kwargs: object) -> None:
        await publish_batch(*args, **kwargs)  # type: ignore[arg-type]
        raise ConnectionError("relay died before marking the batch sent")

    with (
        mock.patch.object(outbox, "publish_batch", publish_then_die),
        pytest.raises(ConnectionError),
    ):
        await harness.relay.flush_once()
    assert await harness.relay.flush_once() == 1  # the batch goes out again
    await eventually(lambda: effects(harness))
    await asyncio.sleep(0.5)
    assert [r["event_id"] for r in await effects(harness)] == [event_id]


async def test_consumer_resumes_after_the_broker_closes_its_connection(harness: Bus) -> None:
    name = f"bus harness {uuid4()}"
    consuming = await harness.run_consumer(record_effects(harness), name=name)
    await harness.relay.start()
    first = await commit_event(harness.pool, changed())
    await eventually(lambda: effects(harness))
    closed = await close_connections_named(name)
    # The robust connection comes back within milliseconds, often before rabbitmqctl has
    # even exited: the broker listing a new connection of that name is the proof.
    await eventually(lambda: _reconnected(name, closed), timeout=30)
    await eventually(lambda: _is(consuming.ready()), timeout=30)
    second = await commit_event(harness.pool, changed())
    await eventually(lambda: _count_is(harness, 2), timeout=30)
    await asyncio.sleep(0.3)
    assert sorted(r["event_id"] for r in await effects(harness)) == sorted([first, second])


async def test_relay_resumes_after_the_broker_closes_its_connection(harness: Bus) -> None:
    await harness.run_consumer(record_effects(harness))
    await harness.relay.start()
    first = await commit_event(harness.pool, changed())
    await eventually(lambda: _count_is(harness, 1))
    await close_connections_named("bustest outbox relay")
    second = await commit_event(harness.pool, changed())  # while the relay reconnects
    await eventually(lambda: _count_is(harness, 2), timeout=30)
    await asyncio.sleep(0.3)
    assert sorted(r["event_id"] for r in await effects(harness)) == sorted([first, second])


async def close_connections_named(name: str) -> list[str]:
    """Have the broker close the client connections that gave `name` (rabbitmqctl)."""
    pids = await _connections_named(name)
    assert pids, f"no connection named {name!r}"
    for pid in pids:
        await _rabbitmqctl("close_connection", pid, "closed by a test")
    return pids


async def _connections_named(name: str) -> list[str]:
    listed = await _rabbitmqctl("list_connections", "-q", "pid", "client_properties")
    return [line.split("\t")[0] for line in listed.splitlines() if f'"{name}"' in line]


async def _reconnected(name: str, closed: list[str]) -> bool:
    return any(pid not in closed for pid in await _connections_named(name))


async def _rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _is(value: bool) -> bool:
    return value


async def _count_is(h: Bus, n: int) -> bool:
    return len(await effects(h)) == n


async def test_undecodable_messages_go_to_the_dead_letter_queue(harness: Bus) -> None:
    await harness.run_consumer(record_effects(harness))
    exchange = await harness.channel.get_exchange(f"{harness.prefix}.events")
    good_headers = event_headers(changed(), uuid4(), "t")
    bodies = [
        (b"not json at all", good_headers),
        (b'{"owner": 7}', {**good_headers, "cloudEvents:id": str(uuid4())}),  # wrong shape
        (b'{"owner": "x", "keys": []}', {}),  # no CloudEvents attributes
    ]
    for body, headers in bodies:
        await exchange.publish(
            aio_pika.Message(body, headers=headers), routing_key="settings.changed"
        )
    dlq = harness.subscription.dead_letter_queue(harness.prefix)
    await eventually(lambda: _depth_is(harness, dlq, 3))
    assert await effects(harness) == []


async def _depth_is(h: Bus, queue: str, n: int) -> bool:
    return await h.queue_depth(queue) == n


async def test_transient_failure_is_retried_then_succeeds_once(harness: Bus) -> None:
    consumer = harness.consumer(retry_base_delay=0.05)
    attempts: list[int] = []

    @consumer.on(events.SettingsChanged)
    async def flaky(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        attempts.append(meta.attempt)
        if len(attempts) < 3:
            raise ConnectionResetError("upstream hiccup")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", meta.id, event.owner)

    await harness.run_consumer(consumer)
    await harness.relay.start()
    event_id = await commit_event(harness.pool, changed())
    await eventually(lambda: effects(harness))
    assert attempts == [1, 2, 3]
    assert [r["event_id"] for r in await effects(harness)] == [event_id]


async def test_retries_are_bounded_then_dead_lettered(harness: Bus) -> None:
    consumer = harness.consumer(retry_base_delay=0.01)
    attempts: list[int] = []

    @consumer.on(events.SettingsChanged)
    async def broken(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        attempts.append(meta.attempt)
        raise ConnectionResetError("still down")

    await harness.run_consumer(consumer)
    await harness.relay.start()
    await commit_event(harness.pool, changed())
    dlq = harness.subscription.dead_letter_queue(harness.prefix)
    await eventually(lambda: _depth_is(harness, dlq, 1), timeout=20)
    assert len(attempts) == 7  # first delivery + the queue's delivery limit of redeliveries


async def test_permanent_failure_is_dead_lettered_at_once(harness: Bus) -> None:
    consumer = harness.consumer()
    calls: list[UUID] = []

    @consumer.on(events.SettingsChanged)
    async def refuses(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        calls.append(meta.id)
        raise PermanentFailure("this can never work")

    await harness.run_consumer(consumer)
    await harness.relay.start()
    await commit_event(harness.pool, changed())
    dlq = harness.subscription.dead_letter_queue(harness.prefix)
    await eventually(lambda: _depth_is(harness, dlq, 1))
    assert len(calls) == 1


async def test_a_failing_event_among_many_costs_its_neighbours_nothing(harness: Bus) -> None:
    """Events applied together in one transaction: one that fails is dead-lettered
    alone, and every other one still has its effect, exactly once."""
    consumer = harness.consumer()

    @consumer.on(events.SettingsChanged)
    async def apply(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        if event.owner == "bad":
            raise PermanentFailure("this one can never work")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", meta.id, event.owner)

    batch = [(uuid4(), changed("bad" if n == 20 else f"owner-{n}")) for n in range(40)]
    async with harness.pool.acquire() as conn:
        await outbox.enqueue_many(conn, batch, source="nodebyte/gateway")
    await harness.relay.start()
    await eventually(lambda: _depth_is(harness, harness.queue, 40))  # all waiting at once
    await harness.run_consumer(consumer)
    dlq = harness.subscription.dead_letter_queue(harness.prefix)
    await eventually(lambda: _depth_is(harness, dlq, 1))
    await eventually(lambda: _count_is(harness, 39))
    await asyncio.sleep(0.5)
    applied = sorted(r["event_id"] for r in await effects(harness))
    assert applied == sorted(event_id for event_id, e in batch if e.owner != "bad")
    assert await harness.queue_depth(harness.queue) == 0


async def test_cloudevents_attributes_and_trace_context_travel_with_the_event(
    harness: Bus,
) -> None:
    consumer = harness.consumer()
    seen: list[EventMeta] = []

    @consumer.on(events.SettingsChanged)
    async def capture(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        seen.append(meta)

    await harness.run_consumer(consumer)
    await harness.relay.start()
    from nodebyte_common.observability import configure_tracing, tracer

    configure_tracing("bustest")
    with tracer().start_as_current_span("publisher") as span:
        event_id = await commit_event(harness.pool, changed())
        trace_id = format(span.get_span_context().trace_id, "032x")
    await eventually(lambda: _has(seen))
    meta = seen[0]
    assert (meta.id, meta.type, meta.source) == (event_id, "settings.changed", "nodebyte/gateway")
    assert meta.headers["cloudEvents:specversion"] == "1.0"
    assert meta.headers["cloudEvents:dataschema"] == "urn:nodebyte:events:settings.changed:v1"
    assert trace_id in meta.headers["traceparent"]


async def _has(items: list) -> bool:
    return bool(items)
