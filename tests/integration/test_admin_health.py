"""`GET /api/admin/health` and `/api/admin/stats` as an admin sees them: every
service's readiness, and the fleet (nodes online/offline, servers by state)
agreeing with what the node and server lists show, on a stack where one node
has its agent connected and another has none. A stopped service is reported
down while the route still answers 200."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from nodebyte_devstack.agent_harness import connect_agent, register_node, register_server
from nodebyte_devstack.config import SERVICES
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

STARTUP_SECONDS = 150  # a process's start on a loaded machine


async def every(gateway: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """All pages of a list."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await gateway.get(path, params={"page": page, "limit": 100})
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["data"]
        if page >= body["pagination"]["pages"]:
            return found
        page += 1


async def fleet_as_listed(gateway: httpx.AsyncClient) -> dict[str, Any]:
    nodes = await every(gateway, "/api/nodes")
    servers = await every(gateway, "/api/servers")
    online = sum(1 for node in nodes if node["isOnline"])
    return {
        "nodes": {"total": len(nodes), "online": online, "offline": len(nodes) - online},
        "states": Counter(server["state"] for server in servers),
    }


def by_state(servers: dict[str, Any]) -> Counter[str]:
    return Counter({state: n for state, n in servers["byState"].items() if n})


async def test_health_and_stats_show_each_service_and_the_fleet_as_it_is(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    connected, silent = await register_node(gateway), await register_node(gateway)
    await connect_agent(agents, stack.config.url("node-agent-gateway"), connected)
    server = await register_server(gateway, connected["id"])
    assert (await gateway.post(f"/api/servers/{server['id']}/start")).status_code == 200

    async def agrees() -> dict[str, Any] | None:
        health = await gateway.get("/api/admin/health")
        assert health.status_code == 200, health.text
        listed = await fleet_as_listed(gateway)
        data = health.json()["data"]
        running = listed["states"]["running"] >= 1
        same = data["nodes"] == listed["nodes"] and by_state(data["servers"]) == listed["states"]
        return data if same and running else None

    data = await eventually(agrees, timeout=20)
    nodes = {n["id"]: n["isOnline"] for n in await every(gateway, "/api/nodes")}
    assert (nodes[connected["id"]], nodes[silent["id"]]) == (True, False)
    assert data["nodes"]["online"] >= 1
    assert data["nodes"]["offline"] >= 1
    assert data["servers"]["total"] == sum(data["servers"]["byState"].values())
    assert {"stopped", "running", "crashed"} <= set(data["servers"]["byState"])
    assert data["status"] == "healthy"
    assert data["database"] == "connected"
    services = {s["service"]: s for s in data["services"]}
    assert set(services) == set(SERVICES)
    for name, service in services.items():
        assert service["status"] == "up", (name, service)
        assert service["checks"]["database"] is True, (name, service)

    stats = (await gateway.get("/api/admin/stats")).json()["data"]
    fleet = stats["fleet"]
    assert fleet["nodes"] == data["nodes"]
    assert stats["totalNodes"] == fleet["nodes"]["total"]
    assert stats["onlineNodes"] == fleet["nodes"]["online"]
    assert stats["totalServers"] == fleet["servers"]["total"]
    assert stats["runningServers"] == fleet["servers"]["byState"]["running"] >= 1
    assert "panel" in stats
    assert "sync" in stats


@pytest.mark.timeout(2 * STARTUP_SECONDS + 120)  # starts two more processes
async def test_a_stopped_service_is_reported_down_and_health_still_answers(
    stack: Stack,
) -> None:
    """A gateway replica whose scheduler is a replica of its own, which is then stopped."""
    scheduler = stack.start_extra_replica(
        "scheduler", {"REPLICA_ID": "scheduler-health-test"}, timeout=STARTUP_SECONDS
    )
    gateway_port = stack.start_extra_replica(
        "gateway", {"SCHEDULER_URL": f"http://127.0.0.1:{scheduler}"}, timeout=STARTUP_SECONDS
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{gateway_port}",
            headers={"X-API-Key": stack.config.admin_api_key},
            timeout=20,
        ) as replica:
            before = (await replica.get("/api/admin/health")).json()["data"]
            assert {s["service"]: s["status"] for s in before["services"]}["scheduler"] == "up"
            stack.kill(f"scheduler-replica-{scheduler}")
            response = await replica.get("/api/admin/health")
    finally:
        stack.kill(f"gateway-replica-{gateway_port}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    services = {s["service"]: s for s in data["services"]}
    assert services["scheduler"]["status"] == "down"
    assert services["scheduler"]["error"].startswith("Unreachable")
    assert all(s["status"] == "up" for name, s in services.items() if name != "scheduler")
    assert data["status"] == "degraded"
    assert data["nodes"]["total"] >= 0  # the fleet is still reported
