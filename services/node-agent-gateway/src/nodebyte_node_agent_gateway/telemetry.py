"""What agents report often (heartbeats, health, stats, console), written in batches.

Thousands of agents each reporting every few seconds would cost a transaction
per frame; instead frames land in memory and one transaction a second writes
them all: last-seen times (only for the node's current session), latest values,
raw samples and console lines. A failed flush keeps the last-seen times for the
next one and drops the rest (telemetry, not state).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from nodebyte_node_agent_gateway import console_store
from nodebyte_node_agent_gateway.agent_session import CLOSE_REPLACED
from nodebyte_node_agent_gateway.metrics import TELEMETRY_FLUSH_FAILURES
from nodebyte_node_agent_gateway.session_registry import SessionRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeHealth:
    cpu: float
    memory_used: int
    memory_total: int
    disk_used: int
    disk_total: int
    containers: int
    uptime: int
    at: datetime


@dataclass(frozen=True)
class ServerStats:
    cpu: float
    memory: int
    disk: int | None
    sent: int | None
    received: int | None
    at: datetime


@dataclass
class _Batch:
    seen: dict[UUID, tuple[UUID, datetime]] = field(default_factory=dict)
    health: list[tuple[UUID, NodeHealth]] = field(default_factory=list)
    stats: list[tuple[UUID, ServerStats]] = field(default_factory=list)
    console: list[console_store.ConsoleLine] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.seen or self.health or self.stats or self.console)


class TelemetryBuffer:
    def __init__(self, console_lines_per_server: int) -> None:
        self.keep_console = console_lines_per_server
        self._batch = _Batch()

    def saw(self, node_id: UUID, session_id: UUID, at: datetime) -> None:
        self._batch.seen[node_id] = (session_id, at)

    def add_health(self, node_id: UUID, health: NodeHealth) -> None:
        self._batch.health.append((node_id, health))

    def add_stats(self, server_id: UUID, stats: ServerStats) -> None:
        self._batch.stats.append((server_id, stats))

    def add_console(self, server_id: UUID, stream: str, data: str, at: datetime) -> None:
        self._batch.console.append((server_id, stream, data, at))

    async def flush(self, pool: asyncpg.Pool) -> list[tuple[UUID, UUID]]:
        """Write what came in; return (node, session) pairs that are no longer current."""
        batch, self._batch = self._batch, _Batch()
        if not batch:
            return []
        try:
            async with pool.acquire() as conn, conn.transaction():
                # Telemetry may lose its last second in a database crash; not wait for disk.
                await conn.execute("SET LOCAL synchronous_commit = off")
                stale = await _write_seen(conn, batch.seen)
                if batch.health:
                    await _write_health(conn, batch.health)
                if batch.stats:
                    await _write_stats(conn, batch.stats)
                if batch.console:
                    await console_store.append(conn, batch.console, self.keep_console)
        except Exception:
            TELEMETRY_FLUSH_FAILURES.inc()
            log.warning("telemetry flush failed; keeping last-seen times", exc_info=True)
            for node_id, seen in batch.seen.items():
                self._batch.seen.setdefault(node_id, seen)
            return []
        return stale


async def _write_seen(
    conn: asyncpg.Connection, seen: dict[UUID, tuple[UUID, datetime]]
) -> list[tuple[UUID, UUID]]:
    if not seen:
        return []
    nodes = list(seen)
    updated = await conn.fetch(
        """UPDATE nodes n SET last_seen_at = greatest(n.last_seen_at, v.at)
           FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS v(id, session_id, at)
           WHERE n.id = v.id AND n.session_id = v.session_id RETURNING n.id""",
        nodes,
        [seen[n][0] for n in nodes],
        [seen[n][1] for n in nodes],
    )
    current = {row["id"] for row in updated}
    return [(n, seen[n][0]) for n in nodes if n not in current]


async def _write_health(conn: asyncpg.Connection, reports: list[tuple[UUID, NodeHealth]]) -> None:
    columns = (
        [n for n, _ in reports],
        [h.cpu for _, h in reports],
        [h.memory_used for _, h in reports],
        [h.memory_total for _, h in reports],
        [h.disk_used for _, h in reports],
        [h.disk_total for _, h in reports],
        [h.containers for _, h in reports],
        [h.uptime for _, h in reports],
        [h.at for _, h in reports],
    )
    values = """unnest($1::uuid[], $2::real[], $3::int[], $4::int[], $5::int[], $6::int[],
                       $7::int[], $8::bigint[], $9::timestamptz[])
                AS v(id, cpu, mem_used, mem_total, disk_used, disk_total, containers, uptime, at)"""
    await conn.execute(
        f"""INSERT INTO node_samples (node_id, at, cpu_percent, memory_used_mb, memory_total_mb,
                                      disk_used_mb, disk_total_mb, container_count)
            SELECT v.id, v.at, v.cpu, v.mem_used, v.mem_total, v.disk_used, v.disk_total,
                   v.containers
            FROM {values} JOIN nodes n ON n.id = v.id""",
        *columns,
    )
    await conn.execute(
        f"""UPDATE nodes n SET cpu_percent = v.cpu, memory_used_mb = v.mem_used,
                   memory_total_mb = v.mem_total, disk_used_mb = v.disk_used,
                   disk_total_mb = v.disk_total, container_count = v.containers,
                   uptime_seconds = v.uptime, health_reported_at = v.at
            FROM (SELECT DISTINCT ON (id) * FROM {values} ORDER BY id, at DESC) v
            WHERE n.id = v.id""",
        *columns,
    )


async def _write_stats(conn: asyncpg.Connection, reports: list[tuple[UUID, ServerStats]]) -> None:
    columns = (
        [s for s, _ in reports],
        [r.cpu for _, r in reports],
        [r.memory for _, r in reports],
        [r.disk for _, r in reports],
        [r.sent for _, r in reports],
        [r.received for _, r in reports],
        [r.at for _, r in reports],
    )
    values = """unnest($1::uuid[], $2::real[], $3::int[], $4::int[], $5::bigint[], $6::bigint[],
                       $7::timestamptz[]) AS v(id, cpu, memory, disk, sent, received, at)"""
    await conn.execute(
        f"""INSERT INTO server_samples (server_id, at, cpu_percent, memory_mb, disk_mb,
                                        network_sent, network_received)
            SELECT v.id, v.at, v.cpu, v.memory, v.disk, v.sent, v.received
            FROM {values} JOIN servers s ON s.id = v.id""",
        *columns,
    )
    await conn.execute(
        f"""UPDATE servers s SET cpu_usage = v.cpu, memory_usage_mb = v.memory,
                   disk_usage_mb = coalesce(v.disk, s.disk_usage_mb),
                   network_sent = coalesce(v.sent, s.network_sent),
                   network_received = coalesce(v.received, s.network_received),
                   stats_at = v.at
            FROM (SELECT DISTINCT ON (id) * FROM {values} ORDER BY id, at DESC) v
            WHERE s.id = v.id""",
        *columns,
    )


async def flush_forever(
    buffer: TelemetryBuffer,
    pool_of: Callable[[], asyncpg.Pool],
    registry: SessionRegistry,
    period: float,
) -> None:
    """Flush every `period`; close local sessions the store says were superseded."""
    while True:
        await asyncio.sleep(period)
        for node_id, session_id in await buffer.flush(pool_of()):
            session = registry.get(node_id)
            if session is not None and session.session_id == session_id:
                await session.close(CLOSE_REPLACED, "session superseded")
