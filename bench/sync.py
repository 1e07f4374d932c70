"""Full panel sync at production size, then an unchanged re-sync.

The panel emulator serves 200 nodes, 10,000 servers, 50,000 allocations, 5,000
users and 300 eggs (no artificial latency); the sync service runs as in `make up`.
Prints wall time, rows/s, panel requests, DB statements, peak RSS of the sync
process, and the same for a re-sync of the unchanged panel (rows written: 0).

`--scale N` multiplies the panel: 10,000·N servers, 50,000·N allocations,
5,000·N users, max(200, 100·N) nodes (so 10 is 1,000 nodes, 100,000 servers,
500,000 allocations, 50,000 users). `--page-size` is the `per_page` the sync
asks for (the Application API has no cap; the sync accepts up to 5,000): with
a panel limited to 240 requests a minute, the request count is the floor of a
sync's duration. The emulator's own RSS and start-up time are printed too.

    .venv/bin/python bench/sync.py [--scale 1] [--page-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def panel(scale: int) -> tuple[str, ...]:
    return (
        "--nodes",
        str(max(200, 100 * scale)),
        "--servers",
        str(10_000 * scale),
        "--allocations",
        str(50_000 * scale),
        "--users",
        str(5_000 * scale),
        "--eggs",
        "300",
        "--nests",
        "20",
        "--locations",
        "10",
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def statements(admin: asyncpg.Connection, database: str) -> int:
    """Statements the sync role ran (pg_stat_statements is not assumed: xact counts)."""
    return await admin.fetchval(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database
    )


async def one_sync(
    stack: Stack, client: httpx.AsyncClient, panel: httpx.AsyncClient, admin: asyncpg.Connection
) -> dict[str, float]:
    await panel.delete("/_emulator/stats")
    tx_before = await statements(admin, stack.config.database)
    started = time.perf_counter()
    response = await client.post("/api/v1/sync/full", json={"requested_by": "bench"})
    log_id = response.json()["data"]["sync_log_id"]

    async def done() -> dict | None:
        data = (await client.get(f"/api/v1/sync/status/{log_id}")).json().get("data")
        if data is None:  # a refusal (e.g. the gateway's call timed out): ask again
            return None
        return data if data["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    result = await eventually(done, timeout=1800, interval=0.5)
    wall = time.perf_counter() - started
    assert result["status"] == "COMPLETED", result
    requests = (await panel.get("/_emulator/stats")).json()["total"]
    tx = await statements(admin, stack.config.database) - tx_before
    print("step_seconds:", result["metadata"].get("stepSeconds"))
    return {
        "wall_s": wall,
        "items": result["itemsSynced"],
        "rows_written": result["metadata"]["rowsWritten"],
        "panel_requests": requests,
        "db_transactions": tx,
    }


async def measure(config: StackConfig, stack: Stack) -> tuple[dict, dict]:
    admin = await asyncpg.connect(config.database_dsn)
    headers = {"X-API-Key": config.api_key}
    try:
        async with (
            httpx.AsyncClient(
                base_url=config.url("gateway"), headers=headers, timeout=30
            ) as client,
            httpx.AsyncClient(base_url=config.url("pterodactyl"), timeout=60) as panel,
        ):
            return (
                await one_sync(stack, client, panel, admin),
                await one_sync(stack, client, panel, admin),
            )
    finally:
        await admin.close()


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument(
        "--panel-timeout", type=float, default=15.0, help="seconds (a starved emulator is slow)"
    )
    args = parser.parse_args()
    config = StackConfig.isolated(ADMIN, AMQP, f"bench{secrets.token_hex(3)}")
    config.panel_args = panel(args.scale)
    config.extra_env["sync"] = {
        "SYNC_BATCH_SIZE": str(args.page_size),
        "PANEL_TIMEOUT_SECONDS": str(args.panel_timeout),
    }
    stack = Stack(config, Path(tempfile.mkdtemp(prefix="nb-bench-sync-")))
    try:
        stack.prepare_database()
        started = time.perf_counter()
        stack.start_emulators()
        stack.wait_healthy(["pterodactyl", "discord"], 120 + 90 * args.scale)
        panel_start_s = time.perf_counter() - started
        panel_rss = peak_rss_mb(stack.processes["pterodactyl"].popen.pid)
        for service in ("gateway", "sync", "notifier"):
            stack.start_service(service)
        stack.wait_healthy(["gateway", "sync", "notifier"], 300)
        full, again = asyncio.run(measure(config, stack))
        rss = peak_rss_mb(stack.processes["sync"].popen.pid)
    finally:
        stack.stop_all()
        asyncio.run(drop_database(config.database))
    print(f"panel_args: {' '.join(config.panel_args)}")
    print(f"page_size: {args.page_size}")
    print(f"panel_emulator_start_s: {panel_start_s:.0f}")
    print(f"panel_emulator_peak_rss_mb: {panel_rss:.0f}")
    print(f"full_sync_wall_s: {full['wall_s']:.2f}")
    print(f"full_sync_items: {full['items']}")
    print(f"full_sync_rows_written: {full['rows_written']}")
    print(f"full_sync_rows_per_s: {full['rows_written'] / full['wall_s']:.0f}")
    print(f"full_sync_panel_requests: {full['panel_requests']}")
    print(f"full_sync_db_transactions: {full['db_transactions']}")
    print(f"resync_wall_s: {again['wall_s']:.2f}")
    print(f"resync_rows_written: {again['rows_written']}")
    print(f"resync_panel_requests: {again['panel_requests']}")
    print(f"resync_db_transactions: {again['db_transactions']}")
    print(f"sync_peak_rss_mb: {rss:.0f}")


if __name__ == "__main__":
    main()
