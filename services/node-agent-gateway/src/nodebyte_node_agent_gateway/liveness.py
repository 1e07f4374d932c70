"""Nodes that went quiet, and commands that never came back, found by any replica.

A node is offline once nothing was heard from it for `agent_offline_after_intervals`
heartbeat intervals, whether its socket closed or hangs half-open: it is marked
offline (`node.disconnected`, its socket closed if this replica holds it) and,
once per offline spell, a `node_offline` alert is raised. Commands neither
delivered nor acknowledged within the command timeout fail with "timeout".
Every replica sweeps; row locks make each finding count once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from nodebyte_common import events, outbox
from nodebyte_node_agent_gateway import alerts, command_outcomes
from nodebyte_node_agent_gateway.agent_session import CLOSE_SILENT
from nodebyte_node_agent_gateway.session_registry import SessionRegistry
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

SOURCE = "nodebyte/node-agent-gateway"


class Liveness:
    def __init__(
        self,
        pool_of: object,
        registry: SessionRegistry,
        settings: NodeAgentGatewaySettings,
        alert_policy: alerts.AlertPolicy,
    ) -> None:
        self.pool_of = pool_of
        self.registry = registry
        self.settings = settings
        self.alert_policy = alert_policy

    @property
    def period(self) -> float:
        return max(0.5, min(5.0, self.settings.agent_heartbeat_interval_seconds / 2))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.sweep()
            except (OSError, asyncpg.PostgresError):
                log.warning("liveness sweep failed", exc_info=True)

    async def sweep(self) -> None:
        pool: asyncpg.Pool = self.pool_of()  # type: ignore[operator]
        silence = self.settings.offline_after_seconds
        async with pool.acquire() as conn, conn.transaction():
            silent = await conn.fetch(
                """WITH quiet AS (
                       SELECT id, session_id FROM nodes
                       WHERE is_online AND last_seen_at < now() - make_interval(secs => $1)
                       FOR UPDATE SKIP LOCKED)
                   UPDATE nodes n SET is_online = false, session_id = NULL, replica = NULL
                   FROM quiet WHERE n.id = quiet.id RETURNING n.id, quiet.session_id""",
                silence,
            )
            for row in silent:
                await outbox.enqueue(
                    conn,
                    events.NodeDisconnected(
                        node_id=row["id"],
                        disconnected_at=datetime.now(UTC),
                        reason="heartbeat timeout",
                    ),
                    source=SOURCE,
                )
            await self._alert_offline(conn, silence)
            await command_outcomes.fail_timed_out(conn, self.settings.command_timeout_seconds)
        for row in silent:
            session = self.registry.get(row["id"])
            if session is not None and session.session_id == row["session_id"]:
                await session.close(CLOSE_SILENT, "heartbeat timeout")

    async def _alert_offline(self, conn: asyncpg.Connection, silence: float) -> None:
        nodes = await conn.fetch(
            """WITH gone AS (
                   SELECT id FROM nodes
                   WHERE NOT is_online AND NOT offline_alerted
                     AND last_seen_at < now() - make_interval(secs => $1)
                   FOR UPDATE SKIP LOCKED)
               UPDATE nodes n SET offline_alerted = true FROM gone WHERE n.id = gone.id
               RETURNING n.*""",
            silence,
        )
        for node in nodes:
            await alerts.raise_node_offline(conn, node, self.alert_policy)
