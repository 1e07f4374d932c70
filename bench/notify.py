"""Notifier fan-out: sync.completed events → 5 Discord webhooks on the emulator.

Starts its own notifier and Discord emulator (own database and broker prefix),
registers 5 webhooks that all want sync.completed, publishes N events to the
exchange, and waits until the emulator holds N*5 messages. Before it, in the
same run, the baseline: Execute Webhook calls made straight to the emulator by
one httpx client with 64 in flight (what the emulator and a Python client can
do at all on this machine now). The ratio of the two rates is the figure.

    .venv/bin/python bench/notify.py [--events 10000] [--webhooks 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import aio_pika
import httpx

from nodebyte_common import events
from nodebyte_common.bootstrap import bootstrap
from nodebyte_common.cloudevents import event_headers
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
IN_FLIGHT = 64


def completed(log_id: str) -> events.SyncCompleted:
    return events.SyncCompleted(
        sync_log_id=log_id,  # type: ignore[arg-type]
        kind="full",
        items_total=1200,
        items_synced=1198,
        items_failed=2,
        duration_seconds=42.5,
        counts={"locations": 4, "nodes": 12, "servers": 900, "users": 282},
    )


async def publish(config: StackConfig, count: int) -> dict[str, float]:
    """Publish `count` events with confirms, 64 in flight; when each was published."""
    published: dict[str, float] = {}
    connection = await aio_pika.connect(config.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name(config.prefix))
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            log_id = str(uuid4())
            event = completed(log_id)
            headers = event_headers(event, uuid4(), "bench")
            async with gate:
                published[log_id] = time.time()
                message = aio_pika.Message(events.encode(event), headers=headers, delivery_mode=2)
                await exchange.publish(message, routing_key=event.TYPE)

        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await connection.close()
    return published


async def register_webhooks(config: StackConfig, count: int) -> list[str]:
    hook_ids = [str(10**17 + n) for n in range(count)]
    async with httpx.AsyncClient(
        base_url=f"{config.url('notifier')}/internal/v1",
        headers={"X-Service-Token": config.service_token},
    ) as notifier:
        for hook_id in hook_ids:
            url = f"{config.url('discord')}/api/webhooks/{hook_id}/bench-{hook_id}"
            body = {"name": f"bench {hook_id}", "webhookUrl": url, "events": ["sync.completed"]}
            response = await notifier.post("/webhooks", json=body)
            response.raise_for_status()
    return hook_ids


async def received(discord: httpx.AsyncClient) -> int:
    return (await discord.get("/_emulator/stats")).json()["messages"]


async def baseline(discord_url: str, hook_ids: list[str], count: int) -> float:
    """Execute Webhook calls straight to the emulator: its ceiling with one Python client."""
    payload = {"embeds": [{"title": "baseline", "description": "x" * 200}]}
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=discord_url, limits=limits, timeout=30) as client:

        async def one(n: int) -> None:
            hook = hook_ids[n % len(hook_ids)]
            async with gate:
                for attempt in range(3):  # a keep-alive connection the server just closed
                    try:
                        response = await client.post(
                            f"/api/webhooks/{hook}/baseline", params={"wait": "true"}, json=payload
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


def log_id_of(message: dict) -> str:
    fields = message["body"]["embeds"][0]["fields"]
    return next(f["value"] for f in fields if f["name"] == "Sync log")


async def run(n_events: int, n_webhooks: int, baseline_calls: int) -> None:
    tag = secrets.token_hex(4)
    config = StackConfig.isolated(ADMIN, AMQP, f"bench{tag}")
    config.extra_env["notifier"] = {"DISCORD_WEBHOOK_URL": "", "LOG_LEVEL": "WARNING"}
    stack = Stack(config, Path(tempfile.mkdtemp(prefix="nodebyte-bench-notify-")))
    try:
        await bootstrap(config.admin_dsn, config.database)
        stack.start_emulator("discord")
        stack.wait_healthy(["discord"])
        stack.start_service("notifier")
        stack.wait_healthy(["notifier"], timeout=120)
        hook_ids = await register_webhooks(config, n_webhooks)
        expected = n_events * n_webhooks
        direct = await baseline(config.url("discord"), hook_ids, baseline_calls)
        print(f"baseline_direct_posts_per_s: {direct:.0f}", flush=True)
        async with httpx.AsyncClient(base_url=config.url("discord"), timeout=60) as discord:
            await discord.delete("/_emulator/messages")
            started = time.time()
            published = await publish(config, n_events)
            publish_seconds = time.time() - started

            async def all_arrived() -> bool:
                return await received(discord) >= expected

            await eventually(all_arrived, timeout=1800, interval=0.5)
            elapsed = time.time() - started
            await asyncio.sleep(2.0)  # a late duplicate would show up here
            messages = []
            for hook_id in hook_ids:
                found = await discord.get("/_emulator/messages", params={"webhook_id": hook_id})
                messages += found.json()
    finally:
        stack.stop_all()
        await discard_stack(config)

    per_target = Counter((m["webhook_id"], log_id_of(m)) for m in messages)
    duplicates = sum(n - 1 for n in per_target.values() if n > 1)
    missing = expected - len(per_target)
    latencies = sorted(
        datetime.fromisoformat(m["received_at"]).timestamp() - published[log_id_of(m)]
        for m in messages
    )
    rate = len(messages) / elapsed
    print(f"events: {n_events}")
    print(f"webhooks: {n_webhooks}")
    print(f"publish_seconds: {publish_seconds:.1f}")
    print(f"deliveries: {len(messages)}")
    print(f"deliveries_per_s: {rate:.0f}")
    print(f"latency_p50_s: {statistics.median(latencies):.2f}")
    print(f"latency_p99_s: {latencies[int(len(latencies) * 0.99) - 1]:.2f}")
    print(f"baseline_direct_posts_per_s: {direct:.0f}")
    print(f"ratio_to_baseline: {rate / direct:.2f}")
    print(f"duplicates: {duplicates}")
    print(f"missing: {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--webhooks", type=int, default=5)
    parser.add_argument("--baseline-calls", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.webhooks, args.baseline_calls))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
