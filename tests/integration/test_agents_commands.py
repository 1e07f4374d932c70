"""Commands to servers on nodes: routed to the replica holding the node's agent,
acknowledged or failed; the restart policy, crash limits, suspension and backups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest
import uuid6

from nodebyte_common import events
from nodebyte_devstack.agent_harness import (
    EventTap,
    ExtraReplica,
    act,
    connect_agent,
    event_tap,
    register_node,
    register_server,
    running_replica,
    server_of,
    states,
    until,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event
from nodebyte_emulators.agent import SimulatedAgent

EVENTS = [
    "server.state_changed",
    "server.command_acknowledged",
    "server.command_failed",
    "backup.completed",
    "alert.raised",
]


@pytest.fixture(scope="module")
def replica_b(stack: Stack, logs_dir: Path) -> Iterator[ExtraReplica]:
    """A second node-agent-gateway replica on the same database and broker."""
    with running_replica(stack.config, logs_dir) as replica:
        yield replica


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    async with event_tap(stack.config.amqp_url, stack.config.prefix, EVENTS) as tap:
        yield tap


async def test_commands_reach_the_replica_holding_the_node(
    stack: Stack,
    replica_b: ExtraReplica,
    gateway: httpx.AsyncClient,
    tap: EventTap,
    agents: list[SimulatedAgent],
    admin_conn: asyncpg.Connection,
) -> None:
    replica_a_url = stack.config.url("node-agent-gateway")
    replica_a_id = stack.config.service_env("node-agent-gateway")["REPLICA_ID"]
    node_a, node_b = await register_node(gateway), await register_node(gateway)
    server_a = await register_server(gateway, node_a["id"])
    server_b = await register_server(gateway, node_b["id"])
    agent_a = await connect_agent(agents, replica_a_url, node_a)
    agent_b = await connect_agent(agents, replica_b.url, node_b)

    requests = []
    for server in (server_a, server_b):
        requests.append(await act(gateway, server["id"], "install"))
    await until(lambda: states(tap, server_a["id"]) == ["installing", "stopped"])
    await until(lambda: states(tap, server_b["id"]) == ["installing", "stopped"])
    for server in (server_a, server_b):
        requests.append(await act(gateway, server["id"], "start"))
    await wait_state(gateway, server_a["id"], "running")
    await wait_state(gateway, server_b["id"], "running")

    for agent, server in ((agent_a, server_a), (agent_b, server_b)):
        kinds = [(f["type"], f["serverId"]) for f in agent.record.received]
        assert kinds == [("install_server", server["id"]), ("start_server", server["id"])]
    for request_id in requests:
        acked = await tap.wait_for("server.command_acknowledged", request_id=request_id)
        assert acked["acknowledged_by"] == "agent"
    rows = await admin_conn.fetch(
        """SELECT server_id, delivered_by, status FROM agents.server_commands
           WHERE request_id = ANY($1::uuid[])""",
        [UUID(r) for r in requests],
    )
    holders = {(str(r["server_id"]), r["delivered_by"], r["status"]) for r in rows}
    assert holders == {
        (server_a["id"], replica_a_id, "acknowledged"),
        (server_b["id"], replica_b.replica_id, "acknowledged"),
    }
    status = await gateway.get(f"/api/servers/{server_b['id']}/commands/{requests[-1]}")
    assert status.json()["data"]["status"] == "acknowledged"


async def test_a_command_for_an_offline_node_fails_cleanly(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    # Through the gateway: refused at once.
    response = await gateway.post(f"/api/servers/{server['id']}/start")
    assert response.status_code == 409
    assert response.json()["code"] == "NODE_OFFLINE"
    # On the bus, as the scheduler sends it: fails with server.command_failed.
    request_id = uuid6.uuid7()
    await publish_event(
        stack.config,
        events.ServerCommandRequested(
            request_id=request_id,
            server_id=UUID(server["id"]),
            action="start",
            requested_by="scheduler",
        ),
    )
    failed = await tap.wait_for("server.command_failed", request_id=str(request_id))
    assert failed["reason"] == "node offline"
    assert failed["node_id"] == node["id"]
    assert failed["requested_by"] == "scheduler"
    status = await gateway.get(f"/api/servers/{server['id']}/commands/{request_id}")
    assert status.json()["data"]["status"] == "failed"
    assert (await server_of(gateway, server["id"]))["state"] == "stopped"


async def test_an_unacknowledged_command_times_out(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    agent.features = ()  # it announced acknowledgements, then never sends one
    request_id = await act(gateway, server["id"], "install")
    failed = await tap.wait_for("server.command_failed", timeout=30, request_id=request_id)
    assert failed["reason"] == "timeout"
    assert agent.frames("install_server")  # delivered, just never confirmed


async def test_an_agent_without_acknowledgements_is_acknowledged_on_delivery(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    await connect_agent(agents, stack.config.url("node-agent-gateway"), node, features=())
    request_id = await act(gateway, server["id"], "install")
    acked = await tap.wait_for("server.command_acknowledged", request_id=request_id)
    assert acked["acknowledged_by"] == "transport"


async def test_crashes_follow_the_restart_policy_up_to_the_crash_limit(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"], restartPolicy="on-failure", maxCrashCount=2)
    sid = server["id"]
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")

    await agent.crash(sid, exit_code=3)  # crash 1: restarted by the policy
    await until(lambda: states(tap, sid)[-1:] == ["running"] and "crashed" in states(tap, sid))
    assert states(tap, sid) == ["starting", "running", "crashed", "starting", "running"]
    data = await server_of(gateway, sid)
    assert (data["crashCount"], data["lastExitCode"]) == (1, 3)

    await agent.crash(sid)  # crash 2 reaches the limit: no restart
    limit = await tap.wait_for("alert.raised", server_id=sid, title="Crash limit reached")
    assert limit["severity"] == "critical"
    await asyncio.sleep(1.5)  # time for a wrong restart to show itself
    assert len(agent.frames("start_server")) == 2  # the user's start and one restart
    data = await wait_state(gateway, sid, "crashed")
    assert data["crashCount"] == 2
    crash_alerts = (await gateway.get("/api/alerts", params={"serverId": sid})).json()["data"]
    assert sorted(a["title"] for a in crash_alerts) == ["Crash limit reached", "Server crashed"]

    response = await gateway.post(f"/api/servers/{sid}/reset-crash-count")
    assert response.status_code == 200
    assert (await server_of(gateway, sid))["crashCount"] == 0
    response = await gateway.patch(
        f"/api/servers/{sid}/restart-policy", json={"restartPolicy": "never", "maxCrashCount": 9}
    )
    assert response.json()["data"] == {"restartPolicy": "never", "maxCrashCount": 9}
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")
    await agent.crash(sid)
    await wait_state(gateway, sid, "crashed")
    await asyncio.sleep(1.5)
    assert len(agent.frames("start_server")) == 3  # never: no restart


async def test_always_restarts_a_server_that_exits_on_its_own(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"], restartPolicy="always")
    sid = server["id"]
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")
    await agent.exit_cleanly(sid)
    await until(
        lambda: states(tap, sid) == ["starting", "running", "stopped", "starting", "running"]
    )
    await act(gateway, sid, "stop")  # a requested stop is not restarted
    await wait_state(gateway, sid, "stopped")
    await asyncio.sleep(1.5)
    assert len(agent.frames("start_server")) == 2


async def test_a_suspended_server_refuses_actions_with_423(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    sid = server["id"]
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")

    response = await gateway.post(f"/api/servers/{sid}/suspend", json={"reason": "Billing"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "suspended"
    assert response.json()["data"]["suspensionReason"] == "Billing"
    await until(lambda: agent.frames("stop_server"))
    assert agent.frames("stop_server")[0]["suspended"] is True
    for action, body in [("start", {}), ("restart", {}), ("command", {"command": "say hi"})]:
        response = await gateway.post(f"/api/servers/{sid}/{action}", json=body)
        assert response.status_code == 423, (action, response.text)
        assert response.json()["code"] == "LOCKED"
    assert (await gateway.post(f"/api/servers/{sid}/suspend")).status_code == 409

    await wait_state(gateway, sid, "stopped")
    response = await gateway.post(f"/api/servers/{sid}/unsuspend")
    assert response.json()["data"]["status"] == "stopped"
    assert (await gateway.post(f"/api/servers/{sid}/unsuspend")).status_code == 409
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")


async def test_actions_out_of_turn_and_bad_bodies_are_refused(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    sid = server["id"]
    await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    cases = [
        ("stop", {}, 409),
        ("command", {"command": "say hi"}, 409),
        ("command", {}, 400),
        ("stop", {"timeout": "soon"}, 400),
        ("start", {"extra": 1}, 400),
    ]
    for action, body, status in cases:
        response = await gateway.post(f"/api/servers/{sid}/{action}", json=body)
        assert response.status_code == status, (action, body, response.text)
    missing = await gateway.post("/api/servers/0195f3c8-0000-7000-8000-000000000000/start")
    assert missing.status_code == 404


async def test_an_agent_cannot_skip_the_lifecycle(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    await agent.send_raw(
        {"type": "server_state_update", "serverUuid": server["id"], "state": "running"}
    )  # stopped → running skips starting
    await agent.send_raw(
        {"type": "server_state_update", "serverUuid": server["id"], "state": "suspended"}
    )  # only an administrator suspends
    await until(lambda: len(agent.record.errors) >= 2)
    assert [e["code"] for e in agent.record.errors] == ["INVALID_TRANSITION", "INVALID_STATE"]
    assert (await server_of(gateway, server["id"]))["state"] == "stopped"


async def test_a_backup_completes_and_is_listed(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    sid = server["id"]
    await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    response = await gateway.post(f"/api/servers/{sid}/backups", json={"name": "nightly-1"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["backupName"] == "nightly-1"
    done = await tap.wait_for("backup.completed", backup_id=data["backupId"])
    assert done["success"] is True
    assert done["size_bytes"] > 0

    listed = (await gateway.get(f"/api/servers/{sid}/backups")).json()["data"]
    assert len(listed) == 1
    backup = listed[0]
    assert (backup["id"], backup["name"], backup["status"]) == (
        data["backupId"],
        "nightly-1",
        "completed",
    )
    assert backup["checksum"].startswith("sha256:")
    assert backup["path"].endswith(f"/{sid}/nightly-1.tar.gz")

    again = await gateway.post(f"/api/servers/{sid}/backups", json={"name": "nightly-1"})
    failed = await tap.wait_for(
        "server.command_failed", request_id=again.json()["data"]["requestId"]
    )
    assert "already exists" in failed["reason"]
    bad = await gateway.post(f"/api/servers/{sid}/backups", json={"name": "../etc/passwd"})
    assert bad.status_code == 400
    assert len((await gateway.get(f"/api/servers/{sid}/backups")).json()["data"]) == 1


async def test_server_crud_checks_capacity_and_state(gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway, maxMemoryMb=2048, maxCpuCores=2)
    server = await register_server(gateway, node["id"], allocatedMemoryMb=1536)
    too_big = await gateway.post(
        "/api/servers",
        json={
            "name": "big",
            "nodeId": node["id"],
            "dockerImage": "x",
            "allocatedMemoryMb": 1024,
            "allocatedCpuCores": 1,
            "allocatedDiskMb": 10,
            "primaryPort": 1,
        },
    )
    assert too_big.status_code == 400
    assert too_big.json()["code"] == "INSUFFICIENT_RESOURCES"
    updated = await gateway.put(
        f"/api/servers/{server['id']}", json={"name": "renamed", "allocatedMemoryMb": 2048}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["name"] == "renamed"
    listed = await gateway.get("/api/servers", params={"nodeId": node["id"], "status": "stopped"})
    assert [s["id"] for s in listed.json()["data"]] == [server["id"]]
    bad = await gateway.get("/api/servers", params={"status": "exploded"})
    assert bad.status_code == 400
    bad_env = await gateway.put(f"/api/servers/{server['id']}", json={"environment": {"1BAD": "x"}})
    assert bad_env.status_code == 400


async def test_a_command_retried_with_its_idempotency_key_reaches_the_agent_once(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent], tap: EventTap
) -> None:
    """A client that lost the answer sends again with the same key: one command, one id."""
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    path = f"/api/servers/{server['id']}/install"
    answers = [
        await gateway.post(path, json={}, headers={"Idempotency-Key": "install-once"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
    ids = {a.json()["data"]["requestId"] for a in answers}
    assert len(ids) == 1
    await tap.wait_for("server.command_acknowledged", request_id=ids.pop())
    await wait_state(gateway, server["id"], "stopped")
    await asyncio.sleep(1.0)  # a second command would have arrived by now
    assert [f["type"] for f in agent.record.received] == ["install_server"]


async def test_a_command_waits_for_an_agent_that_is_reconnecting(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, agents: list[SimulatedAgent]
) -> None:
    """The agent dropped a moment ago (a restart, a blip): a scheduled command for it
    is delivered when it is back, not failed as "node offline"."""
    base_url = stack.config.url("node-agent-gateway")
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    first = await connect_agent(agents, base_url, node)
    await first.stop()
    request_id = uuid6.uuid7()
    await publish_event(
        stack.config,
        events.ServerCommandRequested(
            request_id=request_id,
            server_id=UUID(server["id"]),
            action="install",
            requested_by="scheduler",
        ),
    )
    await asyncio.sleep(1.5)  # the command is taken while no replica holds the node
    back = await connect_agent(agents, base_url, node)
    acked = await tap.wait_for("server.command_acknowledged", request_id=str(request_id))
    assert acked["acknowledged_by"] == "agent"
    assert [f["type"] for f in back.record.received] == ["install_server"]
    assert not tap.of("server.command_failed", request_id=str(request_id))
