"""Commands lost with a node-agent-gateway replica that dies (SIGKILL) between routing them
and writing them to the agent's socket: sent again, once, when the agent reconnects, within
the command's deadline; failed at the deadline when the agent does not come back.

The replica holding the agent is stopped (SIGSTOP) first, so a command routed by the
stack's other replica waits in the holder's queue, exactly as when the holder dies right
after the command is routed; then it is killed, and the agent reconnects to the survivor
(as a balancer would send it). The holder's consumer of the shared queue takes about half
the commands asked meanwhile and gives them back when it dies: those are the commands that
already survived a restart; the ones the user sees `routed` are the ones its queue lost.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from uuid import UUID

import asyncpg
import httpx
import pytest

from nodebyte_devstack.agent_harness import (
    EventTap,
    act,
    agent_url,
    connect_agent,
    event_tap,
    register_node,
    register_server,
    states,
    until,
    wait_state,
)
from nodebyte_devstack.config import free_port
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

ROUTED_WITHIN_SECONDS = 1.0  # a command the surviving replica took shows `routed` by then
TRIES = 6  # asks of one kind until one is routed by the survivor (they alternate)


class Holder:
    """A second node-agent-gateway replica, the one the agent connects to."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        env = {"REPLICA_ID": f"holder-{secrets.token_hex(3)}", "SFTP_PORT": str(free_port())}
        self.port = stack.start_extra_replica("node-agent-gateway", env)
        self.name = f"node-agent-gateway-replica-{self.port}"
        self.url = f"http://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        os.killpg(self.stack.processes[self.name].popen.pid, signal.SIGSTOP)

    def kill(self) -> None:
        if self.name in self.stack.processes:
            self.stack.kill(self.name, signal.SIGKILL)


@pytest.fixture
def holder(stack: Stack) -> Iterator[Holder]:
    replica = Holder(stack)
    try:
        yield replica
    finally:
        replica.kill()


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    events = ["server.command_acknowledged", "server.command_failed", "server.state_changed"]
    async with event_tap(stack.config.amqp_url, stack.config.prefix, events) as tap:
        yield tap


async def _running_server(
    gateway: httpx.AsyncClient, agents: list[SimulatedAgent], holder: Holder, tap: EventTap
) -> tuple[str, SimulatedAgent]:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, holder.url, node)
    await act(gateway, server["id"], "install")
    # A new server is already `stopped`: wait for the install to have gone through it.
    await until(lambda: states(tap, server["id"]) == ["installing", "stopped"], timeout=60)
    await act(gateway, server["id"], "start")
    await wait_state(gateway, server["id"], "running", timeout=60)
    return server["id"], agent


async def _command(gateway: httpx.AsyncClient, server_id: str, text: str) -> str:
    response = await gateway.post(f"/api/servers/{server_id}/command", json={"command": text})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["requestId"])


async def _task_run(gateway: httpx.AsyncClient, server_id: str, text: str) -> str:
    """A scheduler command task, run now: its run id is its command's request id."""
    task_id = await _task(gateway, server_id, text)
    run = await gateway.post(f"/api/tasks/{task_id}/execute")
    assert run.status_code in (200, 202), run.text
    run_id = str(run.json()["data"]["runId"])
    TASKS[run_id] = task_id
    return run_id


TASKS: dict[str, str] = {}  # run id -> task id


async def _task(gateway: httpx.AsyncClient, server_id: str, text: str) -> str:
    body = {
        "serverId": server_id,
        "name": text,
        "action": "command",
        "payload": {"command": text},
        "schedule": "0 3 1 1 *",
        "enabled": True,
    }
    created = await gateway.post("/api/tasks", json=body)
    assert created.status_code in (200, 201), created.text
    return str(created.json()["data"]["id"])


async def _status(gateway: httpx.AsyncClient, server_id: str, request_id: str) -> dict | None:
    response = await gateway.get(f"/api/servers/{server_id}/commands/{request_id}")
    return response.json()["data"] if response.status_code == 200 else None


async def _routed_by_survivor(gateway: httpx.AsyncClient, server_id: str, request_id: str) -> bool:
    deadline = time.monotonic() + ROUTED_WITHIN_SECONDS
    while time.monotonic() < deadline:
        status = await _status(gateway, server_id, request_id)
        if status is not None and status["status"] == "routed":
            return True
        await asyncio.sleep(0.1)
    return False  # the frozen holder's consumer has it (given back when it dies)


async def _ask_until_routed(
    gateway: httpx.AsyncClient, server_id: str, kind: str, asked: list[str]
) -> str:
    ask = _command if kind == "command" else _task_run
    for n in range(TRIES):
        request_id = await ask(gateway, server_id, f"say {kind} {secrets.token_hex(3)} {n}")
        asked.append(request_id)
        if await _routed_by_survivor(gateway, server_id, request_id):
            return request_id
    raise AssertionError(f"no {kind} was routed by the surviving replica")


def _times_received(agent: SimulatedAgent, request_id: str) -> int:
    return sum(1 for f in agent.record.received if f.get("requestId") == request_id)


@pytest.mark.timeout(240)  # starts a replica on a busy machine
async def test_commands_lost_with_a_killed_replica_reach_the_agent_once_when_it_reconnects(
    stack: Stack,
    gateway: httpx.AsyncClient,
    agents: list[SimulatedAgent],
    tap: EventTap,
    holder: Holder,
) -> None:
    server_id, agent = await _running_server(gateway, agents, holder, tap)
    asked: list[str] = []
    holder.freeze()
    lost = [
        await _ask_until_routed(gateway, server_id, kind, asked) for kind in ("command", "task")
    ]
    holder.kill()  # its queue, and the routed commands in it, die with it
    agent.url = agent_url(stack.config.url("node-agent-gateway"))

    for request_id in asked:
        acked = await tap.wait_for("server.command_acknowledged", request_id=request_id)
        assert acked["acknowledged_by"] == "agent"
    await asyncio.sleep(1.0)  # a second copy would have arrived by now
    assert {r: _times_received(agent, r) for r in asked} == dict.fromkeys(asked, 1)
    assert not [r for r in asked if tap.of("server.command_failed", request_id=r)]
    for request_id in lost:
        status = await _status(gateway, server_id, request_id) or {}
        assert status.get("status") == "acknowledged", status
    for run_id in (r for r in asked if r in TASKS):
        runs = (await gateway.get(f"/api/tasks/{TASKS[run_id]}/runs")).json()["data"]
        assert [(run["id"], run["status"]) for run in runs] == [(run_id, "acknowledged")]


@pytest.mark.timeout(240)
async def test_a_lost_command_whose_agent_stays_away_fails_at_its_deadline_and_never_arrives(
    stack: Stack,
    gateway: httpx.AsyncClient,
    agents: list[SimulatedAgent],
    tap: EventTap,
    holder: Holder,
    admin_conn: asyncpg.Connection,
) -> None:
    server_id, agent = await _running_server(gateway, agents, holder, tap)
    holder.freeze()
    request_id = await _ask_until_routed(gateway, server_id, "command", [])
    agent.go_silent()  # the node stays away past the command's deadline
    holder.kill()

    status = await _status(gateway, server_id, request_id)
    assert status is not None
    timeout = float(stack.config.service_env("node-agent-gateway")["COMMAND_TIMEOUT_SECONDS"])
    deadline = datetime.fromisoformat(status["requestedAt"]).timestamp() + timeout
    # A slow sweeper (its row lock held here): the agent is back past the deadline while
    # the command is still open; it must not be sent all the same.
    async with admin_conn.transaction():
        await admin_conn.execute(
            "SELECT 1 FROM agents.server_commands WHERE request_id = $1 FOR UPDATE",
            UUID(request_id),
        )
        await asyncio.sleep(max(0.0, deadline + 0.2 - time.time()))
        agent.url = agent_url(stack.config.url("node-agent-gateway"))
        agent.speak_again()
        await asyncio.wait_for(agent.connected.wait(), 20)
        await asyncio.sleep(1.0)
    failed = await tap.wait_for("server.command_failed", request_id=request_id, timeout=20)
    assert failed["reason"] == "timeout"
    await asyncio.sleep(1.0)
    assert _times_received(agent, request_id) == 0
    assert (await _status(gateway, server_id, request_id) or {}).get("status") == "failed"


@pytest.mark.timeout(120)
async def test_a_command_the_agent_took_is_not_sent_again_when_it_reconnects(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent], tap: EventTap
) -> None:
    """The agent got the command, then its connection dropped before its acknowledgement
    went out: it may have acted on it, and it acts on every frame it gets, so the command
    is not sent again; it fails at its deadline (the one case a restart still fails)."""
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = await connect_agent(agents, stack.config.url("node-agent-gateway"), node)
    agent.hold()  # busy: the command waits in the agent, unanswered
    request_id = await act(gateway, server["id"], "install")

    async def delivered() -> bool:
        status = await _status(gateway, server["id"], request_id) or {}
        return status.get("status") == "delivered"

    await eventually(delivered, timeout=10)
    await agent.drop_connection()
    agent.release()  # it acts on the command; its acknowledgement goes nowhere
    await asyncio.wait_for(agent.connected.wait(), 20)  # back, on the same replica

    failed = await tap.wait_for("server.command_failed", request_id=request_id, timeout=30)
    assert failed["reason"] == "timeout"
    assert agent.record.handshakes == 2  # it did reconnect meanwhile
    assert _times_received(agent, request_id) == 1
