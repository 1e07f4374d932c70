"""SFTP against the local stack with a real client (asyncssh's), down to the agent's disk.

Each test registers a node with two servers, connects a reference agent that
keeps their files in a temporary directory, signs in as
`<username>.<server short id>` and checks the bytes there; the other server's
files must stay out of reach. Accounts get a custom role holding only the file
permissions the test means them to have.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest

from nodebyte_devstack.accounts import create_user, sign_in
from nodebyte_devstack.agent_harness import agent_url, register_node, register_server
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent

SSH_KEYS = "/api/v1/dashboard/account/ssh-keys"
BLOCK = 16_384  # an SFTP read or write of OpenSSH's size


@dataclass
class Place:
    server_id: str
    root: Path  # the server's directory on the agent
    other_root: Path  # another server's directory on the same node: never reachable
    agent: SimulatedAgent

    @property
    def short_id(self) -> str:
        return self.server_id.replace("-", "")[-8:]


@dataclass
class Account:
    username: str
    email: str
    password: str
    headers: dict[str, str]


@pytest.fixture
async def place(stack: Stack, gateway: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[Place]:
    node = await register_node(gateway)
    server = await register_server(gateway, node["id"])
    other = await register_server(gateway, node["id"])
    agent = SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")),
        node["id"],
        node["deploymentToken"],
        data_dir=tmp_path,
    )
    agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 20)
        other_root = agent.server_dir(other["id"])
        other_root.mkdir(parents=True, exist_ok=True)
        (other_root / "secret.txt").write_bytes(b"the other server's secret")
        yield Place(server["id"], agent.server_dir(server["id"]), other_root, agent)
    finally:
        await agent.stop()


async def new_account(stack: Stack, gateway: httpx.AsyncClient, permissions: list[str]) -> Account:
    """A verified account whose only role grants `permissions`, with a username."""
    role = f"Files {secrets.token_hex(3)}"
    body = {"name": role, "description": "SFTP test", "permissions": permissions}
    created = await gateway.post("/api/admin/roles", json=body)
    assert created.status_code == 201, created.text
    user, password = await create_user(gateway, roles=["MEMBER", role])
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as anonymous:
        tokens = await sign_in(anonymous, user["email"], password)
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    username = f"sftp.{secrets.token_hex(4)}"  # a dot: the login splits at the last one
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as client:
        named = await client.put(
            "/api/v1/dashboard/account", json={"username": username}, headers=headers
        )
    assert named.status_code == 200, named.text
    return Account(username, user["email"], password, headers)


@pytest.fixture
async def writer(stack: Stack, gateway: httpx.AsyncClient) -> Account:
    return await new_account(stack, gateway, ["file.read", "file.write"])


def host_key(stack: Stack) -> asyncssh.SSHKey:
    return asyncssh.import_private_key(stack.config.sftp_host_key).convert_to_public()


@contextlib.asynccontextmanager
async def sftp(
    stack: Stack, login: str, *, password: str | None = None, key: Any = None
) -> AsyncIterator[asyncssh.SFTPClient]:
    """A session as `login`; the server must present the stack's host key."""
    async with (
        asyncssh.connect(
            "127.0.0.1",
            port=stack.config.ports["sftp"],
            username=login,
            password=password,
            client_keys=[key] if key is not None else (),
            agent_path=None,
            known_hosts=([host_key(stack)], [], []),
            preferred_auth="publickey" if key is not None else "password",
        ) as conn,
        conn.start_sftp_client() as client,
    ):
        yield client


def login_of(account: Account, place: Place) -> str:
    return f"{account.username}.{place.short_id}"


async def test_password_sign_in_uploads_and_downloads_the_bytes_on_the_agents_disk(
    stack: Stack, place: Place, writer: Account, tmp_path: Path
) -> None:
    data = os.urandom(700_000) + b"tail"  # many SFTP blocks, several agent chunks
    local = tmp_path / "mod.jar"
    local.write_bytes(data)
    async with sftp(stack, login_of(writer, place), password=writer.password) as client:
        await client.mkdir("/plugins")
        # Small blocks: many requests in flight, each a part of an agent chunk.
        await client.put(str(local), "/plugins/mod.jar", block_size=BLOCK)
        assert (place.root / "plugins" / "mod.jar").read_bytes() == data
        assert (await client.stat("/plugins/mod.jar")).size == len(data)
        assert await client.listdir("/plugins") == [".", "..", "mod.jar"]
        for block_size in (BLOCK, -1):  # and the largest the server allows
            back = tmp_path / f"back-{block_size}.jar"
            await client.get("/plugins/mod.jar", str(back), block_size=block_size)
            assert back.read_bytes() == data
        async with client.open("/plugins/mod.jar", "rb") as file:  # reads from an offset
            await file.seek(len(data) - 4)
            assert await file.read() == b"tail"


async def test_rename_remove_and_mkdir_show_on_the_agents_disk(
    stack: Stack, place: Place, writer: Account
) -> None:
    async with sftp(stack, login_of(writer, place), password=writer.password) as client:
        await client.mkdir("/world")
        assert (place.root / "world").is_dir()
        async with client.open("/world/level.dat", "wb") as file:
            await file.write(b"level")
        await client.rename("/world/level.dat", "/world/level.old")
        assert not (place.root / "world" / "level.dat").exists()
        assert (place.root / "world" / "level.old").read_bytes() == b"level"
        await client.remove("/world/level.old")
        assert not (place.root / "world" / "level.old").exists()
        await client.rmdir("/world")
        assert not (place.root / "world").exists()


async def test_a_registered_key_signs_in_and_a_removed_one_no_longer_does(
    stack: Stack, place: Place, writer: Account
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    line = key.export_public_key("openssh").decode().strip() + " laptop"
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as client:
        added = await client.post(
            SSH_KEYS, json={"name": "laptop", "publicKey": line}, headers=writer.headers
        )
        assert added.status_code == 201, added.text
        stored = added.json()["data"]
        assert stored["fingerprint"] == key.get_fingerprint("sha256")
        listed = await client.get(SSH_KEYS, headers=writer.headers)
        assert [k["id"] for k in listed.json()["data"]] == [stored["id"]]
        again = await client.post(
            SSH_KEYS, json={"name": "again", "publicKey": line}, headers=writer.headers
        )
        assert again.status_code == 409, again.text
        bad = await client.post(
            SSH_KEYS,
            json={"name": "bad", "publicKey": "ssh-ed25519 AAAAnope"},
            headers=writer.headers,
        )
        assert bad.status_code == 400, bad.text

        async with (
            sftp(stack, login_of(writer, place), key=key) as session,
            session.open("/by-key.txt", "wb") as file,
        ):
            await file.write(b"signed in by key")
        assert (place.root / "by-key.txt").read_bytes() == b"signed in by key"

        stranger = asyncssh.generate_private_key("ssh-ed25519")
        with pytest.raises(asyncssh.PermissionDenied):
            async with sftp(stack, login_of(writer, place), key=stranger):
                pass

        removed = await client.delete(f"{SSH_KEYS}/{stored['id']}", headers=writer.headers)
        assert removed.status_code == 200, removed.text
    with pytest.raises(asyncssh.PermissionDenied):
        async with sftp(stack, login_of(writer, place), key=key):
            pass


async def test_wrong_password_unknown_server_and_no_file_permission_are_refused(
    stack: Stack, gateway: httpx.AsyncClient, place: Place, writer: Account
) -> None:
    refused = [
        (login_of(writer, place), writer.password + "x"),
        (f"{writer.username}.00000000", writer.password),  # no such server
        (f"nobody-{secrets.token_hex(3)}.{place.short_id}", writer.password),
        (writer.username, writer.password),  # no server named
    ]
    nothing = await new_account(stack, gateway, ["server.read"])
    refused.append((login_of(nothing, place), nothing.password))
    for login, password in refused:
        with pytest.raises(asyncssh.PermissionDenied):
            async with sftp(stack, login, password=password):
                pass
    for service in ("gateway", "node-agent-gateway"):  # tried passwords are never logged
        log = stack.processes[service].log_path.read_text()
        assert writer.password not in log  # the wrong one tried contains it
        assert nothing.password not in log


async def test_failed_passwords_count_against_the_sign_in_lockout(
    stack: Stack, place: Place, writer: Account
) -> None:
    for _ in range(5):  # the lockout's threshold
        with pytest.raises(asyncssh.PermissionDenied):
            async with sftp(stack, login_of(writer, place), password="wrong-" + writer.password):
                pass
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as anonymous:
        http = await anonymous.post(
            "/api/v1/auth/login", json={"email": writer.email, "password": writer.password}
        )
    assert http.status_code == 423, http.text
    with pytest.raises(asyncssh.PermissionDenied):  # the right password, but locked
        async with sftp(stack, login_of(writer, place), password=writer.password):
            pass


async def test_another_servers_files_are_out_of_reach(
    stack: Stack, place: Place, writer: Account, tmp_path: Path
) -> None:
    other_id = place.other_root.name
    reaching = [
        f"../{other_id}/secret.txt",
        f"/../{other_id}/secret.txt",
        f"/../../{place.other_root.parent.name}/{other_id}/secret.txt",
        str(place.other_root / "secret.txt"),  # its absolute path on the node
    ]
    async with sftp(stack, login_of(writer, place), password=writer.password) as client:
        for path in reaching:
            with pytest.raises(asyncssh.SFTPError):
                await client.get(path, str(tmp_path / "stolen"))
            with contextlib.suppress(asyncssh.SFTPError):  # in this server's root, if anywhere
                async with client.open(path.replace("secret", "planted"), "wb") as file:
                    await file.write(b"planted")
            with pytest.raises(asyncssh.SFTPError):
                await client.remove(path)
        with pytest.raises(asyncssh.SFTPError):
            await client.rename("/nothing", f"../{other_id}/moved")
        assert await client.realpath("/../..") == "/"
    assert not (tmp_path / "stolen").exists()
    assert sorted(p.name for p in place.other_root.iterdir()) == ["secret.txt"]
    assert (place.other_root / "secret.txt").read_bytes() == b"the other server's secret"
    planted = set(tmp_path.rglob("planted.txt"))  # noqa: ASYNC240 - a small directory
    assert planted == set(place.root.rglob("planted.txt"))


async def test_a_read_only_account_reads_but_cannot_change_anything(
    stack: Stack, gateway: httpx.AsyncClient, place: Place, tmp_path: Path
) -> None:
    reader = await new_account(stack, gateway, ["file.read"])
    place.root.mkdir(parents=True, exist_ok=True)
    (place.root / "server.properties").write_bytes(b"motd=hello\n")
    local = tmp_path / "upload.txt"
    local.write_bytes(b"not allowed")
    async with sftp(stack, login_of(reader, place), password=reader.password) as client:
        back = tmp_path / "back.txt"
        await client.get("/server.properties", str(back))
        assert back.read_bytes() == b"motd=hello\n"
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await client.put(str(local), "/upload.txt")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await client.mkdir("/made")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await client.rename("/server.properties", "/renamed")
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await client.remove("/server.properties")
    assert sorted(p.name for p in place.root.iterdir()) == ["server.properties"]
    assert (place.root / "server.properties").read_bytes() == b"motd=hello\n"
