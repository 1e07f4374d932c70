"""Rows in the reference's JSON shapes (camelCase, ISO-8601 UTC timestamps)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from nodebyte_common.backup_contracts import Backup
from nodebyte_common.contracts.alerts import Alert, AlertRule, Conditions, RuleAction
from nodebyte_common.contracts.nodes import Node, NodeHealth, NodeServer
from nodebyte_node_agent_gateway.startup_render import render_server


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


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


def server_view(row: asyncpg.Record, node: asyncpg.Record | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(row["id"]),
        "uuid": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "nodeId": str(row["node_id"]),
        "status": status_of(row),
        "state": row["state"],
        "dockerImage": row["docker_image"],
        "startupCommand": row["startup_command"],
        "renderedStartupCommand": render_server(row, None).startup_command,
        "templateId": str(row["template_id"]) if row["template_id"] else None,
        "variables": row["variables"],
        "environment": row["environment"],
        "allocatedMemoryMb": row["allocated_memory_mb"],
        "allocatedCpuCores": row["allocated_cpu_cores"],
        "allocatedDiskMb": row["allocated_disk_mb"],
        "primaryPort": row["primary_port"],
        "networkMode": row["network_mode"],
        "containerName": f"nodebyte-{str(row['id'])[:8]}",
        "cpuUsage": row["cpu_usage"],
        "memoryUsageMb": row["memory_usage_mb"],
        "diskUsageMb": row["disk_usage_mb"],
        "networkSent": row["network_sent"],
        "networkReceived": row["network_received"],
        "crashCount": row["crash_count"],
        "lastCrashAt": iso(row["last_crash_at"]),
        "lastExitCode": row["last_exit_code"],
        "restartPolicy": row["restart_policy"],
        "maxCrashCount": row["max_crash_count"],
        "backupLimit": row["backup_limit"],
        "suspendedAt": iso(row["suspended_at"]),
        "suspendedByUserId": row["suspended_by"],
        "suspensionReason": row["suspension_reason"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
    if node is not None:
        view["node"] = {
            "id": str(node["id"]),
            "name": node["name"],
            "hostname": node["hostname"],
            "isOnline": node["is_online"],
        }
    return view


def console_line_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "serverId": str(row["server_id"]),
        "stream": row["stream"],
        "data": row["data"],
        "timestamp": iso(row["at"]),
    }


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
        created_at=iso(row["created_at"]),
        completed_at=iso(row["completed_at"]),
    )


def command_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "requestId": str(row["request_id"]),
        "serverId": str(row["server_id"]),
        "nodeId": str(row["node_id"]),
        "action": row["action"],
        "status": row["status"],
        "reason": row["reason"],
        "requestedBy": row["requested_by"],
        "requestedAt": iso(row["requested_at"]),
        "deliveredAt": iso(row["delivered_at"]),
        "finishedAt": iso(row["finished_at"]),
    }


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


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "total": total, "pages": (total + limit - 1) // limit}
