"""Event bus throughput and latency: outbox commit → relay → RabbitMQ → consumer commit.

Beside it, in the same run, the baseline: a bare aio-pika publisher with confirms
(64 in flight) and a bare consumer moving the same payloads through the same kind
of queue concurrently. The ratio of the two rates is the figure.

Then the drain: as many events again, committed before the clock starts, so
only relay, broker and consumer run: the bus beside the baseline, without the
producers' transactions (which the baseline has no counterpart of).

Last, the latency at a steady load well below capacity (PACED_EVENTS at
PACED_RATE a second): under saturation, the first figures are mostly queueing.

    .venv/bin/python bench/bus.py [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aio_pika
import asyncpg
import uuid6
import uvloop

from nodebyte_common import events, outbox
from nodebyte_common.bootstrap import with_database
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.db import create_pool
from nodebyte_common.outbox import OutboxRelay
from nodebyte_devstack.bus_harness import bus
from nodebyte_devstack.cleanup import discard_topology, drop_database
from nodebyte_devstack.waiting import eventually

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
PRODUCERS = 64  # concurrent transactions writing events, like 64 requests in flight
PAYLOAD_KEYS = [f"setting_{i:03d}" for i in range(60)]  # about 1 KiB of JSON
PACED_EVENTS, PACED_RATE = 2_000, 500.0
# p50 and p99 (s) from an event's outbox row (e JOIN o) to its consumer's effect.
COMMIT_TO_COMMIT = """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.committed_at - o.created_at))
        AS p50,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.committed_at - o.created_at))
        AS p99"""


def payload() -> events.SettingsChanged:
    return events.SettingsChanged(owner="bench", keys=PAYLOAD_KEYS, changed_by="bench")


async def bare_aio_pika(n: int, prefix: str) -> tuple[float, list[float]]:
    """msg/s and latencies (s): a publisher process and this consumer, concurrently."""
    conn = await aio_pika.connect(AMQP)
    channel = await conn.channel()
    await channel.set_qos(prefetch_count=64)
    queue = await channel.declare_queue(
        f"{prefix}.bare", durable=True, arguments={"x-queue-type": "quorum"}
    )
    latencies: list[float] = []
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        latencies.append(time.time() - float(message.headers["sent"]))  # type: ignore[arg-type]
        await message.ack()
        if len(latencies) == n:
            done.set()

    await queue.consume(on_message)
    publisher = await _start_child("--bare-publisher", str(n), queue.name)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    await _go(publisher)
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - started
    await publisher.wait()
    consumer_cpu, publisher_cpu = _cpu_since(cpu_before)
    print(f"bare_consumer_cpu_ms_per_msg: {1000 * consumer_cpu / n:.2f}")
    print(f"bare_publisher_cpu_ms_per_msg: {1000 * publisher_cpu / n:.2f}")
    await queue.delete(if_unused=False, if_empty=False)
    await conn.close()
    return n / elapsed, latencies


async def bare_publisher(n: int, queue: str) -> None:
    """Child process: n persistent messages, confirms, 64 in flight."""
    body = events.encode(payload())
    conn = await aio_pika.connect(AMQP)
    channel = await conn.channel(publisher_confirms=True)
    in_flight = asyncio.Semaphore(64)
    await _ready_then_wait_for_go()

    async def publish_one() -> None:
        async with in_flight:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    headers={"sent": str(time.time())},
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
            )

    await asyncio.gather(*(publish_one() for _ in range(n)))
    await conn.close()


async def nodebyte_bus(n: int, database: str, prefix: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with bus(database, AMQP, prefix, "bench_bus", ("settings.changed",), Path(tmp)) as h:
            async with h.pool.acquire() as conn:
                await conn.execute(
                    "CREATE TABLE effects (event_id uuid PRIMARY KEY, "
                    "committed_at timestamptz NOT NULL DEFAULT clock_timestamp())"
                )
            consumer = h.consumer()

            @consumer.on(events.SettingsChanged)
            async def apply(
                conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
            ) -> None:
                await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", meta.id)

            await h.run_consumer(consumer)
            # The publishing service (its requests and its relay) is another process;
            # as for the baseline, the clock starts once it has started up.
            publisher = await _start_child("--publisher", str(n), database, prefix)
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            await _go(publisher)
            out, _ = await publisher.communicate()
            produced = float(out.decode().strip().splitlines()[-1])
            await eventually(lambda: count_effects(h.pool, n), timeout=600, interval=0.05)
            elapsed = time.perf_counter() - started
            consumer_cpu, publisher_cpu = _cpu_since(cpu_before)
            await asyncio.sleep(1.0)  # let any duplicate show itself
            figures = await measure(h.pool, n, elapsed)
            figures["produce_rate"] = n / produced
            figures["consumer_cpu_ms"] = 1000 * consumer_cpu / n
            figures["publisher_cpu_ms"] = 1000 * publisher_cpu / n
            figures["drain_rate"] = await drain_backlog(h.pool, n, database, prefix)
            figures["paced_p50"], figures["paced_p99"] = await paced_latency(
                h.pool, database, prefix
            )
            return figures


async def drain_backlog(pool: asyncpg.Pool, n: int, database: str, prefix: str) -> float:
    """Events/s through relay, broker and consumer alone: n events already committed.

    The same pipeline without its producers, for comparison with the baseline,
    which has none either: what the bus itself costs beside bare aio-pika.
    """
    publisher = await _start_child("--backlog", str(n), database, prefix)
    started = time.perf_counter()
    await _go(publisher)
    await eventually(lambda: count_effects(pool, 2 * n), timeout=600, interval=0.05)
    elapsed = time.perf_counter() - started
    await publisher.communicate()
    await asyncio.sleep(1.0)  # let any duplicate show itself
    async with pool.acquire() as conn:
        effects, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT event_id) FROM effects"
        )
    if effects != 2 * n or distinct != 2 * n:
        raise SystemExit(f"drain: {distinct} distinct effects of {effects}, expected {2 * n}")
    return n / elapsed


async def paced_latency(pool: asyncpg.Pool, database: str, prefix: str) -> tuple[float, float]:
    """Commit-to-commit p50 and p99 (s) of events committed at a steady PACED_RATE."""
    async with pool.acquire() as conn:
        since = await conn.fetchval("SELECT clock_timestamp()")
        before = await conn.fetchval("SELECT count(*) FROM effects")
    publisher = await _start_child(
        "--publisher", str(PACED_EVENTS), database, prefix, "--rate", str(PACED_RATE)
    )
    await _go(publisher)
    await publisher.communicate()
    await eventually(lambda: count_effects(pool, before + PACED_EVENTS), timeout=600, interval=0.05)
    async with pool.acquire() as conn:
        p50, p99 = await conn.fetchrow(
            f"""SELECT {COMMIT_TO_COMMIT}
                FROM effects e JOIN outbox o ON o.id = e.event_id WHERE o.created_at >= $1""",
            since,
        )
    return p50, p99


async def _start_child(*args: str) -> asyncio.subprocess.Process:
    """Start a child and wait until it has imported and connected (not timed)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await child.stdout.readline()
    assert line.strip() == b"ready", line
    return child


async def _go(child: asyncio.subprocess.Process) -> None:
    assert child.stdin is not None
    child.stdin.write(b"go\n")
    await child.stdin.drain()


async def _ready_then_wait_for_go() -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of its finished children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _cpu_since(before: tuple[float, float]) -> tuple[float, float]:
    now = _cpu_seconds()
    return now[0] - before[0], now[1] - before[1]


async def publishing_service(n: int, database: str, prefix: str, rate: float | None) -> None:
    """Child process: commit n events from 64 concurrent transactions (at `rate` a
    second, or as fast as they go); relay them."""
    pool = await create_pool(database, "bench_bus", max_size=PRODUCERS // 4)
    relay = OutboxRelay(pool, schema="bench_bus", service="bench", amqp_url=AMQP, prefix=prefix)
    await relay.start()
    await _ready_then_wait_for_go()
    started = time.perf_counter()
    await produce(pool, n, rate)
    print(time.perf_counter() - started, flush=True)
    async with pool.acquire() as conn:
        await eventually(lambda: _all_sent(conn), timeout=600, interval=0.1)
    await relay.stop()
    await pool.close()


async def backlog_service(n: int, database: str, prefix: str) -> None:
    """Child process: commit n events (untimed), then relay them once told to."""
    pool = await create_pool(database, "bench_bus", max_size=4)
    async with pool.acquire() as conn:
        for start in range(0, n, 500):
            batch = [(uuid6.uuid7(), payload()) for _ in range(min(500, n - start))]
            await outbox.enqueue_many(conn, batch, source="bench")
    relay = OutboxRelay(pool, schema="bench_bus", service="bench", amqp_url=AMQP, prefix=prefix)
    await relay.connect()
    await _ready_then_wait_for_go()
    await relay.start()
    async with pool.acquire() as conn:
        await eventually(lambda: _all_sent(conn), timeout=600, interval=0.05)
    await relay.stop()
    await pool.close()


async def _all_sent(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


async def produce(pool: asyncpg.Pool, n: int, rate: float | None = None) -> None:
    remaining = iter(range(n))
    started = time.perf_counter()

    async def producer() -> None:
        for i in remaining:
            if rate:  # event i is due i/rate seconds in
                await asyncio.sleep(started + i / rate - time.perf_counter())
            # Each event is its own single-statement transaction (autocommit).
            async with pool.acquire() as conn:
                await outbox.enqueue(conn, payload(), source="bench")

    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))


async def count_effects(pool: asyncpg.Pool, at_least: int) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM effects") >= at_least


async def measure(pool: asyncpg.Pool, n: int, elapsed: float) -> dict[str, float]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"""SELECT count(*) AS effects, count(DISTINCT e.event_id) AS distinct_effects,
                  {COMMIT_TO_COMMIT},
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
                      o.sent_at - o.created_at)) AS relay_p50
                FROM effects e JOIN outbox o ON o.id = e.event_id"""
        )
        consumed = await conn.fetchval("SELECT count(*) FROM inbox")
    return {
        "rate": n / elapsed,
        "p50": row["p50"],
        "p99": row["p99"],
        "relay_p50": row["relay_p50"],
        "lost": n - row["distinct_effects"],
        "duplicated": row["effects"]
        - row["distinct_effects"]
        + (consumed - row["distinct_effects"]),
    }


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--only-ours", action="store_true", help="skip the baseline (profiling)")
    parser.add_argument("--publisher", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--bare-publisher", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--backlog", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        publisher = args.publisher
        await publishing_service(int(publisher[0]), publisher[1], publisher[2], args.rate)
        return
    if args.backlog:
        await backlog_service(int(args.backlog[0]), args.backlog[1], args.backlog[2])
        return
    if args.bare_publisher:
        await bare_publisher(int(args.bare_publisher[0]), args.bare_publisher[1])
        return
    logging.basicConfig(level=logging.WARNING)
    tag = secrets.token_hex(3)
    database, prefix = f"nb_bench_{tag}", f"nbbench.{tag}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f"CREATE DATABASE {database}")
    try:
        bare_rate, bare_lat = (
            (1.0, [0.0]) if args.only_ours else await bare_aio_pika(args.events, prefix)
        )
        ours = await nodebyte_bus(args.events, with_database(ADMIN, database), prefix)
    finally:
        await admin.close()
        with contextlib.suppress(Exception):
            await drop_database(ADMIN, database)
        await discard_topology(AMQP, prefix)
    print(f"events: {args.events}")
    print(f"bare_aio_pika_msgs_per_s: {bare_rate:.0f}")
    print(f"bare_aio_pika_p50_ms: {pct(bare_lat, 50) * 1000:.1f}")
    print(f"bare_aio_pika_p99_ms: {pct(bare_lat, 99) * 1000:.1f}")
    print(f"nodebyte_events_per_s: {ours['rate']:.0f}")
    print(f"nodebyte_commit_to_commit_p50_ms: {ours['p50'] * 1000:.1f}")
    print(f"nodebyte_commit_to_commit_p99_ms: {ours['p99'] * 1000:.1f}")
    print(f"relay_commit_to_publish_p50_ms: {ours['relay_p50'] * 1000:.1f}")
    print(f"outbox_commits_per_s: {ours['produce_rate']:.0f}")
    print(f"consumer_cpu_ms_per_event: {ours['consumer_cpu_ms']:.2f}")
    print(f"publisher_cpu_ms_per_event: {ours['publisher_cpu_ms']:.2f}")
    print(f"lost: {ours['lost']}")
    print(f"duplicated: {ours['duplicated']}")
    print(f"drain_events_per_s: {ours['drain_rate']:.0f}")
    print(f"drain_ratio_to_bare_aio_pika: {ours['drain_rate'] / bare_rate:.2f}")
    print(f"paced_events_per_s: {PACED_RATE:.0f}")
    print(f"paced_commit_to_commit_p50_ms: {ours['paced_p50'] * 1000:.1f}")
    print(f"paced_commit_to_commit_p99_ms: {ours['paced_p99'] * 1000:.1f}")
    print(f"ratio_to_bare_aio_pika: {ours['rate'] / bare_rate:.2f}")


if __name__ == "__main__":
    # Every process on uvloop, the loop the services run on (runtime.serve).
    uvloop.run(main())
