"""SQL for the fleet in numbers: nodes online/offline, servers by state."""

from __future__ import annotations

import asyncpg

from nodebyte_common.fleet import FleetSummary, NodeCounts, ServerCounts
from nodebyte_node_agent_gateway.lifecycle import TRANSITIONS


async def summary(conn: asyncpg.Connection) -> FleetSummary:
    nodes = await conn.fetchrow(
        "SELECT count(*) AS total, count(*) FILTER (WHERE is_online) AS online FROM nodes"
    )
    states = await conn.fetch("SELECT state, count(*) AS n FROM servers GROUP BY state")
    suspended = await conn.fetchval("SELECT count(*) FROM servers WHERE suspended_at IS NOT NULL")
    # Every state the lifecycle knows, zeros included; a state added later shows up as found.
    by_state = {state: 0 for state in TRANSITIONS} | {row["state"]: row["n"] for row in states}
    return FleetSummary(
        nodes=NodeCounts(
            total=nodes["total"], online=nodes["online"], offline=nodes["total"] - nodes["online"]
        ),
        servers=ServerCounts(total=sum(by_state.values()), byState=by_state, suspended=suspended),
    )
