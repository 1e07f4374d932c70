"""Periodic upkeep on one replica at a time: usage rollups, then retention purges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from nodebyte_node_agent_gateway import retention, usage
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

LOCK = "nodebyte.agents.housekeeping"


async def run_once(pool: asyncpg.Pool, settings: NodeAgentGatewaySettings) -> bool:
    """True when this replica did the work (another may hold the lock)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", LOCK):
            return False
        await usage.roll_up(conn)
        await retention.purge(conn, settings)
    return True


async def run_forever(
    pool_of: Callable[[], asyncpg.Pool], settings: NodeAgentGatewaySettings
) -> None:
    while True:
        await asyncio.sleep(settings.usage_rollup_interval_seconds)
        try:
            await run_once(pool_of(), settings)
        except (OSError, asyncpg.PostgresError):
            log.warning("housekeeping failed", exc_info=True)
