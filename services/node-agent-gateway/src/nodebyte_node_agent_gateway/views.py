"""Rows in the reference's JSON shapes (camelCase, ISO-8601 UTC timestamps)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
import msgspec

from nodebyte_common.backup_contracts import Backup
from nodebyte_common.contracts.alerts import Alert, AlertRule, Conditions, RuleAction
from nodebyte_common.contracts.nodes import Node, NodeHealth, NodeServer
from nodebyte_common.contracts.servers import (
    CommandStatus,
    ConsoleLine,
    Server,
    ServerNode,
)
from nodebyte_common.server_transfers import TransferView
from nodebyte_node_agent_gateway.startup_render import render_server


def status_of(server: asyncpg.Record) -> str:
    """The reference's single status: `suspended` overrides the runtime state."""
    return "suspended" if server["suspended_at"] is not None else server["state"]


def node_view(row: asyncpg.Record, servers: Iterable[asyncpg.Record] = ()) -> Node:
    return Node(**node_fields(row, servers))


def node_fields(row: asyncpg.Record, servers: Iterable[asyncpg.Record] = ()) -> dict[str, Any]:
    """A node's fields by attribute name (for `Node` and what extends it)."""
    health = None
    if row["health_reported_at"] is not None:
        health = NodeHealth(
            cpu_percent=row["cpu_percent"],
            memory_usage_mb=row["memory_used_mb"],
            memory_total_mb=row["memory_total_mb"],
            disk_usage_mb=row["disk_used_mb"],
            disk_total_mb=row["disk_total_mb"],
            container_count=row["container_count"],
            uptime_seconds=row["uptime_seconds"],
            reported_at=row["health_reported_at"],
        )
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "location_id": row["location_id"],
        "hostname": row["hostname"],
        "public_address": row["public_address"],
        "max_memory_mb": row["max_memory_mb"],
        "max_cpu_cores": row["max_cpu_cores"],
        "is_online": row["is_online"],
        "last_seen_at": row["last_seen_at"],
        "connected_at": row["connected_at"],
        "agent_version": row["agent_version"],
        "health": health,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "servers": [NodeServer(id=s["id"], name=s["name"], status=status_of(s)) for s in servers],
    }


def server_view(
    row: asyncpg.Record,
    node: asyncpg.Record | None = None,
    transfer: TransferView | msgspec.UnsetType | None = msgspec.UNSET,
) -> Server:
    """A server; its node and latest transfer in its details only."""
    return Server(
        id=row["id"],
        uuid=row["id"],
        name=row["name"],
        description=row["description"],
        node_id=row["node_id"],
        status=status_of(row),
        state=row["state"],
        docker_image=row["docker_image"],
        startup_command=row["startup_command"],
        rendered_startup_command=render_server(row, None).startup_command,
        template_id=row["template_id"],
        variables=row["variables"],
        environment=row["environment"],
        allocated_memory_mb=row["allocated_memory_mb"],
        allocated_cpu_cores=row["allocated_cpu_cores"],
        allocated_disk_mb=row["allocated_disk_mb"],
        primary_port=row["primary_port"],
        network_mode=row["network_mode"],
        container_name=f"nodebyte-{str(row['id'])[:8]}",
        cpu_usage=row["cpu_usage"],
        memory_usage_mb=row["memory_usage_mb"],
        disk_usage_mb=row["disk_usage_mb"],
        network_sent=row["network_sent"],
        network_received=row["network_received"],
        crash_count=row["crash_count"],
        last_crash_at=row["last_crash_at"],
        last_exit_code=row["last_exit_code"],
        restart_policy=row["restart_policy"],
        max_crash_count=row["max_crash_count"],
        backup_limit=row["backup_limit"],
        suspended_at=row["suspended_at"],
        suspended_by_user_id=row["suspended_by"],
        suspension_reason=row["suspension_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        node=msgspec.UNSET
        if node is None
        else ServerNode(
            id=node["id"], name=node["name"], hostname=node["hostname"], is_online=node["is_online"]
        ),
        transfer=transfer,
    )


def console_line_view(row: asyncpg.Record) -> ConsoleLine:
    return ConsoleLine(
        id=str(row["id"]),
        server_id=row["server_id"],
        stream=row["stream"],
        data=row["data"],
        timestamp=row["at"],
    )


def backup_view(row: asyncpg.Record) -> Backup:
    return Backup(
        id=str(row["id"]),
        server_id=str(row["server_id"]),
        name=row["name"],
        path=row["path"],
        size_mb=row["size_mb"],
        size_bytes=row["size_bytes"],
        checksum=row["checksum"],
        status=row["status"],
        error=row["error"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )


def command_view(row: asyncpg.Record) -> CommandStatus:
    return CommandStatus(
        request_id=row["request_id"],
        server_id=row["server_id"],
        node_id=row["node_id"],
        action=row["action"],
        status=row["status"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        delivered_at=row["delivered_at"],
        finished_at=row["finished_at"],
    )


def alert_view(row: asyncpg.Record) -> Alert:
    return Alert(
        id=row["id"],
        rule_id=row["rule_id"],
        server_id=row["server_id"],
        node_id=row["node_id"],
        type=row["type"],
        severity=row["severity"],
        title=row["title"],
        message=row["message"],
        metadata=row["metadata"],
        resolved=row["resolved"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        created_at=row["created_at"],
    )


def rule_view(row: asyncpg.Record) -> AlertRule:
    return AlertRule(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        target=row["target"],
        target_id=row["target_id"],
        severity=row["severity"],
        # a rule of a kind without conditions keeps `{}`; shown as the body gave it: null
        conditions=msgspec.convert(row["conditions"], Conditions) if row["conditions"] else None,
        # the sealed URL never leaves the service; only its masked hint does
        actions=[RuleAction(type=a["type"], url=a.get("urlHint")) for a in row["actions"]],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
