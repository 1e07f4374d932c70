"""Backups through the public API with the reference agent's real archives: created
(`pending` until the agent takes them, checksum and size as on disk), restored into a
stopped server byte for byte, deleted on the node and from the list, kept within a
per-server limit; restores and deletes are audited."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.agent_harness import (
    agent_url,
    register_node,
    register_server,
    until,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

World = tuple[SimulatedAgent, str]


@pytest.fixture
async def world(stack: Stack, gateway: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[World]:
    """A connected agent keeping its files in `tmp_path`, and one server on its node."""
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")),
        node["id"],
        node["deploymentToken"],
        data_dir=tmp_path,
    )
    agent.start()
    await asyncio.wait_for(agent.connected.wait(), 20)
    yield agent, server["id"]
    await agent.stop()


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def seed_files(root: Path) -> None:
    (root / "world" / "region").mkdir(parents=True)
    (root / "world" / "level.dat").write_bytes(os.urandom(300_000))
    (root / "world" / "region" / "r.0.0.mca").write_bytes(os.urandom(70_000) * 3)
    (root / "server.properties").write_text("motd=before\nmax-players=20\n")
    (root / "plugins").mkdir()


async def backup(gateway: httpx.AsyncClient, sid: str, name: str) -> dict[str, Any]:
    """Create a backup and wait until the agent reported it complete; its listing."""
    made = await gateway.post(f"/api/servers/{sid}/backups", json={"name": name})
    assert made.status_code == 200, made.text
    backup_id = made.json()["data"]["backupId"]

    async def done() -> dict[str, Any] | None:
        for row in (await gateway.get(f"/api/servers/{sid}/backups")).json()["data"]:
            if row["id"] == backup_id and row["status"] == "completed":
                return row
        return None

    return await eventually(done, timeout=20)


async def listed(gateway: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return (await gateway.get(f"/api/servers/{sid}/backups")).json()["data"]


async def audit_entries(gateway: httpx.AsyncClient, action: str, sid: str) -> list[dict]:
    response = await gateway.get(
        "/api/admin/audit-logs", params={"action": action, "targetId": sid}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_backup_is_pending_until_the_agent_takes_it_and_records_the_archive(
    gateway: httpx.AsyncClient, world: World
) -> None:
    agent, sid = world
    seed_files(agent.runtime.server_dir(sid))
    agent.hold()
    made = await gateway.post(f"/api/servers/{sid}/backups", json={"name": "first"})
    backup_id = made.json()["data"]["backupId"]

    async def queued() -> list[dict[str, Any]]:
        return [b for b in await listed(gateway, sid) if b["id"] == backup_id]

    rows = await eventually(queued, timeout=20)
    assert rows[0]["status"] == "pending"
    agent.release()

    async def finished() -> dict[str, Any] | None:
        row = (await queued())[0]
        return row if row["status"] == "completed" else None

    row = await eventually(finished, timeout=20)
    archive = agent.runtime.data_dir / "backups" / sid / "first.tar.gz"
    on_disk = archive.read_bytes()
    assert row["checksum"] == "sha256:" + hashlib.sha256(on_disk).hexdigest()
    assert row["sizeBytes"] == len(on_disk)
    assert row["sizeMb"] == pytest.approx(len(on_disk) / 2**20, abs=0.001)


async def test_a_restore_brings_back_the_files_byte_for_byte(
    gateway: httpx.AsyncClient,
    world: World,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    agent, sid = world
    root = agent.runtime.server_dir(sid)
    seed_files(root)
    original = tree(root)
    saved = await backup(gateway, sid, "before-change")

    # The files move on: one changed, one removed, one added.
    (root / "world" / "level.dat").write_bytes(os.urandom(1000))
    (root / "server.properties").unlink()
    (root / "junk.txt").write_text("added after the backup")
    assert tree(root) != original

    # A running server is not restored under its feet.
    await gateway.post(f"/api/servers/{sid}/start")
    await wait_state(gateway, sid, "running")
    refused = await gateway.post(f"/api/servers/{sid}/backups/{saved['id']}/restore")
    assert refused.status_code == 409, refused.text
    assert "Stop the server" in refused.json()["error"]
    await gateway.post(f"/api/servers/{sid}/stop")
    await wait_state(gateway, sid, "stopped")

    # Without backup.restore: refused, nothing queued.
    support = await user_factory(roles=["SUPPORT_TEAM"])
    forbidden = await gateway.post(
        f"/api/servers/{sid}/backups/{saved['id']}/restore", headers=support.headers
    )
    assert forbidden.status_code == 403

    # While the agent is busy the server is `restoring`: nothing starts it.
    agent.hold()
    started = await gateway.post(f"/api/servers/{sid}/backups/{saved['id']}/restore")
    assert started.status_code == 200, started.text
    assert started.json()["message"] == "Backup restoration started"
    answer = started.json()["data"]
    assert (answer["backupId"], answer["action"], answer["status"]) == (
        saved["id"],
        "restore_backup",
        "pending",
    )
    await wait_state(gateway, sid, "restoring")
    assert (await gateway.post(f"/api/servers/{sid}/start")).status_code == 409
    agent.release()

    await wait_state(gateway, sid, "stopped")
    await until(lambda: agent.runtime.container(sid).state == "stopped")
    assert tree(root) == original
    frame = agent.frames("restore_backup")[0]
    assert frame["backupPath"] == saved["path"]

    entries = await audit_entries(gateway, "server.restore_backup", sid)
    outcomes = sorted(e["after"]["outcome"] for e in entries)
    assert outcomes == ["accepted", "refused"]
    accepted = next(e for e in entries if e["after"]["outcome"] == "accepted")
    assert accepted["after"]["requestId"] == answer["requestId"]


async def test_a_restore_the_agent_cannot_do_leaves_the_server_stopped(
    gateway: httpx.AsyncClient, world: World
) -> None:
    agent, sid = world
    seed_files(agent.runtime.server_dir(sid))
    saved = await backup(gateway, sid, "lost")
    (agent.runtime.data_dir / "backups" / sid / "lost.tar.gz").unlink()  # gone from the node

    started = await gateway.post(f"/api/servers/{sid}/backups/{saved['id']}/restore")
    assert started.status_code == 200, started.text
    request_id = started.json()["data"]["requestId"]

    async def failed() -> dict[str, Any] | None:
        status = await gateway.get(f"/api/servers/{sid}/commands/{request_id}")
        data = status.json()["data"]
        return data if data["status"] == "failed" else None

    outcome = await eventually(failed, timeout=20)
    assert "no such backup" in outcome["reason"]
    await wait_state(gateway, sid, "stopped")


async def test_a_deleted_backup_leaves_the_node_and_the_list(
    gateway: httpx.AsyncClient, world: World
) -> None:
    agent, sid = world
    seed_files(agent.runtime.server_dir(sid))
    kept = await backup(gateway, sid, "kept")
    doomed = await backup(gateway, sid, "doomed")
    archives = agent.runtime.data_dir / "backups" / sid
    assert (archives / "doomed.tar.gz").is_file()

    deleted = await gateway.delete(f"/api/servers/{sid}/backups/{doomed['id']}")
    assert deleted.status_code == 200, deleted.text

    async def gone() -> bool:
        return [b["id"] for b in await listed(gateway, sid)] == [kept["id"]]

    await eventually(gone, timeout=20)
    assert not (archives / "doomed.tar.gz").exists()
    assert (archives / "kept.tar.gz").is_file()

    missing = f"/api/servers/{sid}/backups/{doomed['id']}"
    assert (await gateway.delete(missing)).status_code == 404
    assert (await gateway.post(f"{missing}/restore")).status_code == 404
    entries = await audit_entries(gateway, "server.delete_backup", sid)
    assert sorted(e["after"]["outcome"] for e in entries) == ["accepted", "refused"]


async def test_the_oldest_backups_beyond_the_server_limit_are_deleted(
    gateway: httpx.AsyncClient, world: World
) -> None:
    agent, sid = world
    seed_files(agent.runtime.server_dir(sid))
    limited = await gateway.put(f"/api/servers/{sid}", json={"backupLimit": 2})
    assert limited.status_code == 200, limited.text
    assert limited.json()["data"]["backupLimit"] == 2
    assert (await gateway.put(f"/api/servers/{sid}", json={"backupLimit": 0})).status_code == 400

    first = await backup(gateway, sid, "one")
    second = await backup(gateway, sid, "two")
    third = await backup(gateway, sid, "three")

    async def trimmed() -> bool:
        return {b["id"] for b in await listed(gateway, sid)} == {second["id"], third["id"]}

    await eventually(trimmed, timeout=20)
    archives = agent.runtime.data_dir / "backups" / sid
    await until(lambda: not (archives / "one.tar.gz").exists())
    assert sorted(p.name for p in archives.iterdir()) == ["three.tar.gz", "two.tar.gz"]
    assert first["id"] not in {b["id"] for b in await listed(gateway, sid)}
