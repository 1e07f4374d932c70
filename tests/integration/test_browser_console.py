"""A browser's console: the WebSocket and the live stream open with a single-use ticket
(a browser cannot set headers; a used or expired ticket is refused), and what is typed
reaches the server's stdin on the agent exactly as typed."""

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
from nodebyte_emulators.agent import SimulatedAgent

TICKET = "/api/v1/ws-ticket"
TYPED = "  say hi  \n"
CLOSE_UNAUTHORIZED = 4401


@pytest.fixture
async def running(
    stack: Stack, gateway: httpx.AsyncClient
) -> AsyncIterator[tuple[SimulatedAgent, str]]:
    """A connected agent and a running server on its node."""
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")), node["id"], node["deploymentToken"]
    )
    agent.start()
    await asyncio.wait_for(agent.connected.wait(), 20)
    sid = server["id"]
    assert (await gateway.post(f"/api/servers/{sid}/start")).status_code == 200
    await until(lambda: agent.runtime.container(sid).state == "running")
    yield agent, sid
    await agent.stop()


def socket_url(stack: Stack, ticket: str) -> str:
    return "ws" + stack.config.url("gateway").removeprefix("http") + f"/ws?ticket={ticket}"


async def ticket_for(anonymous: httpx.AsyncClient, user: SignedInUser) -> str:
    answer = await anonymous.post(TICKET, headers=user.headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["ticket"])


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if frame["type"] in (kind, "error"):
            return frame


async def refused(url: str) -> int | None:
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


async def test_typed_input_reaches_stdin_exactly_through_a_ticketed_socket(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    running: tuple[SimulatedAgent, str],
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    agent, sid = running
    user = await user_factory(roles=["SUPER_ADMIN"])
    ticket = await ticket_for(anonymous, user)
    async with connect(socket_url(stack, ticket)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "serverId": sid}))
        assert (await next_frame(ws, "subscribed"))["serverId"] == sid
        await ws.send(json.dumps({"type": "console_input", "serverId": sid, "data": TYPED}))
        accepted = await next_frame(ws, "console_input_accepted")
        assert accepted["type"] == "console_input_accepted", accepted
        echo = await next_frame(ws, "server_log")
        assert echo["data"] == ">   say hi  \n"
    container = agent.runtime.container(sid)
    await until(lambda: container.stdin)
    assert container.stdin == [TYPED]  # not stripped, not turned into a command
    assert [f["data"] for f in agent.frames("console_input")] == [TYPED]
    assert agent.frames("execute_command") == []

    assert await refused(socket_url(stack, ticket)) == CLOSE_UNAUTHORIZED  # used


async def test_an_expired_ticket_is_refused(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    user = await user_factory(roles=["SUPER_ADMIN"])
    stale = await ticket_for(anonymous, user)
    await asyncio.sleep(8.5)  # WS_TICKET_TTL_SECONDS of the local stack is 8
    assert await refused(socket_url(stack, stale)) == CLOSE_UNAUTHORIZED
    assert await refused(socket_url(stack, "not-a-ticket")) == CLOSE_UNAUTHORIZED


async def test_the_live_stream_opens_once_with_a_ticket(
    anonymous: httpx.AsyncClient,
    running: tuple[SimulatedAgent, str],
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    agent, sid = running
    user = await user_factory(roles=["SUPER_ADMIN"])
    ticket = await ticket_for(anonymous, user)
    stream = f"/api/servers/{sid}/stream"
    async with anonymous.stream(
        "GET", stream, params={"ticket": ticket, "events": "server_log"}, timeout=20
    ) as response:
        assert response.status_code == 200
        await agent.print_lines(sid, ["seen by the browser"])
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                assert json.loads(line.removeprefix("data:"))["data"] == "seen by the browser\n"
                break
    again = await anonymous.get(stream, params={"ticket": ticket})
    assert again.status_code == 401


async def test_typing_needs_server_console(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    running: tuple[SimulatedAgent, str],
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    agent, sid = running
    reader = await user_factory(roles=["SUPPORT_TEAM"])  # server.read, not server.console
    async with connect(socket_url(stack, await ticket_for(anonymous, reader))) as ws:
        await ws.send(json.dumps({"type": "console_input", "serverId": sid, "data": TYPED}))
        frame = await next_frame(ws, "console_input_accepted")
        assert (frame["type"], frame["code"]) == ("error", "FORBIDDEN")
        await ws.send(json.dumps({"type": "console_input", "serverId": sid, "data": ""}))
        assert (await next_frame(ws, "x"))["code"] == "VALIDATION_ERROR"
    await asyncio.sleep(0.5)
    assert agent.runtime.container(sid).stdin == []
