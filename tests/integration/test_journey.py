"""One host's day, start to finish, through the public API (issue #20's "how this is
checked"): an operator makes a template and two nodes with IP pools; a server is
provisioned from the template on the first node, given a second port and a MariaDB
database, and transferred to the second node. Each step is checked where its user
stands: the reference agents' disks and runtimes, MariaDB logged in to with the
credentials the API showed, the allocations as listed, the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from nodebyte_devstack.agent_harness import (
    act,
    connect_agent,
    files_under,
    register_node,
    server_of,
    unique,
    until,
    wait_state,
)
from nodebyte_devstack.mariadb import MariaDbAccounts, exists_on_mariadb, fetch, mariadb
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent import SimulatedAgent

PORTS = {"start": 25565, "end": 25569}
POOL_A = {"addresses": ["10.91.0.1"], "portRanges": [PORTS]}
POOL_B = {"addresses": ["10.92.0.1"], "portRanges": [PORTS]}
RCON = 25575  # the second port's container side

TEMPLATE = {
    "description": "Paper with a world seed",
    "dockerImage": "itzg/minecraft-server:latest",
    "startCommand": "java -Xmx{{MEMORY}} -jar {{SERVER_JAR}} --port {{SERVER_PORT}}",
    "stopCommand": "stop",
    "ports": [{"internal": 25565, "external": 25565}],
    "environment": {"EULA": "TRUE"},
    "variables": [
        {"name": "SERVER_JAR", "default": "paper.jar", "rules": {"pattern": r"[\w.-]+\.jar"}},
        {"name": "LEVEL", "required": True, "rules": {"maxLength": 16}},
    ],
    "configFiles": [
        {"path": "/server.properties", "content": "server-port={{SERVER_PORT}}\nlevel={{LEVEL}}\n"}
    ],
    "resources": {"memoryMb": 2048, "cpuCores": 2, "diskMb": 8192},
}


async def pooled_node(gateway: httpx.AsyncClient, pool: dict[str, Any]) -> dict[str, Any]:
    node = await register_node(gateway)
    response = await gateway.put(f"/api/nodes/{node['id']}/ip-pool", json=pool)
    assert response.status_code == 200, response.text
    return node


async def allocations_of(gateway: httpx.AsyncClient, server_id: str) -> list[tuple[Any, ...]]:
    """(node, ip, port, container port, primary) of each allocation, primary first."""
    response = await gateway.get(f"/api/servers/{server_id}/allocations")
    assert response.status_code == 200, response.text
    return [
        (a["nodeId"], a["ip"], a["port"], a["containerPort"], a["isPrimary"])
        for a in response.json()["data"]
    ]


async def transfer_done(gateway: httpx.AsyncClient, server_id: str) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        server = await server_of(gateway, server_id)
        transfer = server["transfer"]
        assert transfer is None or transfer["phase"] != "failed", transfer
        return server if transfer and transfer["phase"] == "completed" else None

    return await eventually(ended, timeout=60)


async def test_a_server_is_provisioned_given_a_port_and_a_database_and_moved(
    stack: Stack,
    gateway: httpx.AsyncClient,
    agents: list[SimulatedAgent],
    accounts: MariaDbAccounts,
    db_host: dict[str, Any],
    root: Any,
    tmp_path: Path,
) -> None:
    agents_url = stack.config.url("node-agent-gateway")
    # The operator: a template, two nodes with their pools, their agents connected.
    made = await gateway.post("/api/templates", json={**TEMPLATE, "name": unique("paper")})
    assert made.status_code == 201, made.text
    template = made.json()["data"]
    node_a, node_b = await pooled_node(gateway, POOL_A), await pooled_node(gateway, POOL_B)
    agent_a = await connect_agent(agents, agents_url, node_a, data_dir=tmp_path / "a")
    agent_b = await connect_agent(agents, agents_url, node_b, data_dir=tmp_path / "b")

    # A server from the template on node A: its primary allocation comes from A's pool.
    body = {"name": unique("survival"), "nodeId": node_a["id"], "templateId": template["id"]}
    created = await gateway.post("/api/servers", json={**body, "environment": {"LEVEL": "world"}})
    assert created.status_code == 201, created.text
    server = created.json()["data"]
    sid = server["id"]
    accounts.server(sid)
    assert server["renderedStartupCommand"] == "java -Xmx2048M -jar paper.jar --port 25565"
    assert await allocations_of(gateway, sid) == [(node_a["id"], "10.91.0.1", 25565, 25565, True)]
    await act(gateway, sid, "install")
    properties = agent_a.server_dir(sid) / "server.properties"
    await until(properties.exists)
    assert properties.read_text() == "server-port=25565\nlevel=world\n"
    await wait_state(gateway, sid, "stopped")

    # A second port, then a start: A's agent publishes both on A's address.
    second = await gateway.post(f"/api/servers/{sid}/allocations", json={"containerPort": RCON})
    assert second.status_code == 200, second.text
    assert await allocations_of(gateway, sid) == [
        (node_a["id"], "10.91.0.1", 25565, 25565, True),
        (node_a["id"], "10.91.0.1", 25566, RCON, False),
    ]
    await act(gateway, sid, "start")
    await wait_state(gateway, sid, "running")
    start_a = agent_a.frames("start_server")[-1]
    assert start_a["template"]["startCommand"] == "java -Xmx2048M -jar paper.jar --port 25565"
    assert start_a["portBindings"] == {"25565": 25565, str(RCON): 25566}
    assert agent_a.runtime.containers[sid].bindings == [
        "10.91.0.1:25565->25565",
        f"10.91.0.1:25566->{RCON}",
    ]

    # A database on the MariaDB host: the shown credentials work, for that database.
    asked = {"hostId": db_host["id"], "name": "players"}
    made_db = await gateway.post(f"/api/servers/{sid}/databases", json=asked)
    assert made_db.status_code == 201, made_db.text
    database = made_db.json()["data"]
    assert await exists_on_mariadb(root, database) == (True, True)
    conn = await mariadb(database["username"], database["password"], database["name"])
    try:
        await fetch(conn, "CREATE TABLE scores (name VARCHAR(16) PRIMARY KEY, points INT)")
        await fetch(conn, "INSERT INTO scores VALUES ('alex', 12)")
    finally:
        conn.close()

    # The game writes its world; then the server moves to node B while it runs.
    source_dir = agent_a.server_dir(sid)  # (asking the agent again would make it anew)
    (source_dir / "world").mkdir()
    (source_dir / "world" / "level.dat").write_bytes(bytes(range(256)) * 2048)
    on_a = files_under(source_dir)
    moving = await gateway.post(f"/api/servers/{sid}/transfer", json={"targetNodeId": node_b["id"]})
    assert moving.status_code == 200, moving.text
    assert moving.json()["data"]["restartAfter"] is True
    done = await transfer_done(gateway, sid)
    assert done["nodeId"] == node_b["id"]
    running = await wait_state(gateway, sid, "running")
    assert running["nodeId"] == node_b["id"]

    # Its bytes are on B's disk (and gone from A's), its allocations on B's address,
    # and B's agent runs it with both ports bound there.
    assert files_under(agent_b.server_dir(sid)) == on_a
    await until(lambda: not source_dir.exists())  # once B has it
    assert await allocations_of(gateway, sid) == [
        (node_b["id"], "10.92.0.1", 25565, 25565, True),
        (node_b["id"], "10.92.0.1", 25566, RCON, False),
    ]
    start_b = agent_b.frames("start_server")[-1]
    assert start_b["portBindings"] == {"25565": 25565, str(RCON): 25566}
    assert agent_b.runtime.containers[sid].bindings == [
        "10.92.0.1:25565->25565",
        f"10.92.0.1:25566->{RCON}",
    ]
    pool_a = (await gateway.get(f"/api/nodes/{node_a['id']}/ip-pool")).json()["data"]
    assert pool_a["allocated"] == 0  # A's addresses are free for others again

    # The database went nowhere: same credentials, same rows.
    conn = await mariadb(database["username"], database["password"], database["name"])
    try:
        assert await fetch(conn, "SELECT name, points FROM scores") == [("alex", 12)]
    finally:
        conn.close()
    listed = (await gateway.get(f"/api/servers/{sid}/databases")).json()["data"]
    assert [d["id"] for d in listed] == [database["id"]]

    # Every step is in the audit log, accepted, against this server.
    audit = await gateway.get("/api/admin/audit-logs", params={"targetId": sid, "limit": 100})
    actions = {(e["action"], e["outcome"]) for e in audit.json()["data"]}
    for action in ("server.create", "server.install", "server.start", "server.transfer"):
        assert (action, "accepted") in actions, sorted(actions)
    assert {"server.allocation.create", "database.created"} <= {a for a, _ in actions}

    # Stopped and deleted: its database and user leave MariaDB, its files B's disk.
    await act(gateway, sid, "stop")
    await wait_state(gateway, sid, "stopped")
    deleted = await gateway.delete(f"/api/servers/{sid}")
    assert deleted.status_code == 200, deleted.text
    assert await exists_on_mariadb(root, database) == (False, False)
