"""Every server and node action is in the audit log with its actor, target and
outcome. Staff members act with their own logins through the public API on a
node with a connected reference agent; an admin then finds each action in
`GET /api/admin/audit`, filtered by action, with that member as the actor."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.agent_harness import (
    connect_agent,
    register_node,
    register_server,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent


@pytest.fixture
async def staff(
    stack: Stack, user_factory: Callable[..., Awaitable[SignedInUser]]
) -> AsyncIterator[httpx.AsyncClient]:
    """An ADMINISTRATOR, signed in with their own password (no API key)."""
    member = await user_factory(["ADMINISTRATOR"])
    async with httpx.AsyncClient(
        base_url=stack.config.url("gateway"), headers=member.headers, timeout=20
    ) as client:
        client.member = member  # type: ignore[attr-defined]
        yield client


async def entries(gateway: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await gateway.get("/api/admin/audit", params={"limit": 200, **filters})
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.timeout(300)  # a dozen actions through a real agent, on a loaded machine
async def test_a_staff_members_server_and_node_actions_are_audited_with_outcomes(
    stack: Stack,
    gateway: httpx.AsyncClient,
    staff: httpx.AsyncClient,
    member_user: SignedInUser,
    anonymous: httpx.AsyncClient,
    agents: list[SimulatedAgent],
) -> None:
    me = staff.member.id  # type: ignore[attr-defined]
    node = await register_node(staff)
    await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    server = await register_server(staff, node["id"])
    sid = server["id"]

    started = await staff.post(f"/api/servers/{sid}/start")
    assert started.status_code == 200, started.text
    await wait_state(staff, sid, "running")
    again = await staff.post(f"/api/servers/{sid}/start")  # running: the owner refuses it
    assert again.status_code == 409, again.text
    sent = await staff.post(f"/api/servers/{sid}/command", json={"command": "say hello"})
    assert sent.status_code == 200, sent.text
    bad = await staff.post(f"/api/servers/{sid}/command", json={"command": ""})
    assert bad.status_code == 400
    # A console line typed on the client socket is a command too.
    ws_url = "ws" + stack.config.url("gateway").removeprefix("http") + "/ws"
    async with connect(ws_url, additional_headers=staff.member.headers) as ws:  # type: ignore[attr-defined]
        line = {"type": "console_input", "serverId": sid, "data": "say typed"}
        await ws.send(json.dumps(line))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != (
            "console_input_accepted"
        ):
            assert frame["type"] != "error", frame
    stopped = await staff.post(f"/api/servers/{sid}/stop")
    assert stopped.status_code == 200, stopped.text
    await wait_state(staff, sid, "stopped")
    # A member without server.start is refused by the guard: audited as refused too.
    forbidden = await anonymous.post(f"/api/servers/{sid}/start", headers=member_user.headers)
    assert forbidden.status_code == 403
    assert (await staff.post(f"/api/servers/{sid}/backups", json={})).status_code == 200
    suspended = await staff.post(f"/api/servers/{sid}/suspend", json={"reason": "abuse"})
    assert suspended.status_code == 200, suspended.text
    assert (await staff.post(f"/api/servers/{sid}/unsuspend")).status_code == 200
    assert (await staff.put(f"/api/nodes/{node['id']}", json={"maxCpuCores": 8})).status_code == 200
    assert (await staff.post(f"/api/nodes/{node['id']}/deployment-token")).status_code == 200
    assert (await staff.delete(f"/api/servers/{sid}")).status_code == 200

    def outcomes(rows: list[dict[str, Any]]) -> list[str]:
        return sorted(row["outcome"] for row in rows)

    starts = await entries(gateway, action="server.start", targetId=sid)
    mine = [row for row in starts if row["actor"]["id"] == me]
    assert outcomes(mine) == ["accepted", "refused"], starts
    actor = {"type": "user", "id": me, "label": staff.member.email}  # type: ignore[attr-defined]
    assert all(row["actor"] == actor for row in mine)
    assert all(row["target"] == {"type": "server", "id": sid} for row in starts)
    refused = next(row for row in mine if row["outcome"] == "refused")
    assert refused["after"]["status"] == 409
    assert refused["after"]["code"] == "CONFLICT"
    assert refused["after"]["error"] == again.json()["error"]
    accepted = next(row for row in mine if row["outcome"] == "accepted")
    assert accepted["after"]["answer"]["requestId"] == started.json()["data"]["requestId"]
    by_member = [row for row in starts if row["actor"]["id"] == member_user.id]
    assert [(r["outcome"], r["after"]["status"]) for r in by_member] == [("refused", 403)]

    commands = await entries(gateway, action="server.command", actorId=me, targetId=sid)
    assert sorted((r["outcome"], r["after"]["request"].get("command")) for r in commands) == [
        ("accepted", "say hello"),
        ("accepted", "say typed"),
        ("refused", ""),
    ]
    assert [
        r["after"].get("via") for r in commands if r["after"]["request"] == {"command": "say typed"}
    ] == ["websocket"]
    expected = {
        "server.create": sid,
        "server.stop": sid,
        "server.backup.create": sid,
        "server.suspend": sid,
        "server.unsuspend": sid,
        "server.delete": sid,
        "node.create": node["id"],
        "node.update": node["id"],
        "node.token.rotate": node["id"],
    }
    for action, target in expected.items():
        rows = await entries(gateway, action=action, actorId=me, targetId=target)
        assert [r["outcome"] for r in rows] == ["accepted"], (action, rows)
    suspension = await entries(gateway, action="server.suspend", targetId=sid)
    assert suspension[0]["after"]["request"] == {"reason": "abuse"}
    # The deployment token shown once is not kept anywhere in the log.
    for action in ("node.create", "node.token.rotate"):
        for row in await entries(gateway, action=action, targetId=node["id"]):
            assert "deploymentToken" not in str(row)
    everything = await entries(gateway, action="server.*", actorId=me, outcome="refused")
    assert {r["action"] for r in everything} == {"server.start", "server.command"}


@pytest.mark.timeout(300)  # starts another gateway replica (slowly, on a loaded machine)
async def test_an_action_the_owner_cannot_take_is_audited_as_failed(
    stack: Stack, user_factory: Callable[..., Awaitable[SignedInUser]], gateway: httpx.AsyncClient
) -> None:
    """A gateway replica whose node-agent-gateway does not answer: the action fails (503)."""
    port = stack.start_extra_replica(
        "gateway", {"NODE_AGENT_GATEWAY_URL": "http://127.0.0.1:9"}, timeout=150
    )
    try:
        member = await user_factory(["ADMINISTRATOR"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as replica:
            server_id = "0190b3a4-0000-7000-8000-000000000001"
            response = await replica.post(
                f"/api/servers/{server_id}/restart", headers=member.headers
            )
        assert response.status_code == 503, response.text
    finally:
        stack.kill(f"gateway-replica-{port}")
    rows = await entries(gateway, action="server.restart", actorId=member.id)
    assert [(r["outcome"], r["after"]["status"]) for r in rows] == [("failed", 503)]
    assert rows[0]["target"] == {"type": "server", "id": server_id}


async def test_every_changing_fleet_route_names_an_audit_action() -> None:
    """The gateway refuses to start with a route that would change servers unaudited."""
    from litestar import post

    from nodebyte_gateway.accounts import audit

    @post("/api/servers/{server_id:uuid}/frobnicate")
    async def unaudited() -> None:
        return None

    @post("/api/servers/{server_id:uuid}/polish", opt=audit.action("server.polish"))
    async def audited() -> None:
        return None

    audit.check_declared([audited])
    named = re.escape("POST /api/servers/{server_id:uuid}/frobnicate")
    with pytest.raises(RuntimeError, match=named):
        audit.check_declared([audited, unaudited])
