"""The walking skeleton, end to end: gateway → sync → panel → notifier → Discord."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from nodebyte_common import events
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event
from nodebyte_devstack.waiting import eventually

HOLD_LEASE = """INSERT INTO sync.sync_mirror_lease (name, token, holder, expires_at)
    VALUES ('mirror', 1, 'test', now() + interval '1 hour')
    ON CONFLICT (name) DO UPDATE SET token = sync_mirror_lease.token + 1, holder = 'test',
        expires_at = now() + interval '1 hour'"""
RELEASE_LEASE = "UPDATE sync.sync_mirror_lease SET holder = NULL WHERE holder = 'test'"


async def status_of(gateway: httpx.AsyncClient, log_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/api/v1/sync/status/{log_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


async def wait_status(gateway: httpx.AsyncClient, log_id: str, wanted: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        data = await status_of(gateway, log_id)
        return data if data["status"] == wanted else None

    return await eventually(reached, timeout=30)


async def embeds_for(discord: httpx.AsyncClient, log_id: str) -> list[dict[str, Any]]:
    """Embeds about `log_id` that reached the system webhook (other tests add webhooks)."""
    messages = (await discord.get("/_emulator/messages", params={"webhook_id": "1"})).json()
    found = []
    for message in messages:
        for embed in message["body"].get("embeds", []):
            if any(field["value"] == log_id for field in embed.get("fields", [])):
                found.append(embed)
    return found


async def test_full_sync_from_request_to_discord(
    stack: Stack,
    gateway: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    # Hold the mirror lease so the request is provably seen as PENDING first.
    await admin_conn.execute(HOLD_LEASE)
    try:
        response = await gateway.post("/api/v1/sync/full", json={"requested_by": "me"})
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["success"] is True
        assert body["message"] == "Full sync has been queued"
        log_id = body["data"]["sync_log_id"]
        assert UUID(log_id).version == 7
        assert body["data"]["status"] == "PENDING"
        assert (await status_of(gateway, log_id))["status"] == "PENDING"
        await asyncio.sleep(0.5)
        assert (await status_of(gateway, log_id))["status"] == "PENDING"
        await panel.post("/_emulator/faults", json={"latency_ms": 700})
    finally:
        await admin_conn.execute(RELEASE_LEASE)

    running = await wait_status(gateway, log_id, "RUNNING")
    assert running["startedAt"] is not None
    await panel.delete("/_emulator/faults")
    done = await wait_status(gateway, log_id, "COMPLETED")
    assert done["requestedBy"] == "me"
    assert done["completedAt"] is not None
    assert done["itemsSynced"] == done["itemsTotal"] > 0

    dataset = (await panel.get("/_emulator/dataset")).json()
    expected = sorted((loc["id"], loc["short"], loc["long"]) for loc in dataset["locations"])
    rows = await admin_conn.fetch("SELECT id, short, long FROM sync.locations ORDER BY id")
    assert [tuple(r) for r in rows] == expected

    embeds = await eventually(lambda: embeds_for(discord, log_id), timeout=15)
    assert len(embeds) == 1
    assert embeds[0]["title"] == "✅ Sync completed"


async def test_unknown_sync_id_is_404_in_the_envelope(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"/api/v1/sync/status/{uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Sync log not found", "code": "NOT_FOUND"}


async def publish(stack: Stack, event: events.Event, event_id: UUID, times: int = 1) -> None:
    await publish_event(stack.config, event, event_id=event_id, times=times)


async def location_requests(panel: httpx.AsyncClient) -> int:
    stats = (await panel.get("/_emulator/stats")).json()
    return sum(
        n for path, n in stats["paths"].items() if path.endswith("/api/application/locations")
    )


async def test_same_sync_requested_twice_runs_one_sync(
    stack: Stack,
    gateway: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    log_id = uuid4()
    event = events.SyncRequested(
        sync_log_id=log_id, kind="locations", requested_at=datetime.now(UTC)
    )
    before = await location_requests(panel)
    await publish(stack, event, uuid4(), times=2)  # one event delivered twice
    await publish(stack, event, uuid4())  # and the same command under another event id
    await wait_status(gateway, str(log_id), "COMPLETED")
    await eventually(lambda: embeds_for(discord, str(log_id)), timeout=15)
    await asyncio.sleep(1.0)  # give any duplicate time to show itself
    assert await location_requests(panel) - before == 1
    assert len(await embeds_for(discord, str(log_id))) == 1
    attempts = await admin_conn.fetchval("SELECT attempts FROM sync.sync_logs WHERE id=$1", log_id)
    assert attempts == 1


async def test_sync_worker_killed_mid_flight_completes_once_after_restart(
    stack: Stack,
    gateway: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    await panel.post("/_emulator/faults", json={"latency_ms": 3000})
    response = await gateway.post("/api/v1/sync/locations", json={})
    log_id = response.json()["data"]["sync_log_id"]
    await wait_status(gateway, log_id, "RUNNING")
    stack.kill("sync")  # SIGKILL while the sync waits on the panel
    await panel.delete("/_emulator/faults")
    stack.start_service("sync")
    stack.wait_healthy(["sync"])
    done = await wait_status(gateway, log_id, "COMPLETED")
    assert done["itemsSynced"] > 0
    await eventually(lambda: embeds_for(discord, log_id), timeout=15)
    await asyncio.sleep(1.0)
    assert len(await embeds_for(discord, log_id)) == 1
    attempts = await admin_conn.fetchval(
        "SELECT attempts FROM sync.sync_logs WHERE id=$1", UUID(log_id)
    )
    assert attempts == 2  # the interrupted run, then the one that finished
