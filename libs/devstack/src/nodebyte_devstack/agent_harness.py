"""Helpers for tests and benchmarks of the node-agent-gateway with real agents.

- `EventTap`: a private queue bound to some event types on the event exchange,
  to see what the services published.
- `register_node` / `register_server`: through the gateway (`/api`) or the
  node-agent-gateway's internal API (`/internal/v1`), whichever client is given.
- `connect_agent`: a reference agent (emulators) connected for a registered node.
- `act` / `server_of` / `wait_state` / `states`: a server's actions and state, as
  the public API and the event bus show them.
- `files_under`: a directory's files as the agent left them on its disk.
- `ExtraReplica` / `running_replica`: one more node-agent-gateway process on the
  same database and broker, as a second replica in production would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import httpx

from nodebyte_common.topology import exchange_name
from nodebyte_devstack.config import StackConfig, free_port
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

Event = dict[str, Any]


class EventTap:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Event]] = []

    def of(self, event_type: str, **match: Any) -> list[Event]:
        return [
            body
            for kind, body in self.seen
            if kind == event_type and all(body.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, event_type: str, timeout: float = 20.0, **match: Any) -> Event:
        async def found() -> Event | None:
            hits = self.of(event_type, **match)
            return hits[0] if hits else None

        return await eventually(found, timeout=timeout)


@contextlib.asynccontextmanager
async def event_tap(amqp_url: str, prefix: str, event_types: list[str]) -> AsyncIterator[EventTap]:
    tap = EventTap()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(prefix))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for event_type in event_types:
            await queue.bind(exchange, routing_key=event_type)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            kind = str((message.headers or {}).get("cloudEvents:type", message.routing_key))
            try:
                tap.seen.append((kind, json.loads(message.body)))
            except ValueError:
                return  # a poison message: not an event anyone published

        await queue.consume(on_message, no_ack=True)
        yield tap
    finally:
        await connection.close()


def unique(name: str) -> str:
    return f"{name}-{secrets.token_hex(4)}"


async def register_node(api: httpx.AsyncClient, prefix: str = "/api", **fields: Any) -> Event:
    """A new node (with its one-time `deploymentToken`)."""
    body = {
        "name": unique("node"),
        "hostname": "node.example.test",
        "maxMemoryMb": 65536,
        "maxCpuCores": 32,
        **fields,
    }
    response = await api.post(f"{prefix}/nodes", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


_PORTS = itertools.count(25565)
T = TypeVar("T")


async def register_server(
    api: httpx.AsyncClient, node_id: str, prefix: str = "/api", **fields: Any
) -> Event:
    body = {
        "name": unique("server"),
        "nodeId": node_id,
        "dockerImage": "itzg/minecraft-server:latest",
        "startupCommand": "java -jar server.jar",
        "environment": {"EULA": "TRUE"},
        "allocatedMemoryMb": 1024,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 4096,
        # A port of its own: two servers on one node never share an allocation.
        "primaryPort": next(_PORTS),
        **fields,
    }
    response = await api.post(f"{prefix}/servers", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def agent_url(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http") + "/ws"


async def connect_agent(
    started: list[SimulatedAgent], base_url: str, node: Event, **options: Any
) -> SimulatedAgent:
    """A reference agent for `node`, connected to the node-agent-gateway at `base_url`;
    added to `started` so the caller stops it (`options`: data_dir, features, ...)."""
    agent = SimulatedAgent(agent_url(base_url), node["id"], node["deploymentToken"], **options)
    agent.start()
    started.append(agent)
    await asyncio.wait_for(agent.connected.wait(), 20)
    return agent


async def act(api: httpx.AsyncClient, server_id: str, action: str, **body: Any) -> str:
    """A server action through the gateway (start, stop, install, ...): its request id."""
    response = await api.post(f"/api/servers/{server_id}/{action}", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "pending", data
    return str(data["requestId"])


async def server_of(api: httpx.AsyncClient, server_id: str) -> Event:
    response = await api.get(f"/api/servers/{server_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def wait_state(
    api: httpx.AsyncClient, server_id: str, state: str, timeout: float = 20.0
) -> Event:
    """The server once the API reports it in `state`."""

    async def reached() -> Event | None:
        data = await server_of(api, server_id)
        return data if data["state"] == state else None

    return await eventually(reached, timeout=timeout)


def states(tap: EventTap, server_id: str) -> list[str]:
    """The states the server went through, as `server.state_changed` events told."""
    return [e["state"] for e in tap.of("server.state_changed", server_id=server_id)]


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below `root` (relative path -> bytes), as it is on the disk."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


class ExtraReplica:
    """Another node-agent-gateway process of `config`'s stack."""

    def __init__(self, config: StackConfig, log_dir: Path, name: str = "replica-b") -> None:
        self.port = free_port()
        self.replica_id = f"{config.prefix}-{name}"
        self.url = f"http://127.0.0.1:{self.port}"
        env = config.service_env("node-agent-gateway")
        # Its own SFTP port too: the stack's replica holds the configured one.
        self.sftp_port = free_port()
        env.update(
            {
                "PORT": str(self.port),
                "REPLICA_ID": self.replica_id,
                "SFTP_PORT": str(self.sftp_port),
            }
        )
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = (log_dir / f"node-agent-gateway-{name}.log").open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "nodebyte_node_agent_gateway"],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError("the extra replica exited")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the extra replica did not become healthy")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


@contextlib.contextmanager
def running_replica(
    config: StackConfig, log_dir: Path, name: str = "replica-b"
) -> Iterator[ExtraReplica]:
    """An `ExtraReplica`, healthy when handed over, stopped afterwards."""
    replica = ExtraReplica(config, log_dir, name=name)
    try:
        replica.wait_healthy()
        yield replica
    finally:
        replica.stop()


async def until(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    """`eventually` for a plain (non-async) predicate."""

    async def check() -> T:
        return predicate()

    return await eventually(check, timeout=timeout)
