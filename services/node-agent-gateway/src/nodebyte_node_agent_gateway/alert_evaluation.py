"""Evaluating `resource_threshold` rules against the samples, on one replica at a time.

A condition "cpu > 90 for 300 s" holds when the value in force at the start of
the window (the last sample at or before it) and every sample since satisfy
it, and the subject is still reporting. One evaluation runs at a time across
replicas (a transaction-scoped advisory lock); raising de-duplicates anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from nodebyte_node_agent_gateway import alert_rules, alerts
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

LOCK = "nodebyte.agents.alert-evaluation"
METRIC_LABELS = {"cpu": "CPU", "memory": "Memory", "disk": "Disk"}

# The value of each metric, in percent, per sample.
NODE_METRICS = {
    "cpu": "s.cpu_percent",
    "memory": "100.0 * s.memory_used_mb / nullif(s.memory_total_mb, 0)",
    "disk": "100.0 * s.disk_used_mb / nullif(s.disk_total_mb, 0)",
}
SERVER_METRICS = {
    "cpu": "s.cpu_percent",
    "memory": "100.0 * s.memory_mb / nullif(t.allocated_memory_mb, 0)",
    "disk": "100.0 * s.disk_mb / nullif(t.allocated_disk_mb, 0)",
}


def breach_query(target: str, metric: str, operator: str) -> str:
    """SQL returning the subjects over a rule's condition for its whole duration.

    $1 duration (s), $2 lookback for the value in force (s), $3 threshold,
    $4 the one subject or NULL for all.
    """
    op = alert_rules.OPERATORS_SQL[operator]
    if target == "node":
        # float8, so usage is a number in the alert's metadata (numeric would be a string)
        source = f"""SELECT s.node_id AS subject, t.name, s.at,
                            ({NODE_METRICS[metric]})::float8 AS v
                     FROM node_samples s JOIN nodes t ON t.id = s.node_id"""
        subject = "s.node_id"
    else:
        source = f"""SELECT s.server_id AS subject, t.name, t.node_id, s.at,
                            ({SERVER_METRICS[metric]})::float8 AS v
                     FROM server_samples s JOIN servers t ON t.id = s.server_id"""
        subject = "s.server_id"
    node = "min(node_id::text)::uuid" if target == "server" else "subject"
    return f"""
        WITH w AS ({source}
                   WHERE s.at > now() - make_interval(secs => $1::float8 + $2::float8)
                     AND ($4::uuid IS NULL OR {subject} = $4))
        SELECT subject, min(name) AS name, {node} AS node_id,
               (array_agg(v ORDER BY at DESC))[1] AS latest
        FROM w GROUP BY subject
        HAVING (array_agg(v {op} $3::float8 ORDER BY at DESC)
                    FILTER (WHERE at <= now() - make_interval(secs => $1::float8)))[1]
           AND coalesce(bool_and(v {op} $3::float8)
                    FILTER (WHERE at > now() - make_interval(secs => $1::float8)), true)
           AND max(at) > now() - make_interval(secs => $2::float8)"""


class AlertEvaluation:
    def __init__(
        self, pool_of: Any, settings: NodeAgentGatewaySettings, policy: alerts.AlertPolicy
    ) -> None:
        self.pool_of = pool_of
        self.settings = settings
        self.policy = policy

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alert_evaluation_interval_seconds)
            try:
                await self.evaluate()
            except (OSError, asyncpg.PostgresError):
                log.warning("alert evaluation failed", exc_info=True)

    async def evaluate(self) -> int:
        """Raise what the threshold rules find; return how many alerts were raised."""
        raised = 0
        pool: asyncpg.Pool = self.pool_of()
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", LOCK):
                return 0
            for rule in await alert_rules.threshold_rules(conn):
                raised += await self._evaluate_rule(conn, rule)
        return raised

    async def _evaluate_rule(self, conn: asyncpg.Connection, rule: asyncpg.Record) -> int:
        c = rule["conditions"]
        metric, operator, value, duration = c["metric"], c["operator"], c["value"], c["duration"]
        subject = None if rule["target_id"] == "*" else rule["target_id"]
        rows = await conn.fetch(
            breach_query(rule["target"], metric, operator),
            float(duration),
            self.settings.offline_after_seconds,
            float(value),
            subject,
        )
        raised = 0
        for row in rows:
            latest = round(row["latest"], 1)
            what = METRIC_LABELS[metric]
            draft = alerts.AlertDraft(
                fingerprint=f"rule:{rule['id']}:resource_threshold:{row['subject']}",
                type="resource_threshold",
                severity=rule["severity"],
                title=f"High {what} usage" if operator in (">", ">=") else f"{what} usage",
                message=f"{what} usage of {rule['target']} {row['name']} is at {latest}% "
                f"({operator} {value}% for {duration} s)",
                rule_id=rule["id"],
                node_id=row["node_id"],
                server_id=row["subject"] if rule["target"] == "server" else None,
                metadata={
                    "metric": metric,
                    f"{metric}Usage": latest,
                    "operator": operator,
                    "threshold": value,
                    "duration": duration,
                },
                actions=rule["actions"],
            )
            if await alerts.raise_alert(conn, draft, self.policy):
                raised += 1
        return raised
