"""Following a server live through the gateway (WebSocket and SSE), console input,
past console lines, and usage charts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.agent_harness import agent_url, register_node, register_server, until
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent


@pytest.fixture
async def world(
    stack: Stack, gateway: httpx.AsyncClient
) -> AsyncIterator[tuple[SimulatedAgent, dict[str, Any]]]:
    """A connected agent and one server on its node."""
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")), node["id"], node["deploymentToken"]
    )
    agent.start()
    await asyncio.wait_for(agent.connected.wait(), 20)
    yield agent, server
    await agent.stop()


def client_url(stack: Stack) -> str:
    return "ws" + stack.config.url("gateway").removeprefix("http") + "/ws"


async def next_frame(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if kind is None or frame["type"] == kind:
            return frame


async def test_a_subscriber_receives_console_lines_in_order(
    stack: Stack, gateway: httpx.AsyncClient, world: tuple[SimulatedAgent, dict[str, Any]]
) -> None:
    agent, server = world
    sid = server["id"]
    headers = {"X-API-Key": stack.config.admin_api_key}
    async with connect(client_url(stack), additional_headers=headers) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "serverId": sid,
                    "events": ["server_log", "server_state_update"],
                }
            )
        )
        subscribed = await next_frame(ws)
        assert subscribed == {
            "type": "subscribed",
            "serverId": sid,
            "events": ["server_log", "server_state_update"],
        }

        lines = [f"line {n:03d}" for n in range(60)]
        await agent.print_lines(sid, lines)
        received = [(await next_frame(ws, "server_log"))["data"] for _ in lines]
        assert received == [f"{line}\n" for line in lines]

        response = await gateway.post(f"/api/servers/{sid}/start")
        assert response.status_code == 200
        changes = [await next_frame(ws, "server_state_update") for _ in range(2)]
        assert [(c["previousState"], c["state"]) for c in changes] == [
            ("stopped", "starting"),
            ("starting", "running"),
        ]

        await ws.send(json.dumps({"type": "unsubscribe", "serverId": sid}))
        assert (await next_frame(ws, "unsubscribed"))["serverId"] == sid
        await agent.print_lines(sid, ["after unsubscribe"])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(next_frame(ws, "server_log"), 1.5)


async def test_console_input_over_the_socket_reaches_the_agent(
    stack: Stack,
    gateway: httpx.AsyncClient,
    world: tuple[SimulatedAgent, dict[str, Any]],
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    agent, server = world
    sid = server["id"]
    await gateway.post(f"/api/servers/{sid}/start")
    await until(lambda: agent.runtime.container(sid).state == "running")
    # A browser opens the socket with a single-use ticket, never a key in the URL.
    user = await user_factory(roles=["SUPER_ADMIN"])
    issued = await gateway.post("/api/v1/ws-ticket", headers=user.headers)
    assert issued.status_code == 201, issued.text
    async with connect(client_url(stack) + f"?ticket={issued.json()['data']['ticket']}") as ws:
        await ws.send(json.dumps({"type": "subscribe", "serverId": sid}))
        assert (await next_frame(ws))["type"] == "subscribed"
        await ws.send(
            json.dumps(
                {"type": "console_input", "serverId": sid, "data": "say Hello from frontend!\n"}
            )
        )
        accepted = await next_frame(ws, "console_input_accepted")
        assert accepted["serverId"] == sid
        echoed = await next_frame(ws, "server_log")
        assert echoed["data"] == "> say Hello from frontend!\n"
    # typed input reaches the server's stdin as typed (test_browser_console.py)
    assert agent.frames("console_input")[0]["data"] == "say Hello from frontend!\n"


async def test_the_socket_refuses_strangers_and_bad_frames(
    stack: Stack, world: tuple[SimulatedAgent, dict[str, Any]]
) -> None:
    async with connect(client_url(stack)) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 4401
    headers = {"X-API-Key": stack.config.admin_api_key}
    async with connect(client_url(stack), additional_headers=headers) as ws:
        await ws.send("{not json")
        assert (await next_frame(ws))["code"] == "INVALID_MESSAGE"
        await ws.send(
            json.dumps({"type": "subscribe", "serverId": "0195f3c8-0000-7000-8000-000000000000"})
        )
        assert (await next_frame(ws))["code"] == "NOT_FOUND"
        await ws.send(json.dumps({"type": "console_input", "serverId": "nope", "data": "x"}))
        assert (await next_frame(ws))["code"] == "VALIDATION_ERROR"
        _, server = world
        await ws.send(
            json.dumps({"type": "console_input", "serverId": server["id"], "data": "say hi"})
        )
        refused = await next_frame(ws)
        assert (refused["type"], refused["code"]) == ("error", "CONFLICT")  # not running


async def test_past_console_lines_are_kept_and_filtered(
    gateway: httpx.AsyncClient, world: tuple[SimulatedAgent, dict[str, Any]]
) -> None:
    agent, server = world
    sid = server["id"]
    await agent.print_lines(sid, [f"out {n}" for n in range(5)])
    await agent.print_lines(sid, ["oops"], stream="stderr")

    async def stored() -> list[dict[str, Any]] | None:
        data = (await gateway.get(f"/api/servers/{sid}/logs")).json()["data"]
        return data if len(data) == 6 else None

    lines = await eventually(stored)
    assert [line["data"] for line in lines] == [*(f"out {n}\n" for n in range(5)), "oops\n"]
    errors = (await gateway.get(f"/api/servers/{sid}/logs", params={"stream": "stderr"})).json()
    assert [line["data"] for line in errors["data"]] == ["oops\n"]
    last_two = (await gateway.get(f"/api/servers/{sid}/logs", params={"limit": 2})).json()
    assert [line["data"] for line in last_two["data"]] == ["out 4\n", "oops\n"]
    before = lines[2]["timestamp"]
    older = (await gateway.get(f"/api/servers/{sid}/logs", params={"before": before})).json()
    assert [line["data"] for line in older["data"]] == ["out 0\n", "out 1\n"]
    bad = await gateway.get(f"/api/servers/{sid}/logs", params={"limit": 5000})
    assert bad.status_code == 400


async def test_server_sent_events_carry_the_same_feed(
    stack: Stack, gateway: httpx.AsyncClient, world: tuple[SimulatedAgent, dict[str, Any]]
) -> None:
    agent, server = world
    sid = server["id"]
    async with gateway.stream(
        "GET", f"/api/servers/{sid}/stream", params={"events": "server_log"}, timeout=20
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await agent.print_lines(sid, ["via sse"])
        seen: list[str] = []
        async for line in response.aiter_lines():
            seen.append(line)
            if line.startswith("data:"):
                break
    assert "event: server_log" in seen
    assert json.loads(seen[-1].removeprefix("data:").strip())["data"] == "via sse\n"
    missing = await gateway.get("/api/servers/0195f3c8-0000-7000-8000-000000000000/stream")
    assert missing.status_code == 404


async def test_usage_is_charted_from_health_reports(
    gateway: httpx.AsyncClient, world: tuple[SimulatedAgent, dict[str, Any]]
) -> None:
    agent, server = world
    node_id = agent.node_id
    agent.set_usage(cpu_percent=30.0)

    async def charted() -> dict[str, Any] | None:
        data = (await gateway.get(f"/api/nodes/{node_id}/usage/daily")).json()["data"]
        return data if data["points"] and data["points"][-1]["cpu"]["max"] == 30.0 else None

    chart = await eventually(charted, timeout=30)
    assert chart["resolution"] == "hour"
    point = chart["points"][-1]
    assert point["samples"] >= 2  # the report at connection (12 %) and a later one (30 %)
    assert 12.0 < point["cpu"]["avg"] < 30.0
    assert point["memory"]["avg"] == pytest.approx(12.5)  # 2048 of 16384 MB
    assert chart["summary"]["cpu"]["max"] == 30.0
    weekly = (await gateway.get(f"/api/nodes/{node_id}/usage/weekly")).json()["data"]
    assert weekly["resolution"] == "day"
    bad = await gateway.get(f"/api/nodes/{node_id}/usage/yearly")
    assert bad.status_code == 400
    server_chart = await gateway.get(f"/api/servers/{server['id']}/usage/monthly")
    assert server_chart.status_code == 200
    assert server_chart.json()["data"]["units"]["memory"] == "mb"
