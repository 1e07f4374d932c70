"""The sync through faults: lost connections, a second replica, a database out of slots,
a rate-limiting panel. Work is never doubled, never failed by a transient error."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import httpx
import msgspec
import pytest

from nodebyte_common.topology import exchange_name
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.sync_runs import wait_for
from nodebyte_devstack.waiting import eventually
from tests.integration.test_sync_mirror import assert_mirror_matches

SYNC_CONNECTIONS = """SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'nodebyte-sync'"""


class Outcomes:
    """Counts the outcome events of syncs as a downstream consumer receives them."""

    def __init__(self) -> None:
        self.completed: Counter[str] = Counter()

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            self.completed[msgspec.json.decode(message.body)["sync_log_id"]] += 1


@pytest.fixture
async def outcomes(stack: Stack) -> AsyncIterator[Outcomes]:
    seen = Outcomes()
    connection = await aio_pika.connect(stack.config.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(stack.config.prefix))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="sync.completed")
        await queue.consume(seen.on_message)
        yield seen
    finally:
        await connection.close()


@pytest.fixture
def second_sync(stack: Stack) -> AsyncIterator[int]:
    """Another sync replica on the stack's database and broker, stopped after the test."""
    port = stack.start_extra_replica("sync")
    yield port
    stack.kill(f"sync-replica-{port}")


async def request_sync(gateway: httpx.AsyncClient) -> str:
    response = await gateway.post("/api/v1/sync/full", json={"requested_by": "tests"})
    assert response.status_code == 202, response.text
    return response.json()["data"]["sync_log_id"]


async def terminate_sync_connections(admin: asyncpg.Connection) -> int:
    pids = [r["pid"] for r in await admin.fetch(SYNC_CONNECTIONS)]
    for pid in pids:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    return len(pids)


async def test_lost_connections_and_a_second_replica_complete_each_sync_exactly_once(
    gateway: httpx.AsyncClient,
    fresh_panel: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    outcomes: Outcomes,
    second_sync: int,
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 150})
    first, second = await request_sync(gateway), await request_sync(gateway)

    async def running() -> bool:
        data = (await gateway.get(f"/api/v1/sync/status/{first}")).json()["data"]
        return data["status"] == "RUNNING" and data["itemsSynced"] > 0

    await eventually(running, timeout=30)
    for _ in range(3):  # the lease holder's connections, the waiter's, the consumers'
        assert await terminate_sync_connections(admin_conn) > 0
        await asyncio.sleep(1.0)
    for log_id in (first, second):
        await wait_for(gateway, log_id, "COMPLETED", timeout=120)
    await fresh_panel.delete("/_emulator/faults")

    await eventually(lambda: _counted(outcomes, [first, second]), timeout=15)
    await asyncio.sleep(1.0)  # a second completion would come right behind the first
    assert outcomes.completed[first] == 1
    assert outcomes.completed[second] == 1
    spans = await admin_conn.fetch(
        "SELECT started_at, completed_at FROM sync.sync_logs WHERE id = ANY($1::uuid[]) "
        "ORDER BY started_at",
        [first, second],
    )
    assert spans[0]["completed_at"] <= spans[1]["started_at"]  # never two at once
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    await assert_mirror_matches(admin_conn, dataset)


async def _counted(outcomes: Outcomes, log_ids: list[str]) -> bool:
    return all(outcomes.completed[log_id] for log_id in log_ids)


async def test_a_lease_renewed_late_with_nobody_taking_over_keeps_its_sync(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    """A renewal that comes late (a starved event loop, a busy pool: seen at 100,000
    servers on a loaded machine) must not throw the sync away while no other replica
    took the lease: the sync completes in its first attempt."""
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 100})
    log_id = await request_sync(gateway)

    async def running() -> bool:
        data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        return data["status"] == "RUNNING" and data["itemsSynced"] > 0

    await eventually(running, timeout=60)
    for _ in range(15):  # the deadline keeps passing between the holder's writes
        await admin_conn.execute(
            "UPDATE sync.sync_mirror_lease SET expires_at = now() - interval '1 second'"
        )
        await asyncio.sleep(0.2)
    await fresh_panel.delete("/_emulator/faults")
    await wait_for(gateway, log_id, "COMPLETED", timeout=120)
    data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
    assert data["attempts"] == 1, data


async def test_cancel_interrupts_the_panels_retry_after_within_a_second(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient
) -> None:
    # Every request is throttled for a minute: the sync sits in the Retry-After wait.
    await fresh_panel.delete("/_emulator/stats")
    await fresh_panel.post("/_emulator/faults", json={"rate_limit_next": 1000, "retry_after": 60})
    log_id = await request_sync(gateway)

    async def throttled() -> bool:
        data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        stats = (await fresh_panel.get("/_emulator/stats")).json()
        return data["status"] == "RUNNING" and stats["statuses"].get("429", 0) > 0

    await eventually(throttled, timeout=30)
    await asyncio.sleep(1.0)  # well inside the wait
    asked = time.monotonic()
    cancelled = await gateway.post(f"/api/v1/sync/cancel/{log_id}")
    assert cancelled.status_code == 202, cancelled.text
    await wait_for(gateway, log_id, "CANCELLED", timeout=5)
    # The event's trip through the broker, then the watch: well under the 60 s wait.
    assert time.monotonic() - asked < 3.0


async def test_a_database_out_of_slots_is_503_with_retry_after_then_served_again(
    stack: Stack, gateway: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    database = stack.config.database
    await admin_conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
    try:
        await admin_conn.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name = 'nodebyte-gateway'"""
        )
        response = await gateway.get("/api/admin/users")
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "2"
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await admin_conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')

    async def served() -> bool:
        return (await gateway.get("/api/admin/users")).status_code == 200

    await eventually(served, timeout=10)


async def test_a_replica_started_while_the_database_refuses_comes_up_once_it_accepts(
    stack: Stack, admin_conn: asyncpg.Connection
) -> None:
    database = stack.config.database
    before = set(stack.log_dir.glob("sync-replica-*.log"))
    await admin_conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
    try:
        starting = asyncio.create_task(
            asyncio.to_thread(stack.start_extra_replica, "sync", None, 90.0)
        )

        async def refused() -> bool:
            logs = set(stack.log_dir.glob("sync-replica-*.log")) - before
            return any("TooManyConnections" in log.read_text(errors="replace") for log in logs)

        await eventually(refused, timeout=60, interval=0.2)
        await asyncio.sleep(1.0)  # refused again meanwhile: it keeps trying
        assert not starting.done()
    finally:
        await admin_conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')
    port = await starting
    stack.kill(f"sync-replica-{port}")
