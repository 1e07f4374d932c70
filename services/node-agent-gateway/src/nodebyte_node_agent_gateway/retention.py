"""Dropping what is past its keeping time: samples, aggregates, console, old commands."""

from __future__ import annotations

import asyncpg

from nodebyte_node_agent_gateway import console_store, lockout
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

FINISHED_COMMANDS_KEPT_DAYS = 7


async def purge(conn: asyncpg.Connection, s: NodeAgentGatewaySettings) -> None:
    for table in ("node_samples", "server_samples"):
        await conn.execute(
            f"DELETE FROM {table} WHERE at < now() - make_interval(hours => $1)",
            s.sample_retention_hours,
        )
    await conn.execute(
        """DELETE FROM usage_rollups WHERE (resolution = 'hour'
               AND bucket < now() - make_interval(days => $1))
            OR (resolution = 'day' AND bucket < now() - make_interval(days => $2))""",
        s.hourly_usage_retention_days,
        s.daily_usage_retention_days,
    )
    await console_store.purge_older_than(conn, s.console_retention_days)
    await lockout.purge_idle(conn)
    await conn.execute(
        """DELETE FROM server_commands WHERE finished_at IS NOT NULL
             AND finished_at < now() - make_interval(days => $1)""",
        FINISHED_COMMANDS_KEPT_DAYS,
    )
