"""Databases for game servers, made on a real MariaDB host through the public API.

Proof is taken where the customer stands: logging in to MariaDB (127.0.0.1:3306)
with the credentials the API showed, using the database, being refused anything
else, and finding the database and user gone on MariaDB after a delete. The
tests FAIL, never skip, when MariaDB is not there (CI has it). Everything made
on MariaDB (admin accounts, databases, users) is dropped at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pymysql
import pytest

from nodebyte_devstack.agent_harness import register_node, register_server, unique
from nodebyte_devstack.mariadb import (
    MARIADB_HOST,
    MARIADB_PORT,
    MariaDbAccounts,
    exists_on_mariadb,
    fetch,
    mariadb,
)
from nodebyte_devstack.processes import Stack

# db access, login, table access, privilege; 1698 is the login refusal MariaDB gives
# some attempts (seen after the user was dropped, on a busy server)
DENIED = {1044, 1045, 1142, 1227, 1698}


async def refused(action: Callable[[], Awaitable[Any]]) -> int:
    """The MariaDB error code `action` fails with (it must fail with a refusal)."""
    with pytest.raises(pymysql.MySQLError) as failure:
        await action()
    code = failure.value.args[0]
    assert code in DENIED, failure.value
    return code


@pytest.fixture
async def new_server(
    gateway: httpx.AsyncClient, accounts: MariaDbAccounts
) -> Callable[[], Awaitable[str]]:
    node: dict[str, Any] = {}

    async def make() -> str:
        if not node:
            node.update(await register_node(gateway))
        server = await register_server(gateway, node["id"])
        accounts.server(server["id"])
        return str(server["id"])

    return make


async def create_database(
    gateway: httpx.AsyncClient, server_id: str, host_id: str, name: str
) -> dict[str, Any]:
    response = await gateway.post(
        f"/api/servers/{server_id}/databases", json={"hostId": host_id, "name": name}
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def use(database: dict[str, Any], password: str | None = None) -> Any:
    return await mariadb(database["username"], password or database["password"], database["name"])


# --- database hosts ----------------------------------------------------------------


async def test_a_host_is_registered_only_with_a_working_admin_login(
    gateway: httpx.AsyncClient, accounts: MariaDbAccounts, admin_conn: asyncpg.Connection
) -> None:
    user, password = await accounts.admin()
    body = {"name": unique("mariadb"), "host": MARIADB_HOST, "username": user}

    wrong = await gateway.post("/api/admin/database-hosts", json={**body, "password": "wrong"})
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["code"] == "DATABASE_HOST_LOGIN_FAILED"
    closed_port = {**body, "password": password, "port": 1}
    unreachable = await gateway.post("/api/admin/database-hosts", json=closed_port)
    assert unreachable.status_code == 400, unreachable.text
    assert unreachable.json()["code"] == "DATABASE_HOST_UNREACHABLE"
    weak_user, weak_password = await accounts.admin(grant_option=False)
    weak = {**body, "username": weak_user, "password": weak_password}
    lacking = await gateway.post("/api/admin/database-hosts", json=weak)
    assert lacking.status_code == 400, lacking.text
    assert lacking.json()["code"] == "DATABASE_HOST_PRIVILEGES"
    no_node = {**body, "password": password, "nodeId": "00000000-0000-7000-8000-000000000000"}
    unknown_node = await gateway.post("/api/admin/database-hosts", json=no_node)
    assert unknown_node.status_code == 400, unknown_node.text
    assert unknown_node.json()["code"] == "NODE_NOT_FOUND"
    listed = (await gateway.get("/api/admin/database-hosts")).json()["data"]
    assert body["name"] not in {h["name"] for h in listed}  # nothing stored

    node = await register_node(gateway)
    linked = {**body, "password": password, "nodeId": node["id"], "locationId": "eu-west"}
    made = await gateway.post("/api/admin/database-hosts", json=linked)
    assert made.status_code == 201, made.text
    host = made.json()["data"]
    assert (host["nodeId"], host["locationId"]) == (node["id"], "eu-west")
    assert "password" not in host
    assert password not in made.text
    listing = await gateway.get("/api/admin/database-hosts")
    assert password not in listing.text
    assert next(h for h in listing.json()["data"] if h["id"] == host["id"])["username"] == user
    again = await gateway.post("/api/admin/database-hosts", json={**body, "password": password})
    assert again.status_code == 409
    # At rest the password is sealed (AES-GCM), never stored as given.
    sealed = await admin_conn.fetchval(
        "SELECT password_sealed FROM agents.database_hosts WHERE id = $1", host["id"]
    )
    assert sealed.startswith("nbs1.")
    assert password not in sealed
    removed = await gateway.delete(f"/api/admin/database-hosts/{host['id']}")
    assert removed.status_code == 200, removed.text


async def test_only_administrators_manage_hosts_and_databases(
    gateway: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[Any]],
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id = await new_server()
    member = await user_factory(["SUPPORT_TEAM"])
    administrator = await user_factory(["ADMINISTRATOR"])
    as_member = {"Authorization": f"Bearer {member.access_token}"}
    as_admin = {"Authorization": f"Bearer {administrator.access_token}"}
    paths = ["/api/admin/database-hosts", f"/api/servers/{server_id}/databases"]
    for path in paths:
        assert (await gateway.get(path, headers=as_member)).status_code == 403
        assert (await gateway.get(path, headers=as_admin)).status_code == 200
    body = {"hostId": db_host["id"], "name": "nope"}
    creating = await gateway.post(paths[1], json=body, headers=as_member)
    assert creating.status_code == 403


# --- databases: made, used, refused elsewhere --------------------------------------


async def test_the_user_works_in_its_database_and_is_refused_everywhere_else(
    gateway: httpx.AsyncClient,
    root: Any,
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id, other_server_id = await new_server(), await new_server()
    database = await create_database(gateway, server_id, db_host["id"], "main")
    other = await create_database(gateway, other_server_id, db_host["id"], "main")
    assert database["name"].endswith("_main")
    assert database["name"] != other["name"]
    assert (database["host"], database["port"]) == (MARIADB_HOST, MARIADB_PORT)
    assert database["hostId"] == db_host["id"]
    assert database["password"]

    conn = await use(database)
    try:
        await fetch(conn, "CREATE TABLE players (id INT PRIMARY KEY, name VARCHAR(32))")
        await fetch(conn, "INSERT INTO players VALUES (1, 'steve')")
        assert await fetch(conn, "SELECT name FROM players") == [("steve",)]
        await refused(lambda: fetch(conn, "SELECT User FROM mysql.user"))
        await refused(lambda: fetch(conn, f"SELECT 1 FROM `{other['name']}`.t"))
        await refused(lambda: fetch(conn, "CREATE DATABASE s00000000_mine"))
        # `_` is a wildcard in a database grant: a look-alike name must not be covered.
        look_alike = database["name"].replace("_", "x", 1)
        await fetch(root, f"CREATE DATABASE `{look_alike}`")
        await refused(lambda: fetch(conn, f"CREATE TABLE `{look_alike}`.t (i INT)"))
    finally:
        conn.close()
    await refused(lambda: use(database, other["password"]))  # nor another's password
    await refused(lambda: mariadb(database["username"], database["password"], "mysql"))

    listed = await gateway.get(f"/api/servers/{server_id}/databases")
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["data"]] == [database["id"]]
    assert "password" not in listed.json()["data"][0]
    assert database["password"] not in listed.text  # shown once, never again


async def test_rotating_ends_the_old_password_and_deleting_drops_both(
    gateway: httpx.AsyncClient,
    stack: Stack,
    root: Any,
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id = await new_server()
    database = await create_database(gateway, server_id, db_host["id"], "world")
    before = await use(database)
    path = f"/api/servers/{server_id}/databases/{database['id']}"

    rotated = await gateway.post(f"{path}/rotate-password")
    assert rotated.status_code == 200, rotated.text
    new_password = rotated.json()["data"]["password"]
    assert new_password != database["password"]
    await refused(lambda: use(database))  # the old password no longer logs in
    with pytest.raises(pymysql.MySQLError):  # and its open session was ended
        await fetch(before, "SELECT 1")
    before.close()
    conn = await use(database, new_password)
    await fetch(conn, "CREATE TABLE t (i INT)")
    conn.close()
    listed = await gateway.get(f"/api/servers/{server_id}/databases")
    assert new_password not in listed.text
    assert listed.json()["data"][0]["passwordRotatedAt"] is not None

    deleted = await gateway.delete(path)
    assert deleted.status_code == 200, deleted.text
    assert await exists_on_mariadb(root, database) == (False, False)
    await refused(lambda: use(database, new_password))
    assert (await gateway.get(f"/api/servers/{server_id}/databases")).json()["data"] == []
    assert (await gateway.delete(path)).status_code == 404

    log = await gateway.get(
        "/api/admin/audit-logs", params={"action": "database.*", "targetId": server_id}
    )
    entries = log.json()["data"]
    actions = [(e["action"], e["after"]["outcome"]) for e in entries]
    assert actions == [  # newest first; the second delete found nothing
        ("database.deleted", "failed"),
        ("database.deleted", "succeeded"),
        ("database.password_rotated", "succeeded"),
        ("database.created", "succeeded"),
    ]
    assert {e["actor"]["type"] for e in entries} == {"api_key"}
    assert new_password not in log.text
    assert database["password"] not in log.text
    secrets_shown = (new_password, database["password"], db_host["adminPassword"])
    for service in ("gateway", "node-agent-gateway"):
        written = stack.processes[service].log_path.read_text()
        assert not [s for s in secrets_shown if s in written], service


async def test_hostile_names_are_refused_and_nothing_is_made(
    gateway: httpx.AsyncClient,
    root: Any,
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id = await new_server()
    short = server_id.replace("-", "")[-8:]
    hostile = [
        "a`b",
        "x; DROP DATABASE mysql; --",
        "../etc",
        "",
        "a" * 49,
        "naïve",
        "with space",
        "x%",
        "a'b",
    ]
    for name in hostile:
        response = await gateway.post(
            f"/api/servers/{server_id}/databases", json={"hostId": db_host["id"], "name": name}
        )
        assert response.status_code == 400, (name, response.text)
        assert response.json()["success"] is False
    for raw in (b"{not json", b"[]", b"", b'{"hostId": "%s", "name": "ok", "drop": 1}'):
        body = raw.replace(b"%s", db_host["id"].encode())
        response = await gateway.post(
            f"/api/servers/{server_id}/databases",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
    assert await fetch(root, "SHOW DATABASES LIKE %s", (f"s{short}%",)) == []
    assert await fetch(root, "SHOW DATABASES LIKE 'mysql'") == [("mysql",)]
    unknown_host = await gateway.post(
        f"/api/servers/{server_id}/databases",
        json={"hostId": "00000000-0000-7000-8000-000000000000", "name": "ok"},
    )
    assert unknown_host.status_code == 400
    assert unknown_host.json()["code"] == "DATABASE_HOST_NOT_FOUND"
    first = await create_database(gateway, server_id, db_host["id"], "same")
    twice = await gateway.post(
        f"/api/servers/{server_id}/databases", json={"hostId": db_host["id"], "name": "same"}
    )
    assert twice.status_code == 409, twice.text
    assert (await exists_on_mariadb(root, first)) == (True, True)  # the first is untouched


async def test_deleting_a_server_drops_its_databases_and_frees_the_host(
    gateway: httpx.AsyncClient,
    root: Any,
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id = await new_server()
    one = await create_database(gateway, server_id, db_host["id"], "one")
    two = await create_database(gateway, server_id, db_host["id"], "two")
    in_use = await gateway.delete(f"/api/admin/database-hosts/{db_host['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["code"] == "DATABASE_HOST_IN_USE"

    deleted = await gateway.delete(f"/api/servers/{server_id}")
    assert deleted.status_code == 200, deleted.text
    for database in (one, two):
        assert await exists_on_mariadb(root, database) == (False, False)
    freed = await gateway.delete(f"/api/admin/database-hosts/{db_host['id']}")
    assert freed.status_code == 200, freed.text


async def test_a_host_that_refuses_its_admin_changes_nothing(
    gateway: httpx.AsyncClient,
    root: Any,
    db_host: dict[str, Any],
    new_server: Callable[[], Awaitable[str]],
) -> None:
    server_id = await new_server()
    kept = await create_database(gateway, server_id, db_host["id"], "kept")
    await fetch(root, "ALTER USER %s@'%%' IDENTIFIED BY %s", (db_host["username"], "changed"))
    try:
        made = await gateway.post(
            f"/api/servers/{server_id}/databases", json={"hostId": db_host["id"], "name": "new"}
        )
        assert made.status_code == 503, made.text
        assert made.json()["code"] == "DATABASE_HOST_LOGIN_FAILED"
        path = f"/api/servers/{server_id}/databases/{kept['id']}"
        assert (await gateway.delete(path)).status_code == 503
        assert (await gateway.delete(f"/api/servers/{server_id}")).status_code == 503
        listed = (await gateway.get(f"/api/servers/{server_id}/databases")).json()["data"]
        assert [d["id"] for d in listed] == [kept["id"]]
        assert await exists_on_mariadb(root, kept) == (True, True)
    finally:
        await fetch(
            root,
            "ALTER USER %s@'%%' IDENTIFIED BY %s",
            (db_host["username"], db_host["adminPassword"]),
        )
    assert (await gateway.delete(f"/api/servers/{server_id}")).status_code == 200
    assert await exists_on_mariadb(root, kept) == (False, False)
