"""Allocations and IPAM: a node's IP pool and port ranges, servers' ip:port allocations
with one primary, the agent told its bindings, no allocation ever given twice (also
under concurrent requests through two gateways on two node-agent-gateways), and
`move_allocations` for transfers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from nodebyte_devstack.agent_harness import (
    connect_agent,
    register_node,
    register_server,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent
from nodebyte_node_agent_gateway import allocations

STARTUP_SECONDS = 180.0  # a busy shared machine starts processes slowly
POOL = {"addresses": ["10.20.0.8/30"], "portRanges": [{"start": 25565, "end": 25567}]}


async def pooled_node(gateway: httpx.AsyncClient, pool: dict[str, Any] = POOL) -> dict[str, Any]:
    node = await register_node(gateway)
    response = await gateway.put(f"/api/nodes/{node['id']}/ip-pool", json=pool)
    assert response.status_code == 200, response.text
    return node


async def new_server(gateway: httpx.AsyncClient, node_id: str, **fields: Any) -> dict[str, Any]:
    return await register_server(gateway, node_id, primaryPort=None, **fields)


async def allocations_of(gateway: httpx.AsyncClient, server_id: str) -> list[dict[str, Any]]:
    response = await gateway.get(f"/api/servers/{server_id}/allocations")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def audit_outcomes(gateway: httpx.AsyncClient, action: str, server_id: str) -> list[str]:
    response = await gateway.get(
        "/api/admin/audit-logs", params={"action": action, "targetId": server_id}
    )
    assert response.status_code == 200, response.text
    return [entry["outcome"] for entry in response.json()["data"]]


async def test_a_node_pool_gives_servers_distinct_primary_allocations(
    gateway: httpx.AsyncClient,
) -> None:
    node = await pooled_node(gateway)
    pool = (await gateway.get(f"/api/nodes/{node['id']}/ip-pool")).json()["data"]
    # a /30 holds two hosts; three ports each
    assert pool["addresses"] == ["10.20.0.9", "10.20.0.10"]
    assert pool["capacity"] == 6
    servers = [await new_server(gateway, node["id"]) for _ in range(3)]
    primaries = [(await allocations_of(gateway, s["id"]))[0] for s in servers]
    assert [(a["ip"], a["port"], a["isPrimary"]) for a in primaries] == [
        ("10.20.0.9", 25565, True),
        ("10.20.0.10", 25565, True),
        ("10.20.0.9", 25566, True),
    ]
    # primaryPort is the primary allocation's port
    assert [s["primaryPort"] for s in servers] == [25565, 25565, 25566]
    pool = (await gateway.get(f"/api/nodes/{node['id']}/ip-pool")).json()["data"]
    assert pool["allocated"] == 3


async def test_allocations_add_promote_and_delete(gateway: httpx.AsyncClient) -> None:
    node = await pooled_node(gateway)
    server = await new_server(gateway, node["id"])
    sid = server["id"]
    second = await gateway.post(f"/api/servers/{sid}/allocations", json={"containerPort": 27015})
    assert second.status_code == 200, second.text
    extra = second.json()["data"]
    assert (extra["ip"], extra["port"], extra["containerPort"]) == ("10.20.0.10", 25565, 27015)
    assert extra["isPrimary"] is False

    taken = await gateway.post(
        f"/api/servers/{sid}/allocations", json={"ip": "10.20.0.10", "port": 25565}
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "ALLOCATION_TAKEN"
    outside = await gateway.post(f"/api/servers/{sid}/allocations", json={"port": 30000})
    assert outside.status_code == 400
    assert outside.json()["code"] == "NOT_IN_POOL"

    primary = (await allocations_of(gateway, sid))[0]
    refused = await gateway.delete(f"/api/servers/{sid}/allocations/{primary['id']}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "PRIMARY_ALLOCATION"

    promoted = await gateway.post(f"/api/servers/{sid}/allocations/{extra['id']}/primary")
    assert promoted.status_code == 200, promoted.text
    listed = await allocations_of(gateway, sid)
    assert [(a["id"], a["isPrimary"]) for a in listed] == [
        (extra["id"], True),
        (primary["id"], False),
    ]
    assert (await gateway.get(f"/api/servers/{sid}")).json()["data"]["primaryPort"] == 25565

    gone = await gateway.delete(f"/api/servers/{sid}/allocations/{primary['id']}")
    assert gone.status_code == 200, gone.text
    assert [a["id"] for a in await allocations_of(gateway, sid)] == [extra["id"]]
    # the released ip:port is free again for another server
    other = await new_server(gateway, node["id"])
    assert (await allocations_of(gateway, other["id"]))[0]["ip"] == primary["ip"]

    assert await audit_outcomes(gateway, "server.allocation.create", sid) == [
        "refused",
        "refused",
        "accepted",
    ]
    assert await audit_outcomes(gateway, "server.allocation.delete", sid) == [
        "accepted",
        "refused",
    ]
    assert await audit_outcomes(gateway, "server.allocation.primary", sid) == ["accepted"]


async def test_bad_input_and_a_full_pool(gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway)
    for pool in (
        {"addresses": ["10.0.0.300"], "portRanges": []},
        {"addresses": ["10.0.0.0/8"], "portRanges": []},
        {"addresses": [], "portRanges": [{"start": 10, "end": 5}]},
        {"addresses": [], "portRanges": [{"start": 1, "end": 10}, {"start": 5, "end": 20}]},
        {"addresses": [], "portRanges": [{"start": 0, "end": 10}]},
    ):
        bad = await gateway.put(f"/api/nodes/{node['id']}/ip-pool", json=pool)
        assert bad.status_code == 400, (pool, bad.text)
        assert bad.json()["success"] is False
    small = {"addresses": ["10.30.0.1"], "portRanges": [{"start": 2000, "end": 2001}]}
    assert (await gateway.put(f"/api/nodes/{node['id']}/ip-pool", json=small)).status_code == 200
    server = await new_server(gateway, node["id"])
    assert (await gateway.post(f"/api/servers/{server['id']}/allocations")).status_code == 200
    full = await gateway.post(f"/api/servers/{server['id']}/allocations")
    assert full.status_code == 409
    assert full.json()["code"] == "NO_FREE_ALLOCATION"
    # primaryPort through PUT /api/servers/{id}: one of its allocations, or refused
    moved = await gateway.put(f"/api/servers/{server['id']}", json={"primaryPort": 2001})
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["primaryPort"] == 2001
    primary = (await allocations_of(gateway, server["id"]))[0]
    assert (primary["port"], primary["isPrimary"]) == (2001, True)
    elsewhere = await gateway.put(f"/api/servers/{server['id']}", json={"primaryPort": 2005})
    assert elsewhere.status_code == 409
    assert elsewhere.json()["code"] == "NOT_ALLOCATED"
    no_room = await gateway.post(
        "/api/servers",
        json={
            "name": "no-room",
            "nodeId": node["id"],
            "dockerImage": "img",
            "allocatedMemoryMb": 64,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 64,
        },
    )
    assert no_room.status_code == 409
    listed = (await gateway.get("/api/servers", params={"nodeId": node["id"]})).json()["data"]
    assert [s["id"] for s in listed] == [server["id"]]  # the refused server was not kept


async def test_a_node_without_a_pool_keeps_ports_apart(gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"], primaryPort=25565)
    assert [(a["ip"], a["port"]) for a in await allocations_of(gateway, server["id"])] == [
        ("0.0.0.0", 25565)
    ]
    clash = await gateway.post(
        "/api/servers",
        json={
            "name": "clash",
            "nodeId": node["id"],
            "dockerImage": "img",
            "allocatedMemoryMb": 64,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 64,
            "primaryPort": 25565,
        },
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "ALLOCATION_TAKEN"


# --- the agent is told its bindings ---------------------------------------------


async def test_the_agent_is_given_the_new_second_port(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await pooled_node(gateway)
    server = await new_server(gateway, node["id"])  # before the agent connects: it knows it
    sid = server["id"]
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    second = await gateway.post(f"/api/servers/{sid}/allocations", json={"containerPort": 25575})
    assert second.status_code == 200, second.text

    assert (await gateway.post(f"/api/servers/{sid}/start")).status_code == 200
    await wait_state(gateway, sid, "running")
    start = agent.frames("start_server")[-1]
    assert start["portBindings"] == {"25565": 25565, "25575": 25565}
    container = agent.runtime.containers[sid]
    assert container.bindings == ["10.20.0.9:25565->25565", "10.20.0.10:25565->25575"]

    # what the agent published is what the user reads in the server's console
    async def published() -> bool | None:
        logs = (await gateway.get(f"/api/servers/{sid}/logs")).json()["data"]
        lines = {line["data"].strip() for line in logs if line["stream"] == "system"}
        return True if "Publishing 10.20.0.10:25565->25575/tcp" in lines else None

    await eventually(published, timeout=20)

    # a running server keeps its bindings: no change until it stops
    busy = await gateway.post(f"/api/servers/{sid}/allocations")
    assert busy.status_code == 409


# --- concurrency: two gateways, two node-agent-gateways ------------------------


@pytest.fixture(scope="module")
def second_path(stack: Stack) -> Iterator[str]:
    """A second gateway replica talking to a second node-agent-gateway replica."""
    env = {"REPLICA_ID": "alloc-b"}
    agents_port = stack.start_extra_replica("node-agent-gateway", env, STARTUP_SECONDS)
    env = {"NODE_AGENT_GATEWAY_URL": f"http://127.0.0.1:{agents_port}"}
    gateway_port = stack.start_extra_replica("gateway", env, STARTUP_SECONDS)
    yield f"http://127.0.0.1:{gateway_port}"
    stack.kill(f"gateway-replica-{gateway_port}")
    stack.kill(f"node-agent-gateway-replica-{agents_port}")


@pytest.mark.timeout(600)  # starting the replicas on a busy machine
async def test_concurrent_allocations_on_two_replicas_never_collide(
    stack: Stack, gateway: httpx.AsyncClient, second_path: str
) -> None:
    pool = {"addresses": ["10.40.0.1", "10.40.0.2"], "portRanges": [{"start": 3000, "end": 3011}]}
    node = await pooled_node(gateway, pool)  # 24 allocations in all
    servers = [await new_server(gateway, node["id"]) for _ in range(4)]  # 4 primaries
    headers = {"X-API-Key": stack.config.admin_api_key}
    async with httpx.AsyncClient(base_url=second_path, headers=headers, timeout=30) as other:
        clients = [gateway, other]
        asks = [
            clients[n % 2].post(f"/api/servers/{servers[n % 4]['id']}/allocations")
            for n in range(30)  # more than the 20 left
        ]
        answers = await asyncio.gather(*asks)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 20 + [409] * 10, [a.text for a in answers if a.status_code >= 500]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"NO_FREE_ALLOCATION"}
    held = [a for s in servers for a in await allocations_of(gateway, s["id"])]
    addresses = [(a["ip"], a["port"]) for a in held]
    assert len(addresses) == 24
    assert len(set(addresses)) == 24  # nobody got an allocation twice


@pytest.mark.timeout(600)  # starting the replicas on a busy machine
async def test_concurrent_server_creation_takes_distinct_primaries(
    stack: Stack, gateway: httpx.AsyncClient, second_path: str
) -> None:
    pool = {"addresses": ["10.50.0.1"], "portRanges": [{"start": 4000, "end": 4009}]}
    node = await pooled_node(gateway, pool)
    headers = {"X-API-Key": stack.config.admin_api_key}
    async with httpx.AsyncClient(base_url=second_path, headers=headers, timeout=30) as other:
        made = await asyncio.gather(
            *(new_server((gateway, other)[n % 2], node["id"]) for n in range(10))
        )
    assert sorted(s["primaryPort"] for s in made) == list(range(4000, 4010))


# --- moving a server's allocations (transfers) ---------------------------------


@pytest.fixture
async def agents_conn(admin_conn: asyncpg.Connection) -> asyncpg.Connection:
    await admin_conn.execute("SET search_path TO agents")
    return admin_conn


async def test_move_allocations_reallocates_on_the_target_all_or_nothing(
    gateway: httpx.AsyncClient, agents_conn: asyncpg.Connection
) -> None:
    source = await pooled_node(gateway)
    target = await pooled_node(
        gateway, {"addresses": ["10.60.0.1"], "portRanges": [{"start": 25566, "end": 25567}]}
    )
    server = await new_server(gateway, source["id"])  # 10.20.0.9:25565
    sid = server["id"]
    await gateway.post(f"/api/servers/{sid}/allocations", json={"port": 25566})

    moved = await allocations.move_allocations(agents_conn, UUID(sid), UUID(target["id"]))
    # 25565 is outside the target's range: picked anew; 25566 kept; container ports kept
    rows = [(m["address"], m["port"], m["container_port"], m["is_primary"]) for m in moved]
    assert sorted(rows) == [
        ("10.60.0.1", 25566, 25566, False),
        ("10.60.0.1", 25567, 25565, True),
    ]
    listed = await allocations_of(gateway, sid)
    assert {a["nodeId"] for a in listed} == {target["id"]}
    assert (await gateway.get(f"/api/servers/{sid}")).json()["data"]["primaryPort"] == 25567
    source_pool = (await gateway.get(f"/api/nodes/{source['id']}/ip-pool")).json()["data"]
    assert source_pool["allocated"] == 0

    # a target without room for all of them: refused, nothing changed
    cramped = await pooled_node(
        gateway, {"addresses": ["10.70.0.1"], "portRanges": [{"start": 5000, "end": 5000}]}
    )
    with pytest.raises(allocations.AllocationRefused):
        await allocations.move_allocations(agents_conn, UUID(sid), UUID(cramped["id"]))
    assert await allocations_of(gateway, sid) == listed
