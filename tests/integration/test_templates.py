"""Server templates through the public API, with a reference agent on the other end:
the agent is told the rendered startup (never `{{MEMORY}}`), writes the template's
config files to its disk, and sees a changed variable in the next start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.agent_harness import (
    EventTap,
    act,
    connect_agent,
    event_tap,
    register_node,
    unique,
    wait_state,
)
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent

STATE_CHANGED = "server.state_changed"


def minecraft(**overrides: Any) -> dict[str, Any]:
    """The reference's example template, with what it leaves implicit spelled out."""
    return {
        "name": unique("Minecraft Java"),
        "description": "Latest Minecraft server",
        "dockerImage": "itzg/minecraft-server:latest",
        "startCommand": "java -Xmx{{MEMORY}} -jar {{SERVER_JAR}}",
        "stopCommand": "stop",
        "ports": [{"internal": 25565, "external": 25565}],
        "environment": {"EULA": "{{EULA}}", "TYPE": "PAPER"},
        "variables": [
            {
                "name": "SERVER_JAR",
                "default": "server.jar",
                "rules": {"pattern": r"[\w.-]+\.jar"},
            },
            {"name": "EULA", "required": True, "rules": {"options": ["TRUE"]}},
            {"name": "LEVEL", "required": True, "rules": {"maxLength": 16}},
            {"name": "SEED", "default": "42", "userEditable": False, "rules": {"type": "integer"}},
        ],
        "configFiles": [
            {
                "path": "/server.properties",
                "content": "server-port={{SERVER_PORT}}\nlevel-name={{LEVEL}}\nseed={{SEED}}\n",
            }
        ],
        "resources": {"memoryMb": 1024, "cpuCores": 1, "diskMb": 4096},
        **overrides,
    }


async def create_template(gateway: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await gateway.post("/api/templates", json=minecraft(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def audit_actions(gateway: httpx.AsyncClient, target_id: str) -> list[str]:
    response = await gateway.get(
        "/api/admin/audit-logs", params={"targetId": target_id, "outcome": "accepted"}
    )
    assert response.status_code == 200, response.text
    return sorted(entry["action"] for entry in response.json()["data"])


def agents_url(stack: Stack) -> str:
    return stack.config.url("node-agent-gateway")


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    async with event_tap(stack.config.amqp_url, stack.config.prefix, [STATE_CHANGED]) as tap:
        yield tap


async def installed(tap: EventTap, server_id: str) -> None:
    """The install finished: the server was recorded going from installing to stopped."""
    await tap.wait_for(
        STATE_CHANGED, server_id=server_id, previous_state="installing", state="stopped"
    )


async def test_template_lifecycle_is_checked_and_audited(
    gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    template = await create_template(gateway)
    assert template["requiredVariables"] == ["EULA", "LEVEL"]
    assert template["startCommand"] == "java -Xmx{{MEMORY}} -jar {{SERVER_JAR}}"
    assert template["resources"] == {"memoryMb": 1024, "cpuCores": 1, "diskMb": 4096}
    listed = (await gateway.get("/api/templates")).json()["data"]
    assert template["id"] in {t["id"] for t in listed}
    got = (await gateway.get(f"/api/templates/{template['id']}")).json()["data"]
    assert got == template

    changed = await gateway.put(f"/api/templates/{template['id']}", json={"stopCommand": "end"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["stopCommand"] == "end"
    assert changed.json()["data"]["variables"] == template["variables"]

    deleted = await gateway.delete(f"/api/templates/{template['id']}")
    assert deleted.status_code == 200, deleted.text
    missing = await gateway.get(f"/api/templates/{template['id']}")
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    assert await audit_actions(gateway, template["id"]) == [
        "template.created",
        "template.deleted",
        "template.updated",
    ]

    # The reference's own form: requiredVariables, environment placeholders.
    reference = await create_template(
        gateway,
        startCommand="java -Xmx{{MEMORY}} -jar server.jar",
        environment={"EULA": "TRUE", "MEMORY": "{{MEMORY}}", "PORT": "{{PORT}}"},
        variables=[],
        configFiles=[],
        requiredVariables=["MEMORY", "PORT", "EULA"],
    )
    assert reference["requiredVariables"] == ["MEMORY", "PORT", "EULA"]
    eula = next(v for v in reference["variables"] if v["name"] == "EULA")
    assert eula["default"] == "TRUE"

    member = member_user.headers
    forbidden = await anonymous.post("/api/templates", json=minecraft(), headers=member)
    assert forbidden.status_code == 403
    assert (await anonymous.get("/api/templates")).status_code == 401


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"startCommand": "java -Xmx{{HEAP}} -jar x.jar"}, "HEAP"),
        ({"configFiles": [{"path": "/a.cfg", "content": "{{NOPE}}"}]}, "NOPE"),
        ({"configFiles": [{"path": "../escape.cfg", "content": "x"}]}, "path"),
        ({"variables": [{"name": "A", "rules": {"pattern": "("}}]}, "A"),
        ({"variables": [{"name": "A", "default": "x", "rules": {"type": "integer"}}]}, "A"),
        ({"variables": [{"name": "A"}, {"name": "A"}]}, "A"),
        ({"dockerImage": ""}, "dockerImage"),
    ],
)
async def test_a_template_that_cannot_render_is_refused(
    gateway: httpx.AsyncClient, overrides: dict[str, Any], named: str
) -> None:
    body = minecraft(startCommand="java -jar x.jar", configFiles=[], variables=[], **{})
    body["environment"] = {}
    body.update(overrides)
    response = await gateway.post("/api/templates", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert named in response.text


async def test_a_server_from_a_template_runs_its_rendered_startup(
    stack: Stack,
    gateway: httpx.AsyncClient,
    agents: list[SimulatedAgent],
    tap: EventTap,
    tmp_path: Path,
) -> None:
    template = await create_template(gateway)
    node = await register_node(gateway)
    agent = await connect_agent(agents, agents_url(stack), node, data_dir=tmp_path)
    base = {"name": unique("lobby"), "nodeId": node["id"], "templateId": template["id"]}

    refused = await gateway.post(
        "/api/servers", json={**base, "environment": {"LEVEL": "x" * 17, "BOGUS": "1"}}
    )
    assert refused.status_code == 400, refused.text
    body = refused.json()
    problems = {p["name"]: p["problem"] for p in body["details"]["variables"]}
    assert set(problems) == {"EULA", "LEVEL", "BOGUS"}
    assert problems["EULA"] == "is required"
    for name in ("EULA", "LEVEL", "BOGUS"):
        assert name in body["error"]
    nothing = await gateway.get("/api/servers", params={"nodeId": node["id"]})
    assert nothing.json()["data"] == []

    created = await gateway.post(
        "/api/servers", json={**base, "environment": {"EULA": "TRUE", "LEVEL": "world"}}
    )
    assert created.status_code == 201, created.text
    server = created.json()["data"]
    assert server["templateId"] == template["id"]
    assert (server["allocatedMemoryMb"], server["primaryPort"]) == (1024, 25565)
    assert server["renderedStartupCommand"] == "java -Xmx1024M -jar server.jar"

    await act(gateway, server["id"], "install")
    await installed(tap, server["id"])
    properties = agent.server_dir(server["id"]) / "server.properties"
    assert properties.read_text() == "server-port=25565\nlevel-name=world\nseed=42\n"
    install = agent.frames("install_server")[-1]
    assert install["template"]["environment"] == {
        "EULA": "TRUE",
        "TYPE": "PAPER",
        "SERVER_JAR": "server.jar",
        "LEVEL": "world",
        "SEED": "42",
    }

    await act(gateway, server["id"], "start")
    await wait_state(gateway, server["id"], "running")
    started = agent.frames("start_server")[-1]
    assert started["template"]["startCommand"] == "java -Xmx1024M -jar server.jar"

    path = f"/api/servers/{server['id']}/variables"
    bad = await gateway.put(path, json={"variables": {"SERVER_JAR": "evil; rm", "SEED": "7"}})
    assert bad.status_code == 400, bad.text
    named = {p["name"]: p["problem"] for p in bad.json()["details"]["variables"]}
    assert named == {"SERVER_JAR": r"must match [\w.-]+\.jar", "SEED": "is not user-editable"}
    changed = await gateway.put(path, json={"variables": {"SERVER_JAR": "paper.jar"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["renderedStartupCommand"] == "java -Xmx1024M -jar paper.jar"

    await act(gateway, server["id"], "stop")
    await wait_state(gateway, server["id"], "stopped")
    assert agent.frames("stop_server")[-1]["stopCommand"] == "stop"
    await act(gateway, server["id"], "start")
    await wait_state(gateway, server["id"], "running")
    assert [f["template"]["startCommand"] for f in agent.frames("start_server")] == [
        "java -Xmx1024M -jar server.jar",
        "java -Xmx1024M -jar paper.jar",
    ]

    in_use = await gateway.delete(f"/api/templates/{template['id']}")
    assert in_use.status_code == 409
    assert await audit_actions(gateway, server["id"]) == [
        "server.create",
        "server.install",
        "server.start",
        "server.start",
        "server.stop",
        "server.variables.update",
    ]


async def test_a_server_without_a_template_has_its_placeholders_filled(
    stack: Stack, gateway: httpx.AsyncClient, agents: list[SimulatedAgent], tmp_path: Path
) -> None:
    node = await register_node(gateway)
    agent = await connect_agent(agents, agents_url(stack), node, data_dir=tmp_path)
    body = {
        "name": unique("plain"),
        "nodeId": node["id"],
        "dockerImage": "itzg/minecraft-server:latest",
        "startupCommand": "java -Xmx{{MEMORY}} -jar server.jar --port {{PORT}} {{EXTRA}}",
        "allocatedMemoryMb": 1024,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 2048,
        "primaryPort": 25570,
    }
    unknown = await gateway.post("/api/servers", json=body)
    assert unknown.status_code == 400, unknown.text
    assert "EXTRA" in unknown.json()["error"]
    created = await gateway.post("/api/servers", json={**body, "environment": {"EXTRA": "nogui"}})
    assert created.status_code == 201, created.text
    server = created.json()["data"]
    await act(gateway, server["id"], "start")
    await wait_state(gateway, server["id"], "running")
    command = agent.frames("start_server")[-1]["template"]["startCommand"]
    assert command == "java -Xmx1024M -jar server.jar --port 25570 nogui"
