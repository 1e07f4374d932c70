"""The gateway's machine-readable docs and the live sync progress stream."""

from __future__ import annotations

import json
import time

import httpx

from nodebyte_devstack.processes import Stack


async def test_asyncapi_describes_the_catalogue(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as client:
        doc = (await client.get("/asyncapi")).json()
    assert doc["asyncapi"] == "3.0.0"
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert {"sync.requested", "sync.completed", "sync.progress"} <= names


async def test_openapi_and_docs_are_served(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as client:
        schema = (await client.get("/schema/openapi.json")).json()
        assert "/api/v1/sync/status/{log_id}" in schema["paths"]
        for page in ("/schema/swagger", "/schema/redoc"):
            assert (await client.get(page)).status_code == 200


async def read_stream(client: httpx.AsyncClient, path: str) -> list[tuple[str, dict]]:
    received: list[tuple[str, dict]] = []
    async with client.stream("GET", path, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                received.append((event, json.loads(line.split(":", 1)[1])))
                if event in ("done", "error"):
                    break
    return received


async def test_sync_progress_streams_until_done(
    gateway: httpx.AsyncClient, panel: httpx.AsyncClient
) -> None:
    await panel.post("/_emulator/faults", json={"latency_ms": 150})
    response = await gateway.post("/api/v1/sync/full", json={"requested_by": "stream"})
    log_id = response.json()["data"]["sync_log_id"]
    received = await read_stream(gateway, f"/api/admin/sync/stream/{log_id}")
    kinds = [event for event, _ in received]
    assert kinds[0] == "connected"
    assert kinds[-1] == "done"
    assert "update" in kinds
    updates = [data for event, data in received if event == "update"]
    percentages = [u["percentage"] for u in updates]
    assert all(0 <= p <= 100 for p in percentages)
    # A finished sync's stream opens and closes at once with its outcome.
    again = await read_stream(gateway, f"/api/admin/sync/stream/{log_id}")
    assert [event for event, _ in again] == ["connected", "done"]


async def test_stream_of_an_unknown_sync_is_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/admin/sync/stream/0195f3c8-0000-7000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_a_stream_outlives_the_request_time_limit(
    stack: Stack, gateway: httpx.AsyncClient, panel: httpx.AsyncClient
) -> None:
    """The limit is for starting an answer: a sync's stream runs as long as the sync."""
    port = stack.start_extra_replica("gateway", {"REQUEST_TIMEOUT_SECONDS": "1"})
    try:
        await panel.post("/_emulator/faults", json={"latency_ms": 1000})
        response = await gateway.post("/api/v1/sync/full", json={"requested_by": "long stream"})
        log_id = response.json()["data"]["sync_log_id"]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": stack.config.admin_api_key}
        ) as replica:
            started = time.monotonic()
            received = await read_stream(replica, f"/api/admin/sync/stream/{log_id}")
            lasted = time.monotonic() - started
        assert lasted > 1.5, "the sync ended too soon to show anything"
        assert [event for event, _ in received][-1] == "done"
    finally:
        await panel.delete("/_emulator/faults")
        stack.kill(f"gateway-replica-{port}")
