"""An agent's socket is read ahead of its frames' handling: while one frame waits on a
slow store its pings are answered and commands still reach it; afterwards every frame
read meanwhile is applied, in the order sent, and its command acknowledged."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from nodebyte_devstack.agent_harness import (
    EventTap,
    agent_url,
    event_tap,
    register_node,
    register_server,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

EVENTS = ["server.state_changed", "server.command_acknowledged", "server.command_failed"]
PONG_WITHIN = 2.0  # seconds; the stuck frame is held far longer


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    async with event_tap(stack.config.amqp_url, stack.config.prefix, EVENTS) as tap:
        yield tap


@pytest.fixture
async def socket_of(stack: Stack) -> AsyncIterator[Any]:
    """Raw agent sockets (handshake done), closed after the test."""
    opened: list[ClientConnection] = []

    async def open_for(node: dict[str, Any]) -> ClientConnection:
        url = agent_url(stack.config.url("node-agent-gateway"))
        ws = await connect(url, compression=None, ping_interval=None)
        opened.append(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "node_handshake",
                    "nodeId": node["id"],
                    "token": node["deploymentToken"],
                    "features": ["command_ack"],
                }
            )
        )
        reply = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert reply["type"] == "node_handshake_response", reply
        return ws

    yield open_for
    for ws in opened:
        await ws.close()


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


async def pong_seconds(ws: ClientConnection) -> float:
    started = time.perf_counter()
    await asyncio.wait_for(await ws.ping(), PONG_WITHIN)
    return time.perf_counter() - started


async def stored_lines(gateway: httpx.AsyncClient, server_id: str) -> list[str]:
    response = await gateway.get(f"/api/servers/{server_id}/logs", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [line["data"] for line in response.json()["data"]]


async def test_a_frame_stuck_on_the_store_holds_back_neither_pings_nor_commands(
    stack: Stack,
    gateway: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    tap: EventTap,
    socket_of: Any,
) -> None:
    node = await register_node(gateway)
    stuck = await register_server(gateway, node["id"])
    other = await register_server(gateway, node["id"], primaryPort=25566)
    ws = await socket_of(node)
    lines = [f"line {n:02d}" for n in range(30)]

    async with admin_conn.transaction():
        # The store is slow for `stuck`: its state change waits on this row lock.
        await admin_conn.execute(
            "SELECT 1 FROM agents.servers WHERE id = $1 FOR UPDATE", UUID(stuck["id"])
        )
        await ws.send(frame("server_state_update", serverId=stuck["id"], state="starting"))
        for line in lines:
            await ws.send(frame("console_output", serverId=other["id"], data=line))
        assert await pong_seconds(ws) < PONG_WITHIN

        response = await gateway.post(f"/api/servers/{other['id']}/start")
        assert response.status_code == 200, response.text
        request_id = response.json()["data"]["requestId"]
        command = json.loads(await asyncio.wait_for(ws.recv(), 3))
        assert (command["type"], command["requestId"]) == ("start_server", request_id)
        await ws.send(frame("command_ack", requestId=request_id))
        assert await pong_seconds(ws) < PONG_WITHIN

        # In order: nothing sent after the stuck frame is applied before it.
        await asyncio.sleep(1.0)
        assert await stored_lines(gateway, other["id"]) == []
        assert tap.of("server.state_changed", server_id=stuck["id"]) == []
        assert tap.of("server.command_acknowledged", request_id=request_id) == []

    changed = await tap.wait_for("server.state_changed", server_id=stuck["id"])
    assert (changed["previous_state"], changed["state"]) == ("stopped", "starting")
    acked = await tap.wait_for("server.command_acknowledged", request_id=request_id)
    assert acked["acknowledged_by"] == "agent"

    async def all_stored() -> list[str] | None:
        stored = await stored_lines(gateway, other["id"])
        return stored if len(stored) >= len(lines) else None

    assert await eventually(all_stored) == lines
    assert tap.of("server.command_failed", request_id=request_id) == []


async def test_a_burst_of_stats_still_leaves_commands_acknowledged_promptly(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, socket_of: Any
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    ws = await socket_of(node)
    stats = frame("resource_stats", serverId=server["id"], cpu=5, memoryMb=64)

    response = await gateway.post(f"/api/servers/{server['id']}/start")
    assert response.status_code == 200, response.text
    request_id = response.json()["data"]["requestId"]
    command = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert command["requestId"] == request_id
    for _ in range(90):  # within the server's burst: every one is applied
        await ws.send(stats)
    sent = time.perf_counter()
    await ws.send(frame("command_ack", requestId=request_id))
    assert await pong_seconds(ws) < PONG_WITHIN
    await tap.wait_for("server.command_acknowledged", timeout=5, request_id=request_id)
    assert time.perf_counter() - sent < 5
    errors = []
    while True:  # no frame was refused or throttled
        try:
            errors.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
        except TimeoutError:
            break
    assert errors == []
