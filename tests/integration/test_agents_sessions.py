"""An agent's life on the node-agent-gateway: handshake, refusals, lockout, heartbeats,
silence, offline and back, replacement; nodes managed through the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from nodebyte_devstack.agent_harness import (
    EventTap,
    agent_url,
    event_tap,
    register_node,
    register_server,
    until,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

NODE_EVENTS = ["node.connected", "node.disconnected", "alert.raised", "alert.resolved"]


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    async with event_tap(stack.config.amqp_url, stack.config.prefix, NODE_EVENTS) as tap:
        yield tap


def launch(stack: Stack, started: list[SimulatedAgent], node: dict[str, Any]) -> SimulatedAgent:
    """An agent for `node`, started but not awaited (its handshake is what some tests watch)."""
    agent = SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")), node["id"], node["deploymentToken"]
    )
    agent.start()
    started.append(agent)
    return agent


async def node_of(gateway: httpx.AsyncClient, node_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/api/nodes/{node_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def handshake(stack: Stack, frame: dict[str, Any] | str, path: str = "") -> tuple:
    """Send one first frame on a fresh socket; (reply frame or None, close code)."""
    url = agent_url(stack.config.url("node-agent-gateway")) + path
    async with connect(url, compression=None) as ws:
        # Refused before it read anything, the send may fail; the reply is still there.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if reply.get("type") == "node_handshake_response":
                return reply, None
            await asyncio.wait_for(ws.recv(), 15)
        except ConnectionClosed:
            pass
        return reply, ws.close_code


async def test_an_agent_brings_its_node_online_with_live_health(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway, maxMemoryMb=32768)
    assert node["deploymentToken"].startswith("nbdt_")
    assert node["isOnline"] is False
    listed = await node_of(gateway, node["id"])
    assert "deploymentToken" not in listed
    assert "secret" not in listed

    agent = launch(stack, agents, node)
    agent.set_usage(cpu_percent=42.5, memory_used_mb=4096, disk_used_mb=2048)

    async def online_with_health() -> dict[str, Any] | None:
        data = await node_of(gateway, node["id"])
        health = data["health"]
        return data if data["isOnline"] and health and health["cpuPercent"] == 42.5 else None

    data = await eventually(online_with_health, timeout=20)
    assert data["health"]["memoryUsageMb"] == 4096
    assert data["health"]["memoryTotalMb"] == 16384
    assert data["health"]["diskUsageMb"] == 2048
    assert data["health"]["containerCount"] == 0
    assert data["agentVersion"].startswith("nodebyte-emulator")
    await tap.wait_for("node.connected", node_id=node["id"])

    async with httpx.AsyncClient() as plain:
        metrics = (await plain.get(f"{stack.config.url('node-agent-gateway')}/metrics")).text
    assert f'nodebyte_node_cpu_percent{{node_id="{node["id"]}"}} 42.5' in metrics

    listing = (await gateway.get("/api/nodes", params={"limit": 100})).json()
    assert any(n["id"] == node["id"] and n["isOnline"] for n in listing["data"])
    assert listing["pagination"]["limit"] == 100


async def test_wrong_tokens_are_refused_and_then_lock_the_node_out(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    node = await register_node(gateway)
    wrong = {"type": "node_handshake", "nodeId": node["id"], "token": "nbdt_wrong"}
    right = {**wrong, "token": node["deploymentToken"]}

    for _ in range(4):  # below the threshold (5): refused, not locked
        reply, code = await handshake(stack, wrong)
        assert (reply["code"], code) == ("INVALID_TOKEN", 4401)
    reply, code = await handshake(stack, wrong)  # the fifth locks it
    assert (reply["code"], code) == ("LOCKED", 4429)
    assert reply["retryAfterSeconds"] > 0
    # While locked even the right token is refused, without lengthening the lock.
    reply, code = await handshake(stack, right)
    assert (reply["code"], code) == ("LOCKED", 4429)

    async def accepted() -> bool:
        reply, _ = await handshake(stack, right)
        return reply.get("type") == "node_handshake_response"

    await eventually(accepted, timeout=15, interval=0.5)
    # Success cleared the count: one more wrong token is refused, not locked.
    reply, code = await handshake(stack, wrong)
    assert (reply["code"], code) == ("INVALID_TOKEN", 4401)


async def test_unknown_node_and_malformed_handshakes_are_refused(stack: Stack) -> None:
    reply, code = await handshake(
        stack,
        {
            "type": "node_handshake",
            "nodeId": "0195f3c8-0000-7000-8000-000000000000",
            "token": "nbdt_x",
        },
    )
    assert (reply["code"], code) == ("INVALID_TOKEN", 4401)
    reply, code = await handshake(stack, {"type": "heartbeat"})
    assert (reply["code"], code) == ("HANDSHAKE_REQUIRED", 4400)
    reply, code = await handshake(stack, "{not json")
    assert (reply["code"], code) == ("HANDSHAKE_REQUIRED", 4400)
    reply, code = await handshake(
        stack, {"type": "node_handshake", "nodeId": "not-a-uuid", "token": "x"}
    )
    assert (reply["code"], code) == ("INVALID_MESSAGE", 4400)


async def test_the_token_never_travels_in_the_url(stack: Stack, gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway)
    frame = {"type": "node_handshake", "nodeId": node["id"], "token": node["deploymentToken"]}
    reply, code = await handshake(stack, frame, path=f"?token={node['deploymentToken']}")
    assert (reply["code"], code) == ("TOKEN_IN_URL", 4400)


async def test_an_agent_that_never_shakes_hands_is_dropped(stack: Stack) -> None:
    url = agent_url(stack.config.url("node-agent-gateway"))
    async with connect(url, compression=None) as ws:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert reply["code"] == "HANDSHAKE_TIMEOUT"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 20)
        assert ws.close_code == 4408


async def test_a_rotated_token_replaces_the_old_one(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    node = await register_node(gateway)
    response = await gateway.post(f"/api/nodes/{node['id']}/deployment-token")
    assert response.status_code == 200, response.text
    fresh = response.json()["data"]
    assert fresh["deploymentToken"] != node["deploymentToken"]
    assert fresh["expiresAt"]
    old = {"type": "node_handshake", "nodeId": node["id"], "token": node["deploymentToken"]}
    reply, code = await handshake(stack, old)
    assert (reply["code"], code) == ("INVALID_TOKEN", 4401)
    reply, _ = await handshake(stack, {**old, "token": fresh["deploymentToken"]})
    assert reply["type"] == "node_handshake_response"
    assert reply["heartbeatIntervalSeconds"] > 0


async def test_a_silent_node_goes_offline_with_one_alert_and_comes_back(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    agent = launch(stack, agents, node)
    await asyncio.wait_for(agent.connected.wait(), 20)
    await until(lambda: tap.of("node.connected", node_id=node["id"]))

    agent.go_silent()  # the socket stays open (pings answered), the agent says nothing
    down = await tap.wait_for("node.disconnected", timeout=30, node_id=node["id"])
    assert down["reason"] == "heartbeat timeout"
    assert (await node_of(gateway, node["id"]))["isOnline"] is False
    raised = await tap.wait_for("alert.raised", timeout=30, node_id=node["id"])
    assert raised["rule_type"] == "node_offline"

    agent.speak_again()  # the server closed the silent socket; the agent reconnects
    await until(lambda: len(tap.of("node.connected", node_id=node["id"])) == 2, timeout=30)
    assert (await node_of(gateway, node["id"]))["isOnline"] is True
    resolved = await tap.wait_for("alert.resolved", alert_id=raised["alert_id"])
    assert resolved["resolved_by"] == "system"
    alerts = (await gateway.get("/api/alerts", params={"nodeId": node["id"]})).json()["data"]
    assert [(a["type"], a["resolved"]) for a in alerts] == [("node_offline", True)]
    assert agent.record.closes[0][0] == 4410


async def test_a_closed_connection_takes_the_node_offline_at_once(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    agent = launch(stack, agents, node)
    await asyncio.wait_for(agent.connected.wait(), 20)
    await agent.stop()
    down = await tap.wait_for("node.disconnected", node_id=node["id"])
    assert down["reason"] == "connection closed"
    assert (await node_of(gateway, node["id"]))["isOnline"] is False


async def test_a_new_connection_for_the_node_replaces_the_old_one(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    first = launch(stack, agents, node)
    await asyncio.wait_for(first.connected.wait(), 20)
    first.reconnect_base = 60.0  # keep the replaced agent from coming back during the test
    second = launch(stack, agents, node)
    await asyncio.wait_for(second.connected.wait(), 20)
    await until(lambda: first.record.closes)
    assert first.record.closes[0][0] == 4409
    assert (await node_of(gateway, node["id"]))["isOnline"] is True


async def test_frames_that_are_invalid_or_about_other_nodes_are_refused(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    mine, other = await register_node(gateway), await register_node(gateway)
    theirs = await register_server(gateway, other["id"])
    agent = launch(stack, agents, mine)
    await asyncio.wait_for(agent.connected.wait(), 20)
    await agent.send_raw("{not json")
    await agent.send_raw({"type": "self_destruct"})
    await agent.send_raw({"type": "console_output", "serverId": theirs["id"], "data": "x"})
    await agent.send_raw(
        {"type": "server_state_update", "serverId": theirs["id"], "state": "running"}
    )
    await agent.send_raw(
        {
            "type": "health_report",
            "cpuPercent": -5,
            "memoryUsageMb": 1,
            "memoryTotalMb": 1,
            "diskUsageMb": 1,
            "diskTotalMb": 1,
        }
    )
    await agent.send_raw(
        {
            "type": "resource_stats",
            "serverId": theirs["id"],
            "serverUuid": mine["id"],
            "cpu": 1,
            "memoryMb": 1,
        }
    )

    codes = await until(
        lambda: [e["code"] for e in agent.record.errors] if len(agent.record.errors) >= 6 else None
    )
    assert codes == [
        "INVALID_MESSAGE",
        "INVALID_MESSAGE",
        "UNKNOWN_SERVER",
        "UNKNOWN_SERVER",
        "INVALID_MESSAGE",
        "INVALID_MESSAGE",
    ]
    assert agent.connected.is_set()  # refused frames do not cost the connection
    logs = (await gateway.get(f"/api/servers/{theirs['id']}/logs")).json()["data"]
    assert logs == []
    assert (await gateway.get(f"/api/servers/{theirs['id']}")).json()["data"]["state"] == "stopped"


async def test_a_flooding_agent_is_rate_limited(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = launch(stack, agents, node)
    await asyncio.wait_for(agent.connected.wait(), 20)
    frame = json.dumps({"type": "console_output", "serverId": server["id"], "data": "spam"})
    for _ in range(400):
        await agent.send_raw(frame)
    await until(lambda: any(e["code"] == "RATE_LIMITED" for e in agent.record.errors))

    async def stored() -> int:
        response = await gateway.get(f"/api/servers/{server['id']}/logs", params={"limit": 1000})
        return len(response.json()["data"])

    await eventually(stored)
    assert await stored() < 400


async def test_node_crud_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway, description="first")
    response = await gateway.put(
        f"/api/nodes/{node['id']}", json={"description": "second", "maxCpuCores": 64}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["description"] == "second"
    assert response.json()["data"]["maxCpuCores"] == 64

    duplicate = await gateway.post(
        "/api/nodes",
        json={"name": node["name"], "hostname": "h", "maxMemoryMb": 1, "maxCpuCores": 1},
    )
    assert duplicate.status_code == 409

    server = await register_server(gateway, node["id"])
    refused = await gateway.delete(f"/api/nodes/{node['id']}")
    assert refused.status_code == 400
    assert refused.json()["code"] == "NODE_HAS_SERVERS"
    assert (await gateway.delete(f"/api/servers/{server['id']}")).status_code == 200
    assert (await gateway.delete(f"/api/nodes/{node['id']}")).status_code == 200
    assert (await gateway.get(f"/api/nodes/{node['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "hostname": "h"}, 400),
        ({"name": "x", "hostname": "h", "maxMemoryMb": 0, "maxCpuCores": 1}, 400),
        ({"name": "x", "hostname": "h", "maxMemoryMb": 1, "maxCpuCores": 1, "secret": "s"}, 400),
        ({"name": "x", "hostname": "bad host", "maxMemoryMb": 1, "maxCpuCores": 1}, 400),
        ([1, 2], 400),
        ("not json", 400),
    ],
    ids=["missing", "zero memory", "unknown field", "bad hostname", "array", "not json"],
)
async def test_bad_node_bodies_are_refused(
    gateway: httpx.AsyncClient, body: Any, status: int
) -> None:
    before = (await gateway.get("/api/nodes", params={"limit": 1})).json()["pagination"]["total"]
    if body == "not json":
        response = await gateway.post(
            "/api/nodes", content=b"{nope", headers={"Content-Type": "application/json"}
        )
    else:
        response = await gateway.post("/api/nodes", json=body)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    assert "Traceback" not in response.text
    after = (await gateway.get("/api/nodes", params={"limit": 1})).json()["pagination"]["total"]
    assert after == before


async def test_node_routes_need_a_key(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as anonymous:
        for method, path in [
            ("GET", "/api/nodes"),
            ("POST", "/api/nodes"),
            ("GET", "/api/alerts"),
            ("GET", "/api/servers"),
        ]:
            response = await anonymous.request(method, path, json={})
            assert response.status_code == 401, (path, response.text)
