"""What a deleted server leaves behind (nothing: its scheduled tasks go too), and
servers stranded on a node whose agent is gone: stopped (recorded) and deleted."""

from __future__ import annotations

from typing import Any

import httpx

from nodebyte_devstack.agent_harness import (
    connect_agent,
    register_node,
    register_server,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent


async def tasks_of(gateway: httpx.AsyncClient, server_id: str) -> list[dict[str, Any]]:
    response = await gateway.get("/api/tasks", params={"serverId": server_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def add_task(gateway: httpx.AsyncClient, server_id: str) -> dict[str, Any]:
    body = {"serverId": server_id, "name": "Nightly", "action": "restart", "schedule": "0 3 * * *"}
    response = await gateway.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def server_state(gateway: httpx.AsyncClient, server_id: str) -> str:
    response = await gateway.get(f"/api/servers/{server_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["state"])


async def test_deleting_a_server_removes_its_tasks(gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway)
    doomed = await register_server(gateway, node["id"])
    kept = await register_server(gateway, node["id"])
    await add_task(gateway, doomed["id"])
    await add_task(gateway, doomed["id"])
    survivor = await add_task(gateway, kept["id"])

    response = await gateway.delete(f"/api/servers/{doomed['id']}")
    assert response.status_code == 200, response.text

    async def gone() -> bool:
        return await tasks_of(gateway, doomed["id"]) == []

    await eventually(gone, timeout=20)
    assert [t["id"] for t in await tasks_of(gateway, kept["id"])] == [survivor["id"]]


async def test_servers_on_a_node_that_is_gone_can_be_stopped_and_deleted(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    first = await register_server(gateway, node["id"])
    second = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    for server in (first, second):
        response = await gateway.post(f"/api/servers/{server['id']}/start", json={})
        assert response.status_code == 200, response.text
        await wait_state(gateway, server["id"], "running")

    refused = await gateway.delete(f"/api/servers/{first['id']}")
    assert refused.status_code == 409  # its agent is there to stop it first

    await agent.stop()

    async def offline() -> bool:
        data = (await gateway.get(f"/api/nodes/{node['id']}")).json()["data"]
        return data["isOnline"] is False

    await eventually(offline, timeout=20)
    assert await server_state(gateway, first["id"]) == "running"  # as last recorded

    stopped = await gateway.post(f"/api/servers/{first['id']}/stop", json={})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["data"] == {
        "serverId": first["id"],
        "action": "stop",
        "status": "stopped",
    }
    assert await server_state(gateway, first["id"]) == "stopped"
    again = await gateway.post(f"/api/servers/{first['id']}/stop", json={})
    assert again.status_code == 409

    deleted = await gateway.delete(f"/api/servers/{second['id']}")
    assert deleted.status_code == 200, deleted.text
    assert (await gateway.get(f"/api/servers/{second['id']}")).status_code == 404

    for server_id, actions in (
        (first["id"], ["server.create", "server.start", "server.stop"]),
        (second["id"], ["server.create", "server.delete", "server.start"]),
    ):
        response = await gateway.get(
            "/api/admin/audit-logs", params={"targetId": server_id, "outcome": "accepted"}
        )
        found = sorted(entry["action"] for entry in response.json()["data"])
        assert found == actions
