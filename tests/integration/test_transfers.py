"""Transfers between nodes, through the public API, with two reference agents on two nodes,
each with its own data directory: the bytes really move from one disk to the other, or
stay where they were when anything goes wrong."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodebyte_devstack.agent_harness import (
    EventTap,
    ExtraReplica,
    act,
    connect_agent,
    event_tap,
    files_under,
    register_node,
    register_server,
    running_replica,
    server_of,
    states,
    until,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

EVENTS = [
    "server.state_changed",
    "server.transfer_started",
    "server.transfer_completed",
    "server.transfer_failed",
]


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    async with event_tap(stack.config.amqp_url, stack.config.prefix, EVENTS) as tap:
        yield tap


@pytest.fixture(scope="module")
def replica_b(stack: Stack, logs_dir: Path) -> Iterator[ExtraReplica]:
    """A second node-agent-gateway replica on the same database and broker."""
    with running_replica(stack.config, logs_dir, "transfers-b") as replica:
        yield replica


class Pair:
    def __init__(self, nodes: list[dict[str, Any]], agents: list[SimulatedAgent]) -> None:
        (self.node_a, self.node_b), (self.agent_a, self.agent_b) = nodes, agents


async def connect_pair(
    urls: tuple[str, str], gateway: httpx.AsyncClient, agents: list[SimulatedAgent], tmp_path: Path
) -> Pair:
    nodes = [await register_node(gateway), await register_node(gateway)]
    for node, disk, url in zip(nodes, ("disk-a", "disk-b"), urls, strict=True):
        await connect_agent(agents, url, node, data_dir=tmp_path / disk)
    return Pair(nodes, agents)


@pytest.fixture
async def pair(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent], tmp_path: Path
) -> Pair:
    """Two nodes, each with its agent connected and its own data directory."""
    url = stack.config.url("node-agent-gateway")
    return await connect_pair((url, url), gateway, agents, tmp_path)


def write_files(root: Path) -> dict[str, bytes]:
    """A server directory with nested, empty and incompressible files (several chunks)."""
    files = {
        "server.properties": b"motd=transferred\nmax-players=20\n",
        "world/level.dat": os.urandom(700_000),
        "world/region/r.0.0.mca": os.urandom(300_000),
        "logs/empty.log": b"",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


async def transfer_ends(gateway: httpx.AsyncClient, server_id: str, phase: str) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        server = await server_of(gateway, server_id)
        transfer = server["transfer"]
        return server if transfer and transfer["phase"] == phase else None

    return await eventually(ended, timeout=30)


async def start_transfer(
    gateway: httpx.AsyncClient, server_id: str, target: str, status: int = 200
) -> dict[str, Any]:
    response = await gateway.post(
        f"/api/servers/{server_id}/transfer", json={"targetNodeId": target}
    )
    assert response.status_code == status, response.text
    return response.json()


async def test_a_stopped_server_moves_with_its_files(
    gateway: httpx.AsyncClient, pair: Pair, tap: EventTap
) -> None:
    server = await register_server(gateway, pair.node_a["id"])
    source_dir = pair.agent_a.server_dir(server["id"])
    files = write_files(source_dir)

    started = await start_transfer(gateway, server["id"], pair.node_b["id"])
    assert started["data"]["phase"] == "streaming"
    assert started["data"]["sourceNodeId"] == pair.node_a["id"]

    done = await transfer_ends(gateway, server["id"], "completed")
    assert done["nodeId"] == pair.node_b["id"]
    assert done["state"] == "stopped"
    assert done["transfer"]["bytesTransferred"] > 1_000_000
    assert done["transfer"]["chunks"] > 7  # 128 KiB chunks: streamed, not in one piece
    target_dir = pair.agent_b.server_dir(server["id"])
    assert files_under(target_dir) == files
    moved = await gateway.get(f"/api/servers/{server['id']}/allocations")
    assert [(a["nodeId"], a["port"], a["isPrimary"]) for a in moved.json()["data"]] == [
        (pair.node_b["id"], server["primaryPort"], True)
    ]  # its allocation went along, keeping its port (free on B)
    await until(lambda: not source_dir.exists())  # the old copy goes once the target has it
    assert not any((target_dir.parent.parent / "transfers").iterdir())  # no staged leftovers

    completed = await tap.wait_for("server.transfer_completed", server_id=server["id"])
    assert completed["target_node_id"] == pair.node_b["id"]
    assert states(tap, server["id"])[:2] == ["transferring", "stopped"]
    listed = await gateway.get("/api/servers", params={"nodeId": pair.node_b["id"]})
    assert [s["id"] for s in listed.json()["data"]] == [server["id"]]
    audit = await gateway.get(
        "/api/admin/audit-logs", params={"action": "server.transfer", "targetId": server["id"]}
    )
    [entry] = audit.json()["data"]
    assert entry["outcome"] == "accepted"
    assert entry["after"]["request"]["targetNodeId"] == pair.node_b["id"]


async def test_the_archive_crosses_replicas_when_the_agents_are_on_two(
    stack: Stack,
    replica_b: ExtraReplica,
    gateway: httpx.AsyncClient,
    agents: list[SimulatedAgent],
    tmp_path: Path,
) -> None:
    """Source on one replica, target on another: chunks and acknowledgements go through
    the broker to the replica holding the other node's socket."""
    urls = (stack.config.url("node-agent-gateway"), replica_b.url)
    pair = await connect_pair(urls, gateway, agents, tmp_path)
    server = await register_server(gateway, pair.node_a["id"])
    files = write_files(pair.agent_a.server_dir(server["id"]))

    await start_transfer(gateway, server["id"], pair.node_b["id"])
    done = await transfer_ends(gateway, server["id"], "completed")
    assert done["nodeId"] == pair.node_b["id"]
    assert files_under(pair.agent_b.server_dir(server["id"])) == files


async def test_a_running_server_is_stopped_moved_and_started_again(
    gateway: httpx.AsyncClient, pair: Pair, tap: EventTap
) -> None:
    server = await register_server(gateway, pair.node_a["id"])
    files = write_files(pair.agent_a.server_dir(server["id"]))
    await act(gateway, server["id"], "start")
    await until(lambda: "running" in states(tap, server["id"]))

    started = await start_transfer(gateway, server["id"], pair.node_b["id"])
    assert started["data"]["phase"] == "stopping"
    assert started["data"]["restartAfter"] is True

    await transfer_ends(gateway, server["id"], "completed")
    await until(lambda: states(tap, server["id"])[-1:] == ["running"])
    assert files_under(pair.agent_b.server_dir(server["id"])) == files
    assert [f["type"] for f in pair.agent_b.frames("start_server")] == ["start_server"]
    assert (await server_of(gateway, server["id"]))["nodeId"] == pair.node_b["id"]


async def test_the_target_leaving_midway_rolls_back_to_the_source(
    gateway: httpx.AsyncClient, pair: Pair, tap: EventTap
) -> None:
    server = await register_server(gateway, pair.node_a["id"])
    source_dir = pair.agent_a.server_dir(server["id"])
    files = write_files(source_dir)

    def leave_after_first_chunk(frame: dict[str, Any]) -> None:
        if frame.get("type") == "transfer_chunk" and frame.get("seq") == 2:
            asyncio.get_running_loop().create_task(pair.agent_b.drop_connection())

    pair.agent_b.on_command = leave_after_first_chunk
    await start_transfer(gateway, server["id"], pair.node_b["id"])

    failed = await transfer_ends(gateway, server["id"], "failed")
    assert failed["nodeId"] == pair.node_a["id"]
    assert failed["state"] == "stopped"
    assert "offline" in failed["transfer"]["error"]
    assert files_under(source_dir) == files  # untouched on the source
    await tap.wait_for("server.transfer_failed", server_id=server["id"])
    target_disk = pair.agent_b.transfers.disk
    await until(lambda: not any(target_disk.staging.iterdir()))  # partial archive removed
    assert not target_disk.server_dir(server["id"]).exists()

    # Back where it was, it still works there, and can move again.
    await asyncio.wait_for(pair.agent_b.connected.wait(), 20)
    pair.agent_b.on_command = None
    await start_transfer(gateway, server["id"], pair.node_b["id"])
    await transfer_ends(gateway, server["id"], "completed")
    assert files_under(target_disk.server_dir(server["id"])) == files


async def test_a_running_server_whose_target_refuses_runs_again_on_the_source(
    gateway: httpx.AsyncClient, pair: Pair, tap: EventTap
) -> None:
    server = await register_server(gateway, pair.node_a["id"])
    source_dir = pair.agent_a.server_dir(server["id"])
    files = write_files(source_dir)
    await act(gateway, server["id"], "start")
    await until(lambda: "running" in states(tap, server["id"]))
    pair.agent_b.transfers.refuse_with = "disk full"

    await start_transfer(gateway, server["id"], pair.node_b["id"])
    failed = await transfer_ends(gateway, server["id"], "failed")
    assert failed["transfer"]["error"] == "target agent: disk full"
    assert failed["nodeId"] == pair.node_a["id"]
    await until(lambda: states(tap, server["id"])[-1:] == ["running"])
    assert states(tap, server["id"]) == [
        "starting",
        "running",
        "stopping",
        "stopped",
        "transferring",
        "stopped",
        "starting",
        "running",
    ]
    assert files_under(source_dir) == files
    assert len(pair.agent_a.frames("start_server")) == 2


async def test_an_archive_escaping_the_server_directory_is_refused(
    gateway: httpx.AsyncClient, pair: Pair
) -> None:
    """A source agent gone bad sends `../` paths: the target restores nothing, anywhere."""
    server = await register_server(gateway, pair.node_a["id"])
    files = write_files(pair.agent_a.server_dir(server["id"]))

    def evil_archive(server_dir: Path, out: Any) -> None:
        with tarfile.open(fileobj=out, mode="w|gz") as tar:
            data = b"owned"
            member = tarfile.TarInfo("../../escaped.txt")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))

    pair.agent_a.transfers.disk.archive = evil_archive  # type: ignore[method-assign]
    await start_transfer(gateway, server["id"], pair.node_b["id"])
    failed = await transfer_ends(gateway, server["id"], "failed")
    assert "Unsafe member in the archive" in failed["transfer"]["error"]
    assert failed["nodeId"] == pair.node_a["id"]
    disk_b = pair.agent_b.transfers.disk
    assert not (disk_b.data_dir / "escaped.txt").exists()
    assert not (disk_b.data_dir.parent / "escaped.txt").exists()
    assert not disk_b.server_dir(server["id"]).exists()
    assert files_under(pair.agent_a.server_dir(server["id"])) == files


async def test_transfers_that_cannot_be_are_refused_with_nothing_changed(
    gateway: httpx.AsyncClient,
    pair: Pair,
    member_user: Any,
    stack: Stack,
) -> None:
    server = await register_server(gateway, pair.node_a["id"])
    busy = await register_server(gateway, pair.node_b["id"], primaryPort=27015)
    offline = await register_node(gateway)
    cases = [
        ({"targetNodeId": pair.node_a["id"]}, 400, "already on the target"),
        ({"targetNodeId": offline["id"]}, 400, "offline"),
        ({"targetNodeId": "00000000-0000-0000-0000-000000000000"}, 404, "not found"),
        ({"targetNodeId": "not-a-uuid"}, 400, None),
        ({}, 400, None),
    ]
    for body, status, words in cases:
        response = await gateway.post(f"/api/servers/{server['id']}/transfer", json=body)
        assert response.status_code == status, response.text
        if words:
            assert words in response.json()["error"]
    taken = await gateway.post(
        f"/api/servers/{busy['id']}/transfer", json={"targetNodeId": pair.node_a["id"]}
    )
    assert taken.status_code == 200, taken.text  # 27015 is free on node A
    other = await register_server(gateway, pair.node_b["id"], primaryPort=server["primaryPort"])
    clash = await gateway.post(
        f"/api/servers/{other['id']}/transfer", json={"targetNodeId": pair.node_a["id"]}
    )
    # Node A has no port range to pick another port from: its allocations cannot move.
    assert clash.status_code == 409, clash.text
    assert clash.json()["code"] == "ALLOCATIONS_REFUSED"
    async with httpx.AsyncClient(
        base_url=stack.config.url("gateway"), headers=member_user.headers, timeout=10
    ) as member:
        forbidden = await member.post(
            f"/api/servers/{server['id']}/transfer", json={"targetNodeId": pair.node_b["id"]}
        )
    assert forbidden.status_code == 403
    after = await server_of(gateway, server["id"])
    assert after["nodeId"] == pair.node_a["id"]
    assert after["state"] == "stopped"
    assert after["transfer"] is None
    audit = await gateway.get(
        "/api/admin/audit-logs", params={"action": "server.transfer", "targetId": server["id"]}
    )
    outcomes = [e["outcome"] for e in audit.json()["data"]]
    assert outcomes == ["refused"] * 6  # five bad requests (owner's or ours) and the forbidden one
