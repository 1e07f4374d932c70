"""Counts and breakdowns of the panel mirror, for the public and admin stats."""

from __future__ import annotations

import asyncpg

from nodebyte_common.contracts.sync import Counts, EggUse, NodeLoad, ServerStats, UserStats

# "Active" users own at least one server that is not suspended.
COUNTS = """
SELECT
  (SELECT count(*) FROM servers) AS total_servers,
  (SELECT count(*) FROM panel_users) AS total_users,
  (SELECT count(DISTINCT owner_id) FROM servers WHERE NOT suspended) AS active_users,
  (SELECT count(*) FROM allocations) AS total_allocations,
  (SELECT count(*) FROM nodes) AS total_nodes,
  (SELECT count(*) FROM locations) AS total_locations,
  (SELECT count(*) FROM nests) AS total_nests,
  (SELECT count(*) FROM eggs) AS total_eggs
"""


async def counts(conn: asyncpg.Connection) -> Counts:
    return Counts(**dict(await conn.fetchrow(COUNTS)))


async def server_stats(conn: asyncpg.Connection) -> ServerStats:
    by_status = await conn.fetch(
        """SELECT coalesce(status, CASE WHEN suspended THEN 'suspended' ELSE 'active' END) AS s,
                  count(*) AS n FROM servers GROUP BY 1 ORDER BY 1"""
    )
    by_node = await conn.fetch(
        """SELECT n.id, n.name, count(s.id) AS servers,
                  coalesce(sum((s.limits->>'memory')::bigint), 0)::bigint AS memory,
                  coalesce(sum((s.limits->>'disk')::bigint), 0)::bigint AS disk
           FROM nodes n LEFT JOIN servers s ON s.node_id = n.id
           GROUP BY n.id, n.name ORDER BY servers DESC, n.id LIMIT 50"""
    )
    by_egg = await conn.fetch(
        """SELECT e.id, e.name, count(s.id) AS servers FROM eggs e
           JOIN servers s ON s.egg_id = e.id GROUP BY e.id, e.name
           ORDER BY servers DESC LIMIT 20"""
    )
    return ServerStats(
        total=sum(r["n"] for r in by_status),
        suspended=await conn.fetchval("SELECT count(*) FROM servers WHERE suspended"),
        by_status={r["s"]: r["n"] for r in by_status},
        by_node=[
            NodeLoad(
                node_id=r["id"],
                name=r["name"],
                servers=r["servers"],
                memory_mb=r["memory"],
                disk_mb=r["disk"],
            )
            for r in by_node
        ],
        top_eggs=[EggUse(egg_id=r["id"], name=r["name"], servers=r["servers"]) for r in by_egg],
    )


async def user_stats(conn: asyncpg.Connection) -> UserStats:
    row = await conn.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE root_admin) AS admins,
                  count(*) FILTER (WHERE two_factor) AS two_factor,
                  count(*) FILTER (WHERE created_at > now() - interval '30 days') AS recent
           FROM panel_users"""
    )
    active = await conn.fetchval("SELECT count(DISTINCT owner_id) FROM servers WHERE NOT suspended")
    without_servers = await conn.fetchval(
        "SELECT count(*) FROM panel_users u WHERE NOT EXISTS "
        "(SELECT 1 FROM servers s WHERE s.owner_id = u.id)"
    )
    return UserStats(
        total=row["total"],
        admins=row["admins"],
        two_factor_enabled=row["two_factor"],
        new_last_30_days=row["recent"],
        active=active,
        without_servers=without_servers,
    )
