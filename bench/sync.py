"""Full panel sync at production size, then an unchanged re-sync.

The panel emulator serves 200 nodes, 10,000 servers, 50,000 allocations, 5,000
users and 300 eggs (no artificial latency); the sync service runs as in `make up`.
Prints wall time, rows/s, panel requests, DB statements, peak RSS of the sync
process, and the same for a re-sync of the unchanged panel (rows written: 0).

    .venv/bin/python bench/sync.py
"""

from __future__ import annotations

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
PANEL = (
    "--nodes",
    "200",
    "--servers",
    "10000",
    "--allocations",
    "50000",
    "--users",
    "5000",
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
        data = (await client.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        return data if data["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    result = await eventually(done, timeout=600, interval=0.1)
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
    config = StackConfig.isolated(ADMIN, AMQP, f"bench{secrets.token_hex(3)}")
    config.panel_args = PANEL
    stack = Stack(config, Path(tempfile.mkdtemp(prefix="nb-bench-sync-")))
    try:
        stack.prepare_database()
        stack.start_emulators()
        stack.wait_healthy(["pterodactyl", "discord"], 120)
        for service in ("gateway", "sync", "notifier"):
            stack.start_service(service)
        stack.wait_healthy(["gateway", "sync", "notifier"], 60)
        full, again = asyncio.run(measure(config, stack))
        rss = peak_rss_mb(stack.processes["sync"].popen.pid)
    finally:
        stack.stop_all()
        asyncio.run(drop_database(config.database))
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
