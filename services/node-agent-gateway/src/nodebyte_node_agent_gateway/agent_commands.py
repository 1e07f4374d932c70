"""What the backend sends an agent for each action (the reference's Backend → Agent messages).

Every frame carries `requestId` (our extension) so an agent that announced the
`command_ack` feature can acknowledge it; other agents ignore the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_node_agent_gateway.startup_render import render_server

BACKUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_COMMAND_LENGTH = 4096
# The actions whose frames carry the server's port bindings (the container is made/run).
BINDING_ACTIONS = frozenset({"install", "start", "restart"})
MAX_CONSOLE_INPUT = 4096
# Actions about one existing backup: their payload names it by `backupId`.
BACKUP_ACTIONS = frozenset({"restore_backup", "delete_backup"})


class InvalidPayload(ValueError):
    """The command's payload does not fit its action."""


def _resources(server: asyncpg.Record) -> dict[str, Any]:
    return {
        "allocatedMemoryMb": server["allocated_memory_mb"],
        "allocatedCpuCores": server["allocated_cpu_cores"],
        "allocatedDiskMb": server["allocated_disk_mb"],
        "primaryPort": server["primary_port"],
        "networkMode": server["network_mode"],
    }


def _bindings(allocations: Sequence[asyncpg.Record]) -> dict[str, Any]:
    """The server's allocations, and as the reference's `portBindings` (container → host)."""
    return {
        "allocations": [
            {
                "ip": a["address"],
                "port": a["port"],
                "containerPort": a["container_port"],
                "isPrimary": a["is_primary"],
            }
            for a in allocations
        ],
        "portBindings": {str(a["container_port"]): a["port"] for a in allocations},
    }


def backup_name(payload: dict[str, Any]) -> str:
    name = payload.get("name")
    if not isinstance(name, str) or not BACKUP_NAME.match(name):
        raise InvalidPayload("a backup needs a name of letters, digits, '.', '_' or '-'")
    return name


def backup_id(payload: dict[str, Any]) -> UUID:
    try:
        return UUID(str(payload.get("backupId")))
    except ValueError:
        raise InvalidPayload("backupId is not a valid id") from None


def backup_path(backup_dir: str, server_id: str, name: str) -> str:
    return f"{backup_dir}/{server_id}/{name}.tar.gz"


def console_input(payload: dict[str, Any]) -> str:
    """What the user typed, unchanged (spaces and newlines are keystrokes too)."""
    data = payload.get("data")
    if not isinstance(data, str) or not 0 < len(data) <= MAX_CONSOLE_INPUT:
        raise InvalidPayload(f"data must be 1 to {MAX_CONSOLE_INPUT} characters")
    return data


def agent_frame(
    action: str,
    server: asyncpg.Record,
    payload: dict[str, Any],
    request_id: UUID,
    *,
    server_dir: str,
    backup_dir: str,
    allocations: Sequence[asyncpg.Record] = (),
    template: asyncpg.Record | None = None,
    backup: asyncpg.Record | None = None,
) -> dict[str, Any]:
    """The frame for `action` on `server` (made from `template`, if any), its `{{VAR}}`s
    rendered; InvalidPayload when the payload is wrong.

    `backup` is the row a restore or delete is about (the caller looked it up)."""
    uuid = str(server["id"])
    base: dict[str, Any] = {
        "serverId": uuid,
        "serverUuid": uuid,
        "requestId": str(request_id),
        "suspended": server["suspended_at"] is not None,
    }
    rendered = render_server(server, template)
    if action == "install":
        install: dict[str, Any] = {
            "dockerImage": server["docker_image"],
            "environment": rendered.environment,
        }
        if rendered.config_files:
            install["configFiles"] = rendered.config_files
        return {
            "type": "install_server",
            **base,
            "template": install,
            **_resources(server),
            **_bindings(allocations),
        }
    if action == "start":
        return {
            "type": "start_server",
            **base,
            "template": {"startCommand": rendered.startup_command},
            "environment": rendered.environment,
            **_resources(server),
            **_bindings(allocations),
        }
    if action == "stop":
        timeout = payload.get("timeout", 30)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 3600:
            raise InvalidPayload("timeout must be whole seconds between 1 and 3600")
        return {
            "type": "stop_server",
            **base,
            "timeout": timeout,
            "stopCommand": rendered.stop_command,
        }
    if action == "restart":
        return {"type": "restart_server", **base, **_bindings(allocations)}
    if action == "kill":
        return {"type": "kill_server", **base}
    if action == "command":
        command = payload.get("command")
        if not isinstance(command, str) or not 0 < len(command) <= MAX_COMMAND_LENGTH:
            raise InvalidPayload(f"command must be 1 to {MAX_COMMAND_LENGTH} characters")
        return {"type": "execute_command", **base, "command": command}
    if action == "console_input":
        return {"type": "console_input", **base, "data": console_input(payload)}
    if action in BACKUP_ACTIONS:
        if backup is None:
            raise InvalidPayload("the backup does not exist")
        return _backup_frame(action, base, backup, server_dir=server_dir, backup_dir=backup_dir)
    if action == "backup":
        name = backup_name(payload)
        return {
            "type": "create_backup",
            **base,
            "backupId": str(request_id),
            "backupName": name,
            "serverDir": f"{server_dir}/{uuid}",
            "backupPath": backup_path(backup_dir, uuid, name),
        }
    raise InvalidPayload(f"unknown action {action!r}")


def _about(server_id: UUID, transfer_id: UUID) -> dict[str, Any]:
    return {
        "serverId": str(server_id),
        "serverUuid": str(server_id),
        "transferId": str(transfer_id),
    }


def transfer_receive_frame(
    server_id: UUID, transfer_id: UUID, *, server_dir: str
) -> dict[str, Any]:
    """To the target agent: get ready to restore the archive that follows in chunks."""
    return {
        "type": "transfer_receive",
        **_about(server_id, transfer_id),
        "serverDir": f"{server_dir}/{server_id}",
    }


def transfer_archive_frame(
    server_id: UUID, transfer_id: UUID, *, server_dir: str, chunk_bytes: int, window: int
) -> dict[str, Any]:
    """To the source agent: stream a tar.gz of the server's directory, `window` chunks
    unacknowledged at most."""
    return {
        "type": "transfer_archive",
        **_about(server_id, transfer_id),
        "serverDir": f"{server_dir}/{server_id}",
        "chunkBytes": chunk_bytes,
        "window": window,
    }


def transfer_abort_frame(server_id: UUID, transfer_id: UUID, reason: str) -> dict[str, Any]:
    """To both agents on rollback: the source stops sending, the target drops what it got."""
    return {"type": "transfer_abort", **_about(server_id, transfer_id), "reason": reason}


def transfer_finished_frame(server_id: UUID, transfer_id: UUID) -> dict[str, Any]:
    """To the source agent once the target has the server: remove the old copy."""
    return {"type": "transfer_finished", **_about(server_id, transfer_id)}


def _backup_frame(
    action: str,
    base: dict[str, Any],
    backup: asyncpg.Record,
    *,
    server_dir: str,
    backup_dir: str,
) -> dict[str, Any]:
    """`restore_backup` (into the server's directory) or `delete_backup`, by the archive's
    path as the agent reported it (else where create_backup put it)."""
    path = backup["path"] or backup_path(backup_dir, base["serverUuid"], backup["name"])
    frame = {
        "type": action,
        **base,
        "backupId": str(backup["id"]),
        "backupName": backup["name"],
        "backupPath": path,
    }
    if action == "restore_backup":
        frame["serverDir"] = f"{server_dir}/{base['serverUuid']}"
    return frame
