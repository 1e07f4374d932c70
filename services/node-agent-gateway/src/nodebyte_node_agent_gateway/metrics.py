"""Prometheus metrics of the node-agent-gateway (per replica)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

AGENT_SESSIONS = Gauge("nodebyte_agent_sessions", "Agent connections held by this replica")
HANDSHAKES = Counter("nodebyte_agent_handshakes_total", "Agent handshakes by outcome", ["outcome"])
AGENT_MESSAGES = Counter(
    "nodebyte_agent_messages_total",
    "Agent frames received by type and outcome",
    ["type", "outcome"],
)
COMMANDS = Counter(
    "nodebyte_agent_commands_total", "Server commands by action and outcome", ["action", "outcome"]
)
LIVE_SUBSCRIBERS = Gauge(
    "nodebyte_live_subscribers", "Console/state subscribers connected to this replica"
)
TELEMETRY_FLUSH_FAILURES = Counter(
    "nodebyte_agent_telemetry_flush_failures_total", "Telemetry flushes that failed"
)

# Latest health of each node whose agent this replica holds.
NODE_CPU = Gauge("nodebyte_node_cpu_percent", "Node CPU usage (%)", ["node_id"])
NODE_MEMORY_USED = Gauge("nodebyte_node_memory_used_mb", "Node memory used (MB)", ["node_id"])
NODE_MEMORY_TOTAL = Gauge("nodebyte_node_memory_total_mb", "Node memory (MB)", ["node_id"])
NODE_DISK_USED = Gauge("nodebyte_node_disk_used_mb", "Node disk used (MB)", ["node_id"])
NODE_DISK_TOTAL = Gauge("nodebyte_node_disk_total_mb", "Node disk (MB)", ["node_id"])
NODE_CONTAINERS = Gauge("nodebyte_node_containers", "Containers on the node", ["node_id"])
NODE_GAUGES = (
    NODE_CPU,
    NODE_MEMORY_USED,
    NODE_MEMORY_TOTAL,
    NODE_DISK_USED,
    NODE_DISK_TOTAL,
    NODE_CONTAINERS,
)


def set_node_health(
    node_id: str,
    *,
    cpu: float,
    memory_used: float,
    memory_total: float,
    disk_used: float,
    disk_total: float,
    containers: int,
) -> None:
    NODE_CPU.labels(node_id).set(cpu)
    NODE_MEMORY_USED.labels(node_id).set(memory_used)
    NODE_MEMORY_TOTAL.labels(node_id).set(memory_total)
    NODE_DISK_USED.labels(node_id).set(disk_used)
    NODE_DISK_TOTAL.labels(node_id).set(disk_total)
    NODE_CONTAINERS.labels(node_id).set(containers)


def forget_node(node_id: str) -> None:
    """Drop a node's series when its agent leaves this replica."""
    for gauge in NODE_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(node_id)
