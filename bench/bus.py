"""Event bus throughput and latency: outbox commit → relay → RabbitMQ → consumer commit.

Beside it, in the same run, the baseline: a bare aio-pika publisher with confirms
(64 in flight) and a bare consumer moving the same payloads through the same kind
of queue concurrently. The ratio of the two rates is the figure.

Then the drain: as many events again, committed before the clock starts, so
only relay, broker and consumer run: the bus beside the baseline, without the
producers' transactions (which the baseline has no counterpart of).

Last, the latency at a steady load well below capacity (PACED_EVENTS at
PACED_RATE a second): under saturation, the first figures are mostly queueing.

With `--consumers K` (K > 1), on a queue of its own: a backlog of as many
events waits in the queue, then one consumer process drains it, then K consumer
processes do (the ratio of the two rates is the figure), each process's CPU
and the broker's beside them; then the paced latency with K consumers, and
lost/duplicated over all of it.

    .venv/bin/python bench/bus.py [--events 20000] [--consumers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import uuid6
import uvloop

from nodebyte_common import events, outbox
from nodebyte_common.bootstrap import with_database
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.consumer import EventConsumer
from nodebyte_common.consuming import ConsumerConnection
from nodebyte_common.db import create_pool
from nodebyte_common.outbox import OutboxRelay
from nodebyte_common.topology import Subscription, producers, source_of
from nodebyte_devstack.bus_harness import Bus, bus
from nodebyte_devstack.cleanup import discard_topology, drop_database
from nodebyte_devstack.waiting import eventually

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
PRODUCERS = 64  # concurrent transactions writing events, like 64 requests in flight
PAYLOAD_KEYS = [f"setting_{i:03d}" for i in range(60)]  # about 1 KiB of JSON
PACED_EVENTS, PACED_RATE = 2_000, 500.0
SCHEMA, SCALING_SCHEMA = "bench_bus", "bench_scale"
EVENT_TYPES = ("settings.changed",)
# p50 and p99 (s) from an event's outbox row (e JOIN o) to its consumer's effect.
COMMIT_TO_COMMIT = """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.committed_at - o.created_at))
        AS p50,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.committed_at - o.created_at))
        AS p99"""


# The outbox takes only what a service declares it publishes: the bench speaks as one.
SOURCE = source_of(producers(events.SettingsChanged.TYPE)[0])


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
        async with bus(database, AMQP, prefix, SCHEMA, EVENT_TYPES, Path(tmp)) as h:
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


async def paced_latency(
    pool: asyncpg.Pool, database: str, prefix: str, schema: str = SCHEMA
) -> tuple[float, float]:
    """Commit-to-commit p50 and p99 (s) of events committed at a steady PACED_RATE."""
    async with pool.acquire() as conn:
        since = await conn.fetchval("SELECT clock_timestamp()")
        before = await conn.fetchval("SELECT count(*) FROM effects")
    publisher = await _start_child(
        "--publisher",
        str(PACED_EVENTS),
        database,
        prefix,
        "--rate",
        str(PACED_RATE),
        "--schema",
        schema,
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


# --- several consumer processes on one queue ----------------------------------

EFFECTS = (
    "CREATE TABLE effects (event_id uuid PRIMARY KEY, "
    "committed_at timestamptz NOT NULL DEFAULT clock_timestamp())"
)


async def consumer_scaling(n: int, database: str, prefix: str, processes: int) -> dict[str, Any]:
    """Queue drain by one consumer process, then by `processes`; paced latency with them."""
    with tempfile.TemporaryDirectory() as tmp:
        async with bus(database, AMQP, prefix, SCALING_SCHEMA, EVENT_TYPES, Path(tmp)) as h:
            async with h.pool.acquire() as conn:
                await conn.execute(EFFECTS)
            figures: dict[str, Any] = {}
            for count in (1, processes):
                figures[count] = await drain_queue(h, n, database, prefix, count)
            consumers = [
                await _start_child("--consumer", database, prefix) for _ in range(processes)
            ]
            for consumer in consumers:
                await _go(consumer)
            figures["paced"] = await paced_latency(h.pool, database, prefix, SCALING_SCHEMA)
            await _stop_consumers(consumers)
            await asyncio.sleep(1.0)  # let any duplicate show itself
            async with h.pool.acquire() as conn:
                effects, distinct = await conn.fetchrow(
                    "SELECT count(*), count(DISTINCT event_id) FROM effects"
                )
                consumed = await conn.fetchval("SELECT count(*) FROM inbox")
            figures["lost"] = 2 * n + PACED_EVENTS - distinct
            figures["duplicated"] = effects - distinct + consumed - distinct
            return figures


async def drain_queue(
    h: Bus, n: int, database: str, prefix: str, count: int
) -> dict[str, float | list[float]]:
    """n events waiting in the queue, then `count` consumer processes drain it."""
    async with h.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM effects")
    relay = await _start_child("--backlog", str(n), database, prefix, "--schema", SCALING_SCHEMA)
    await _go(relay)
    await relay.communicate()
    await eventually(lambda: _queued(h, n), timeout=120, interval=0.1)
    consumers = [await _start_child("--consumer", database, prefix) for _ in range(count)]
    broker = _Broker()
    started = time.perf_counter()
    for consumer in consumers:
        await _go(consumer)
    await eventually(lambda: count_effects(h.pool, before + n), timeout=600, interval=0.05)
    elapsed = time.perf_counter() - started
    broker_cpu = broker.cpu_seconds()
    cpu = await _stop_consumers(consumers)
    return {
        "rate": n / elapsed,
        "cpu_percent": [100 * c / elapsed for c in cpu],
        "cpu_ms_per_event": 1000 * sum(cpu) / n,
        "broker_cpu_percent": 100 * broker_cpu / elapsed,
    }


async def _queued(h: Bus, n: int) -> bool:
    return await h.queue_depth(h.queue) >= n


async def _stop_consumers(consumers: list[asyncio.subprocess.Process]) -> list[float]:
    """Stop each consumer process; the CPU seconds each used since it was told to go."""
    used = []
    for consumer in consumers:
        out, _ = await consumer.communicate(b"stop\n")
        used.append(float(out.decode().split()[-1]))
    return used


class _Broker:
    """The broker's CPU (it is shared with whatever else runs on the machine)."""

    def __init__(self) -> None:
        self.pid = next(
            (
                int(proc.name)
                for proc in Path("/proc").iterdir()
                if proc.name.isdigit() and _is_broker(proc)
            ),
            None,
        )
        self.started = self._ticks()

    def _ticks(self) -> int:
        if self.pid is None:
            return 0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def cpu_seconds(self) -> float:
        return (self._ticks() - self.started) / os.sysconf("SC_CLK_TCK")


def _is_broker(proc: Path) -> bool:
    with contextlib.suppress(OSError):
        cmdline = (proc / "cmdline").read_bytes()
        return b"beam.smp" in cmdline and b"rabbit boot" in cmdline.replace(b"\0", b" ")
    return False


async def consumer_service(database: str, prefix: str) -> None:
    """Child process: one consumer of the scaling queue, from "go" until "stop"."""
    pool = await create_pool(database, SCALING_SCHEMA, max_size=8)
    consumer = EventConsumer(
        Subscription("bustest", SCALING_SCHEMA, EVENT_TYPES), prefix=prefix, retry_base_delay=0.01
    )

    @consumer.on(events.SettingsChanged)
    async def apply(
        conn: asyncpg.Connection, event: events.SettingsChanged, meta: EventMeta
    ) -> None:
        await conn.execute("INSERT INTO effects (event_id) VALUES ($1)", meta.id)

    await _ready_then_wait_for_go()
    before = _cpu_seconds()[0]
    connection = ConsumerConnection(AMQP, name="bench consumer")
    await connection.start([consumer], pool)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await connection.stop()
    print(_cpu_seconds()[0] - before, flush=True)
    await pool.close()


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


async def publishing_service(
    n: int, database: str, prefix: str, rate: float | None, schema: str = SCHEMA
) -> None:
    """Child process: commit n events from 64 concurrent transactions (at `rate` a
    second, or as fast as they go); relay them."""
    pool = await create_pool(database, schema, max_size=PRODUCERS // 4)
    relay = OutboxRelay(pool, schema=schema, service="bench", amqp_url=AMQP, prefix=prefix)
    await relay.start()
    await _ready_then_wait_for_go()
    started = time.perf_counter()
    await produce(pool, n, rate)
    print(time.perf_counter() - started, flush=True)
    async with pool.acquire() as conn:
        await eventually(lambda: _all_sent(conn), timeout=600, interval=0.1)
    await relay.stop()
    await pool.close()


async def backlog_service(n: int, database: str, prefix: str, schema: str = SCHEMA) -> None:
    """Child process: commit n events (untimed), then relay them once told to."""
    pool = await create_pool(database, schema, max_size=4)
    async with pool.acquire() as conn:
        for start in range(0, n, 500):
            batch = [(uuid6.uuid7(), payload()) for _ in range(min(500, n - start))]
            await outbox.enqueue_many(conn, batch, source=SOURCE)
    relay = OutboxRelay(pool, schema=schema, service="bench", amqp_url=AMQP, prefix=prefix)
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
                await outbox.enqueue(conn, payload(), source=SOURCE)

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
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes (scaling)")
    parser.add_argument("--backlog", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--consumer", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--schema", default=SCHEMA, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        publisher = args.publisher
        await publishing_service(
            int(publisher[0]), publisher[1], publisher[2], args.rate, args.schema
        )
        return
    if args.backlog:
        await backlog_service(int(args.backlog[0]), args.backlog[1], args.backlog[2], args.schema)
        return
    if args.consumer:
        await consumer_service(args.consumer[0], args.consumer[1])
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
        scaling = (
            await consumer_scaling(
                args.events, with_database(ADMIN, database), prefix, args.consumers
            )
            if args.consumers > 1
            else None
        )
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
    if scaling is not None:
        _print_scaling(scaling, args.consumers)
    print(f"ratio_to_bare_aio_pika: {ours['rate'] / bare_rate:.2f}")


def _print_scaling(f: dict[str, Any], k: int) -> None:
    one, many = f[1], f[k]
    print(f"consumer_processes: {k}")
    for label, run in (("1", one), (str(k), many)):
        print(f"queue_drain_{label}_consumers_events_per_s: {run['rate']:.0f}")
        cpu = ", ".join(f"{c:.0f}" for c in run["cpu_percent"])
        print(f"queue_drain_{label}_consumers_cpu_percent_each: {cpu}")
        print(f"queue_drain_{label}_consumers_cpu_ms_per_event: {run['cpu_ms_per_event']:.2f}")
        print(f"queue_drain_{label}_consumers_broker_cpu_percent: {run['broker_cpu_percent']:.0f}")
    print(f"paced_{k}_consumers_commit_to_commit_p50_ms: {f['paced'][0] * 1000:.1f}")
    print(f"paced_{k}_consumers_commit_to_commit_p99_ms: {f['paced'][1] * 1000:.1f}")
    print(f"scaling_lost: {f['lost']}")
    print(f"scaling_duplicated: {f['duplicated']}")
    print(f"queue_drain_ratio_{k}_to_1_consumers: {many['rate'] / one['rate']:.2f}")


if __name__ == "__main__":
    # Every process on uvloop, the loop the services run on (runtime.serve).
    uvloop.run(main())
