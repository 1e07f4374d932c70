"""Jobs (10,000, `--jobs`) due at one instant, two scheduler replicas: all fire, none twice.

Two real scheduler processes (one leads) share a database and broker prefix of
their own. The jobs are written straight into the scheduler's table, all due at
one minute boundary of an injected clock (wall speed, placed so that the
boundary comes a few seconds after the replicas are up). A consumer bound to
`job.fired` notes when each event arrives.

Beside it, in the same run, the baseline: bare asyncpg and aio-pika doing the
least work a firing needs (insert run rows and outbox rows, move the jobs on, in
batches of 500; publish 10,000 events with confirms, 64 in flight). The figure
is the ratio of the two.

    .venv/bin/python bench/scheduler.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import msgspec
import uuid6

from nodebyte_common.bootstrap import bootstrap
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig, free_port
from nodebyte_devstack.waiting import eventually
from nodebyte_scheduler.clock import Clock

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DUE = datetime(2030, 1, 1, tzinfo=UTC)  # the minute every job is due at
LEAD_SECONDS = 45.0  # the replicas start this long (real time) before the due time
BATCH = 500


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def baseline(database: str, prefix: str, n: int) -> tuple[float, float]:
    """Seconds for bare asyncpg to record n firings, and for bare aio-pika to publish n."""
    conn = await asyncpg.connect(database)
    await conn.execute(
        """CREATE TABLE bare_jobs (id uuid PRIMARY KEY, next_run_at timestamptz);
           CREATE TABLE bare_runs (id uuid PRIMARY KEY, job_id uuid, due_at timestamptz,
                                   recorded_at timestamptz DEFAULT clock_timestamp(),
                                   UNIQUE (job_id, due_at));
           CREATE TABLE bare_outbox (id uuid PRIMARY KEY, type text, payload bytea,
                                     headers jsonb)"""
    )
    jobs = [uuid6.uuid7() for _ in range(n)]
    await conn.copy_records_to_table("bare_jobs", records=[(j, DUE) for j in jobs])
    body = b'{"job_id":"%s","run_id":"%s","job_name":"bench","due_at":"2030-01-01T00:00:00Z"}'
    started = time.perf_counter()
    for at in range(0, n, BATCH):
        chunk = jobs[at : at + BATCH]
        runs = [uuid6.uuid7() for _ in chunk]
        async with conn.transaction():
            await conn.fetch("SELECT * FROM bare_jobs WHERE id = ANY($1)", chunk)
            await conn.execute(
                """INSERT INTO bare_runs (id, job_id, due_at)
                   SELECT r, j, $3 FROM unnest($1::uuid[], $2::uuid[]) AS u(r, j)
                   ON CONFLICT DO NOTHING""",
                runs,
                chunk,
                DUE,
            )
            await conn.executemany(
                "INSERT INTO bare_outbox VALUES ($1, 'job.fired', $2, '{}')",
                [
                    (uuid6.uuid7(), body % (str(job).encode(), str(run).encode()))
                    for job, run in zip(chunk, runs, strict=True)
                ],
            )
            await conn.execute(
                "UPDATE bare_jobs SET next_run_at = next_run_at + interval '1 minute' "
                "WHERE id = ANY($1)",
                chunk,
            )
    db_seconds = time.perf_counter() - started
    await conn.close()

    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(
        f"{prefix}.bare", durable=True, arguments={"x-queue-type": "quorum"}
    )
    in_flight = asyncio.Semaphore(64)
    payload = body % (b"0" * 36, b"0" * 36)

    async def publish_one() -> None:
        async with in_flight:
            await channel.default_exchange.publish(
                aio_pika.Message(payload, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue.name,
            )

    started = time.perf_counter()
    await asyncio.gather(*(publish_one() for _ in range(n)))
    publish_seconds = time.perf_counter() - started
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return db_seconds, publish_seconds


class Replicas:
    def __init__(self, config: StackConfig, clock: Clock, log_dir: Path) -> None:
        self.config, self.clock, self.log_dir = config, clock, log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str) -> None:
        assert self.clock.start is not None
        port = free_port()
        env = {
            **os.environ,
            **self.config.service_env("scheduler"),
            "PORT": str(port),
            "REPLICA_ID": name,
            "LOG_LEVEL": "WARNING",
            "CLOCK_SPEED": "1",
            "CLOCK_START": self.clock.start.isoformat(),
            "CLOCK_ORIGIN": repr(self.clock.origin),
        }
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "nodebyte_scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ports[name] = port

    async def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for name, port in self.ports.items():
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        response = await client.get(f"http://127.0.0.1:{port}/health/ready")
                        if response.status_code == 200:
                            break
                    if time.monotonic() > deadline or self.processes[name].poll() is not None:
                        raise RuntimeError(f"replica {name} did not start; see {self.log_dir}")
                    await asyncio.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            process.wait(timeout=30)


async def seed_jobs(database: str, n: int) -> None:
    conn = await asyncpg.connect(database, server_settings={"search_path": "scheduler"})
    try:
        await conn.copy_records_to_table(
            "jobs",
            records=[
                (uuid6.uuid7(), "system", f"bench.{i:05d}", "* * * * *", "job.fired", DUE, DUE)
                for i in range(n)
            ],
            columns=["id", "kind", "name", "cron", "event_type", "next_run_at", "next_fire_at"],
        )
    finally:
        await conn.close()


async def consume(prefix: str, received: dict[tuple[str, str], list[tuple[str, float]]]) -> object:
    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=500)
    exchange = await channel.get_exchange(exchange_name(prefix))
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="job.fired")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        payload = msgspec.json.decode(message.body)
        await message.ack()
        if not payload["job_name"].startswith("bench."):
            return  # a built-in job due at the same minute
        key = (payload["job_id"], payload["due_at"])
        received.setdefault(key, []).append((payload["run_id"], time.time()))

    await queue.consume(on_message)
    return connection


async def ours(config: StackConfig, n: int, log_dir: Path, lead: float) -> dict[str, float]:
    clock = Clock(speed=1.0, start=DUE - timedelta(seconds=lead), origin=time.time())
    replicas = Replicas(config, clock, log_dir)
    received: dict[tuple[str, str], list[tuple[str, float]]] = {}
    replicas.start("a")
    replicas.start("b")
    try:
        await replicas.wait_ready()
        await seed_jobs(config.database_dsn, n)
        connection = await consume(config.prefix, received)
        due_wall = clock.wall_time_of(DUE)
        if time.time() > due_wall - 2:
            raise RuntimeError("the replicas took too long to start: raise --lead")
        with contextlib.suppress(AssertionError):
            await eventually(lambda: _all_in(received, n), timeout=due_wall + 300 - time.time())
        await asyncio.sleep(2.0)  # let any duplicate show itself
        await connection.close()  # type: ignore[attr-defined]
        return await measure(config.database_dsn, n, due_wall, received)
    finally:
        replicas.stop()


async def _all_in(received: dict, n: int) -> bool:
    return len(received) >= n


async def measure(
    database: str,
    n: int,
    due_wall: float,
    received: dict[tuple[str, str], list[tuple[str, float]]],
) -> dict[str, float]:
    conn = await asyncpg.connect(database, server_settings={"search_path": "scheduler"})
    try:
        rows = await conn.fetch(
            """SELECT r.job_id, r.replica, extract(epoch FROM r.recorded_at) AS recorded
               FROM runs r JOIN jobs j ON j.id = r.job_id
               WHERE j.name LIKE 'bench.%' AND r.due_at = $1""",
            DUE,
        )
    finally:
        await conn.close()
    recorded_lags = [float(r["recorded"]) - due_wall for r in rows]
    deliveries = [min(t for _, t in runs) - due_wall for runs in received.values()]
    return {
        "runs": len(rows),
        "distinct_jobs_with_runs": len({r["job_id"] for r in rows}),
        "leaders": len({r["replica"] for r in rows}),
        "run_p50": pct(recorded_lags, 50),
        "run_p99": pct(recorded_lags, 99),
        "run_max": max(recorded_lags),
        "delivered": len(received),
        "delivered_p50": pct(deliveries, 50),
        "delivered_p99": pct(deliveries, 99),
        "delivered_max": max(deliveries),
        "published_twice": sum(1 for runs in received.values() if len({r for r, _ in runs}) > 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument(
        "--lead", type=float, default=LEAD_SECONDS, help="real seconds from start to due time"
    )
    args = parser.parse_args()
    n = args.jobs
    tag = secrets.token_hex(3)
    config = StackConfig.isolated(ADMIN, AMQP, f"sched{tag}")
    await bootstrap(ADMIN, config.database)
    try:
        base_db, base_publish = await baseline(config.database_dsn, config.prefix, n)
        with tempfile.TemporaryDirectory() as tmp:
            figures = await ours(config, n, Path(tmp), args.lead)
    finally:
        await discard_stack(config)
    baseline_total = base_db + base_publish
    print(f"jobs: {n}")
    print(f"baseline_bare_record_seconds: {base_db:.2f}")
    print(f"baseline_bare_publish_seconds: {base_publish:.2f}")
    print(f"runs_recorded: {figures['runs']}")
    print(f"jobs_with_a_run: {figures['distinct_jobs_with_runs']}")
    print(f"replicas_that_fired: {figures['leaders']}")
    print(f"fire_lag_p50_ms: {figures['run_p50'] * 1000:.0f}")
    print(f"fire_lag_p99_ms: {figures['run_p99'] * 1000:.0f}")
    print(f"all_fired_within_s: {figures['run_max']:.2f}")
    print(f"events_delivered: {figures['delivered']}")
    print(f"delivery_lag_p50_ms: {figures['delivered_p50'] * 1000:.0f}")
    print(f"delivery_lag_p99_ms: {figures['delivered_p99'] * 1000:.0f}")
    print(f"all_delivered_within_s: {figures['delivered_max']:.2f}")
    print(f"due_times_published_twice: {figures['published_twice']}")
    print(
        f"ratio_all_delivered_to_bare_record_plus_publish: "
        f"{figures['delivered_max'] / baseline_total:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
