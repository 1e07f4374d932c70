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


# Children of labelled metrics, looked up once: `labels()` validates and locks on every
# call, which at thousands of frames a second cost more than decoding the frame.
_node_children: dict[str, tuple[Gauge, ...]] = {}
_message_children: dict[tuple[str, str], Counter] = {}


def count_message(kind: str, outcome: str) -> None:
    child = _message_children.get((kind, outcome))
    if child is None:
        child = _message_children[kind, outcome] = AGENT_MESSAGES.labels(kind, outcome)
    child.inc()


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
    children = _node_children.get(node_id)
    if children is None:
        children = _node_children[node_id] = tuple(g.labels(node_id) for g in NODE_GAUGES)
    for child, value in zip(
        children, (cpu, memory_used, memory_total, disk_used, disk_total, containers), strict=True
    ):
        child.set(value)


def forget_node(node_id: str) -> None:
    """Drop a node's series when its agent leaves this replica."""
    _node_children.pop(node_id, None)
    for gauge in NODE_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(node_id)
