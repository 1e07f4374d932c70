"""A server's files through the public API, down to the reference agent's disk and back.

Each test registers a node and a server, connects a reference agent whose
servers' files live in a temporary directory, and checks the bytes there.
The hostile cases check that nothing was written outside the server's root.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.agent_harness import (
    ExtraReplica,
    agent_url,
    register_node,
    register_server,
    running_replica,
)
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent

# Names a hostile archive uses to reach out of the server (the test checks nothing lands).
HOSTILE_ABSOLUTE = "/tmp/evil-abs.txt"  # noqa: S108
HOSTILE_LINK_TARGET = "/tmp"  # noqa: S108


@dataclass
class Place:
    server_id: str
    root: Path  # the server's directory on the agent
    outside: Path  # a directory beside it, which nothing may touch
    agent: SimulatedAgent

    def files(self) -> str:
        return f"/api/servers/{self.server_id}/files"


@pytest.fixture(scope="module")
def replica_b(stack: Stack, logs_dir: Path) -> Iterator[ExtraReplica]:
    with running_replica(stack.config, logs_dir, "files-b") as replica:
        yield replica


async def _place(gateway: httpx.AsyncClient, tmp_path: Path, base_url: str) -> AsyncIterator[Place]:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    agent = SimulatedAgent(
        agent_url(base_url), node["id"], node["deploymentToken"], data_dir=tmp_path
    )
    agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 20)
        outside = tmp_path / "outside"
        outside.mkdir()
        yield Place(server["id"], agent.server_dir(server["id"]), outside, agent)
    finally:
        await agent.stop()


@pytest.fixture
async def place(stack: Stack, gateway: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[Place]:
    async for made in _place(gateway, tmp_path, stack.config.url("node-agent-gateway")):
        yield made


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return body


async def upload(
    gateway: httpx.AsyncClient, place: Place, folder: str, name: str, data: bytes
) -> httpx.Response:
    return await gateway.post(
        f"{place.files()}/upload", data={"path": folder}, files={"file": (name, data)}
    )


async def test_an_upload_lands_byte_for_byte_and_downloads_back(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    data = os.urandom(1_000_000) + b"tail"  # several chunks and a short last one
    response = await upload(gateway, place, "/plugins", "mod.jar", data)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [{"path": "/plugins/mod.jar", "size": len(data)}]
    assert (place.root / "plugins" / "mod.jar").read_bytes() == data
    assert not [p for p in (place.root / "plugins").iterdir() if p.name != "mod.jar"]

    download = await gateway.get(f"{place.files()}/download", params={"path": "/plugins/mod.jar"})
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-length"] == str(len(data))
    assert 'filename="mod.jar"' in download.headers["content-disposition"]

    listing = await gateway.get(place.files(), params={"path": "/plugins"})
    assert listing.status_code == 200, listing.text
    [entry] = listing.json()["data"]
    assert (entry["name"], entry["size"], entry["isDirectory"]) == ("mod.jar", len(data), False)


async def test_text_content_is_written_and_read(gateway: httpx.AsyncClient, place: Place) -> None:
    text = "server-port=25565\nmotd=héllo\n"
    response = await gateway.put(
        f"{place.files()}/content", json={"path": "/server.properties", "content": text}
    )
    assert response.status_code == 200, response.text
    assert (place.root / "server.properties").read_text() == text

    read = await gateway.get(f"{place.files()}/content", params={"path": "server.properties"})
    assert read.status_code == 200, read.text
    assert read.json()["data"] == {
        "path": "server.properties",
        "content": text,
        "size": len(text.encode()),
    }


async def test_content_over_the_limit_is_413_and_nothing_changes(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    (place.root / "big.log").write_bytes(b"x" * 600_000)
    error_of(await gateway.get(f"{place.files()}/content", params={"path": "/big.log"}), 413)

    too_long = {"path": "/new.txt", "content": "y" * 530_000}
    error_of(await gateway.put(f"{place.files()}/content", json=too_long), 413)
    assert not (place.root / "new.txt").exists()


async def test_rename_delete_and_folders_change_the_disk(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    made = await gateway.post(f"{place.files()}/create-folder", json={"path": "/world/region"})
    assert made.status_code == 200, made.text
    assert (place.root / "world" / "region").is_dir()
    (place.root / "a.txt").write_text("a")
    (place.root / "b.txt").write_text("b")

    renamed = await gateway.post(
        f"{place.files()}/rename", json={"from": "/a.txt", "to": "/world/a-moved.txt"}
    )
    assert renamed.status_code == 200, renamed.text
    assert not (place.root / "a.txt").exists()
    assert (place.root / "world" / "a-moved.txt").read_text() == "a"
    error_of(
        await gateway.post(f"{place.files()}/rename", json={"from": "/b.txt", "to": "/world"}), 409
    )

    gone = await gateway.delete(place.files(), params=[("path", "/b.txt"), ("path", "/world")])
    assert gone.status_code == 200, gone.text
    assert sorted(p.name for p in place.root.iterdir()) == []
    error_of(await gateway.delete(place.files(), params={"path": "/b.txt"}), 404)


async def test_compress_and_decompress_round_trip_on_disk(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    (place.root / "world").mkdir()
    (place.root / "world" / "level.dat").write_bytes(b"\x00level\xff")
    (place.root / "ops.json").write_text("[]")

    made = await gateway.post(
        f"{place.files()}/compress",
        json={"paths": ["/world", "/ops.json"], "archiveName": "/backups/snap.tar.gz"},
    )
    assert made.status_code == 200, made.text
    assert made.json()["data"] == {"archivePath": "/backups/snap.tar.gz"}
    with tarfile.open(place.root / "backups" / "snap.tar.gz") as tar:
        assert set(tar.getnames()) == {"world", "world/level.dat", "ops.json"}

    out = await gateway.post(
        f"{place.files()}/decompress",
        json={"archivePath": "/backups/snap.tar.gz", "targetPath": "/restored"},
    )
    assert out.status_code == 200, out.text
    assert (place.root / "restored" / "world" / "level.dat").read_bytes() == b"\x00level\xff"
    assert (place.root / "restored" / "ops.json").read_text() == "[]"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _exists(path: str) -> bool:
    return os.path.lexists(path)


async def test_hostile_paths_are_refused_and_nothing_leaves_the_root(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    (place.root / "escape").symlink_to(place.outside, target_is_directory=True)
    (place.outside / "secret.txt").write_text("secret")
    content = f"{place.files()}/content"
    hostile = ["../outside/secret.txt", "/../../etc/passwd", "//etc/passwd", "a/../../x"]
    for path in hostile:
        body = error_of(await gateway.get(content, params={"path": path}), 400)
        assert body["code"] == "INVALID_PATH", body
    for path in ("/escape/secret.txt", "escape/secret.txt"):
        body = error_of(await gateway.get(content, params={"path": path}), 400)
        assert body["code"] == "PATH_OUTSIDE_ROOT"
    error_of(
        await gateway.get(f"{place.files()}/download", params={"path": "/escape/secret.txt"}), 400
    )
    error_of(await gateway.get(place.files(), params={"path": "/escape"}), 400)
    writes = [
        gateway.put(content, json={"path": "/escape/evil.txt", "content": "x"}),
        gateway.put(content, json={"path": "../evil.txt", "content": "x"}),
        upload(gateway, place, "/escape", "evil.txt", b"x"),
        upload(gateway, place, "/", "../evil.txt", b"x"),
        gateway.post(f"{place.files()}/create-folder", json={"path": "/escape/evil"}),
        gateway.post(f"{place.files()}/rename", json={"from": "/escape/secret.txt", "to": "/s"}),
        gateway.post(
            f"{place.files()}/compress",
            json={"paths": ["/escape"], "archiveName": "/escape/evil.tar.gz"},
        ),
    ]
    for response in await asyncio.gather(*writes):
        error_of(response, 400)
    # The link itself may go; what it points at stays.
    assert (await gateway.delete(place.files(), params={"path": "/escape"})).status_code == 200
    assert (place.outside / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in place.outside.iterdir()) == ["secret.txt"]
    assert not list(place.root.parent.parent.glob("evil*"))


@pytest.mark.parametrize(
    ("name", "archive"),
    [
        ("slip.zip", _zip({"ok.txt": b"ok", "../../evil.txt": b"x"})),
        ("abs.zip", _zip({HOSTILE_ABSOLUTE: b"x"})),
        ("slip.tar.gz", _tar([("ok.txt", b"ok"), ("../../evil.txt", b"x")])),
        ("abs.tar.gz", _tar([(HOSTILE_ABSOLUTE, b"x")])),
        ("link.tar.gz", _tar([_link("out", "../../.."), ("out/evil.txt", b"x")])),
        ("abslink.tar.gz", _tar([_link("out", HOSTILE_LINK_TARGET)])),
    ],
    ids=["zip-slip", "zip-absolute", "tar-slip", "tar-absolute", "tar-link-out", "tar-abs-link"],
)
async def test_hostile_archives_are_refused_whole(
    gateway: httpx.AsyncClient, place: Place, name: str, archive: bytes
) -> None:
    assert (await upload(gateway, place, "/", name, archive)).status_code == 200
    response = await gateway.post(
        f"{place.files()}/decompress", json={"archivePath": f"/{name}", "targetPath": "/x"}
    )
    body = error_of(response, 400)
    assert body["code"] == "UNSAFE_ARCHIVE", body
    assert not (place.root / "x").exists()  # refused before anything was written
    assert not list(place.root.parent.parent.rglob("evil*"))
    assert not _exists(HOSTILE_ABSOLUTE)


async def test_decompress_through_a_link_out_of_the_target_is_refused(
    gateway: httpx.AsyncClient, place: Place
) -> None:
    (place.root / "x").mkdir()
    (place.root / "x" / "plugins").symlink_to(place.outside, target_is_directory=True)
    archive = _tar([("plugins/evil.txt", b"x")])
    assert (await upload(gateway, place, "/", "innocent.tar.gz", archive)).status_code == 200
    response = await gateway.post(
        f"{place.files()}/decompress",
        json={"archivePath": "/innocent.tar.gz", "targetPath": "/x"},
    )
    error_of(response, 400)
    assert list(place.outside.iterdir()) == []


async def test_file_routes_need_their_permissions(
    user_factory: Any, place: Place, stack: Stack
) -> None:
    support: SignedInUser = await user_factory(["SUPPORT_TEAM"])
    admin: SignedInUser = await user_factory(["ADMINISTRATOR"])
    base = stack.config.url("gateway")
    async with httpx.AsyncClient(base_url=base, headers=support.headers, timeout=10) as client:
        error_of(await client.get(place.files()), 403)
        error_of(await client.delete(place.files(), params={"path": "/x"}), 403)
    async with httpx.AsyncClient(base_url=base, headers=admin.headers, timeout=10) as client:
        assert (await client.get(place.files())).status_code == 200


async def test_writes_and_deletes_are_audited(
    gateway: httpx.AsyncClient, place: Place, admin_conn: Any
) -> None:
    await gateway.put(f"{place.files()}/content", json={"path": "/a.txt", "content": "a"})
    await gateway.delete(place.files(), params={"path": "/nope.txt"})
    rows = await admin_conn.fetch(
        """SELECT action, outcome, after->>'code' AS code, after->'request' AS asked
           FROM gateway.audit_logs
           WHERE target_type = 'server' AND target_id = $1
             AND action LIKE 'server.file%' ORDER BY id""",  # not its creation's
        place.server_id,
    )
    assert [(r["action"], r["outcome"], r["code"]) for r in rows] == [
        ("server.file_written", "accepted", None),
        ("server.files_delete", "refused", "NOT_FOUND"),
    ]
    assert [json.loads(r["asked"]) for r in rows] == [{"path": "/a.txt"}, {"path": "/nope.txt"}]


async def test_a_node_held_by_another_replica_is_reached(
    replica_b: ExtraReplica, gateway: httpx.AsyncClient, tmp_path: Path
) -> None:
    async for place in _place(gateway, tmp_path, replica_b.url):
        data = os.urandom(700_000)
        response = await upload(gateway, place, "/", "far.bin", data)
        assert response.status_code == 200, response.text
        assert (place.root / "far.bin").read_bytes() == data
        download = await gateway.get(f"{place.files()}/download", params={"path": "far.bin"})
        assert download.content == data
        error_of(await gateway.get(place.files(), params={"path": "../x"}), 400)
        listing = await gateway.get(place.files())
        assert [e["name"] for e in listing.json()["data"]] == ["far.bin"]


async def test_an_offline_node_is_told_at_once(gateway: httpx.AsyncClient, place: Place) -> None:
    await place.agent.stop()
    await asyncio.sleep(0.5)
    body = error_of(await gateway.get(place.files()), 409)
    assert body["code"] == "NODE_OFFLINE"


@pytest.fixture(scope="module")
def small_upload_gateway(stack: Stack) -> str:
    """Another gateway process of the stack whose uploads stop at 300 000 bytes a file."""
    port = stack.start_extra_replica("gateway", env={"FILE_UPLOAD_MAX_BYTES": "300000"})
    return f"http://127.0.0.1:{port}"


async def test_an_upload_over_the_limit_is_413_and_leaves_nothing(
    small_upload_gateway: str, stack: Stack, place: Place
) -> None:
    async with httpx.AsyncClient(
        base_url=small_upload_gateway,
        headers={"X-API-Key": stack.config.admin_api_key},
        timeout=20,
    ) as client:
        fits = await upload(client, place, "/", "fits.bin", b"f" * 300_000)
        assert fits.status_code == 200, fits.text
        body = error_of(await upload(client, place, "/", "huge.bin", os.urandom(2_000_000)), 413)
        assert body["code"] == "PAYLOAD_TOO_LARGE"
    await asyncio.sleep(0.5)  # the agent drops the half-written file as the transfer aborts
    assert sorted(p.name for p in place.root.iterdir()) == ["fits.bin"]
