"""The frames sent to agents for each action."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from nodebyte_node_agent_gateway.agent_commands import InvalidPayload, agent_frame

SERVER: dict[str, Any] = {
    "id": uuid4(),
    "docker_image": "itzg/minecraft-server:latest",
    "startup_command": "java -jar server.jar",
    "environment": {"EULA": "TRUE"},
    "allocated_memory_mb": 4096,
    "allocated_cpu_cores": 2,
    "allocated_disk_mb": 10240,
    "primary_port": 25565,
    "network_mode": "bridge",
    "suspended_at": None,
}


def frame(action: str, payload: dict[str, Any] | None = None, **server: Any) -> dict[str, Any]:
    return agent_frame(
        action,
        {**SERVER, **server},
        payload or {},
        uuid4(),
        server_dir="/srv",
        backup_dir="/backups",
    )


def test_start_carries_what_the_reference_agent_needs() -> None:
    start = frame("start")
    assert start["type"] == "start_server"
    assert start["serverId"] == start["serverUuid"] == str(SERVER["id"])
    assert start["template"] == {"startCommand": "java -jar server.jar"}
    assert start["environment"] == {"EULA": "TRUE"}
    assert start["allocatedMemoryMb"] == 4096
    assert start["suspended"] is False
    assert start["requestId"]


def test_install_names_the_image_and_stop_the_timeout() -> None:
    assert frame("install")["template"]["dockerImage"] == "itzg/minecraft-server:latest"
    assert frame("stop")["timeout"] == 30
    assert frame("stop", {"timeout": 5})["timeout"] == 5
    assert frame("stop", suspended_at=datetime.now(UTC))["suspended"] is True
    assert frame("kill")["type"] == "kill_server"
    assert frame("restart")["type"] == "restart_server"


def test_commands_and_backups_check_their_payload() -> None:
    assert frame("command", {"command": "say hi"})["command"] == "say hi"
    backup = frame("backup", {"name": "nightly"})
    assert backup["backupPath"] == f"/backups/{SERVER['id']}/nightly.tar.gz"
    assert backup["backupId"] == backup["requestId"]
    for action, payload in [
        ("command", {}),
        ("command", {"command": "x" * 5000}),
        ("stop", {"timeout": "soon"}),
        ("stop", {"timeout": True}),
        ("backup", {"name": "../../etc"}),
        ("backup", {}),
        ("teleport", {}),
    ]:
        with pytest.raises(InvalidPayload):
            frame(action, payload)


def test_install_and_start_carry_the_port_bindings() -> None:
    bindings = [
        {"address": "10.0.0.5", "port": 25565, "container_port": 25565, "is_primary": True},
        {"address": "10.0.0.6", "port": 25565, "container_port": 25575, "is_primary": False},
    ]
    for action in ("install", "start"):
        sent = agent_frame(
            action, SERVER, {}, uuid4(), server_dir="/s", backup_dir="/b", allocations=bindings
        )
        assert sent["portBindings"] == {"25565": 25565, "25575": 25565}
        assert sent["allocations"][1] == {
            "ip": "10.0.0.6",
            "port": 25565,
            "containerPort": 25575,
            "isPrimary": False,
        }
    assert "portBindings" not in frame("stop")
