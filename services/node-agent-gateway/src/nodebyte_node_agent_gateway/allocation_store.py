"""SQL for nodes' address pools and servers' allocations."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import uuid6

Range = tuple[int, int]


async def pool_of(conn: asyncpg.Connection, node_id: UUID) -> tuple[list[str], list[Range]]:
    """The node's pool addresses and port ranges, in order."""
    ips = await conn.fetch("SELECT ip FROM node_ip_pool WHERE node_id = $1 ORDER BY ip", node_id)
    ranges = await conn.fetch(
        """SELECT port_start, port_end FROM node_port_ranges WHERE node_id = $1
           ORDER BY port_start""",
        node_id,
    )
    return [str(r["ip"]) for r in ips], [(r["port_start"], r["port_end"]) for r in ranges]


async def replace_pool(
    conn: asyncpg.Connection, node_id: UUID, ips: list[str], ranges: list[Range]
) -> None:
    await conn.execute("DELETE FROM node_ip_pool WHERE node_id = $1", node_id)
    await conn.execute("DELETE FROM node_port_ranges WHERE node_id = $1", node_id)
    await conn.executemany(
        "INSERT INTO node_ip_pool (node_id, ip) VALUES ($1, $2::inet)",
        [(node_id, ip) for ip in ips],
    )
    await conn.executemany(
        "INSERT INTO node_port_ranges (node_id, port_start, port_end) VALUES ($1, $2, $3)",
        [(node_id, start, end) for start, end in ranges],
    )


async def count_on_node(conn: asyncpg.Connection, node_id: UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM allocations WHERE node_id = $1", node_id))


async def first_free(
    conn: asyncpg.Connection,
    node_id: UUID,
    ips: list[str],
    ranges: list[Range],
    avoid: list[int],
) -> tuple[str, int] | None:
    """The lowest free ip:port of `ips` x `ranges` on the node (ports first, then ips),
    not on a port of `avoid`.

    The lowest such port is a range's start or follows an allocated or avoided port,
    so those are the only candidates: the cost follows the allocations, not the pool.
    """
    row = await conn.fetchrow(
        """WITH space AS (
               SELECT ip, lo, hi FROM unnest($2::inet[]) AS ip,
                      unnest($3::int[], $4::int[]) AS r(lo, hi)),
           candidates AS (
               SELECT s.ip, s.lo AS port FROM space s
               UNION
               SELECT s.ip, a.port + 1 FROM space s
               JOIN allocations a ON a.node_id = $1 AND a.ip = s.ip
                                 AND a.port >= s.lo AND a.port < s.hi
               UNION
               SELECT s.ip, x + 1 FROM space s, unnest($5::int[]) AS x
               WHERE x >= s.lo AND x < s.hi)
           SELECT host(c.ip) AS ip, c.port FROM candidates c
           WHERE c.port <> ALL($5::int[]) AND NOT EXISTS (SELECT 1 FROM allocations b
                             WHERE b.node_id = $1 AND b.ip = c.ip AND b.port = c.port)
           ORDER BY c.port, c.ip LIMIT 1""",
        node_id,
        ips,
        [lo for lo, _ in ranges],
        [hi for _, hi in ranges],
        avoid,
    )
    return None if row is None else (row["ip"], row["port"])


async def claim(
    conn: asyncpg.Connection,
    *,
    node_id: UUID,
    server_id: UUID,
    ip: str,
    port: int,
    container_port: int,
    primary: bool,
) -> asyncpg.Record | None:
    """Insert the allocation; None when another server holds ip:port (the UNIQUE says so).

    A concurrent claim of the same ip:port waits for the other transaction and
    then yields to it, whichever replica made it.
    """
    return await conn.fetchrow(
        """INSERT INTO allocations (id, node_id, server_id, ip, port, container_port, is_primary)
           VALUES ($1, $2, $3, $4::inet, $5, $6, $7)
           ON CONFLICT ON CONSTRAINT allocations_address_unique DO NOTHING
           RETURNING *, host(ip) AS address""",
        uuid6.uuid7(),
        node_id,
        server_id,
        ip,
        port,
        container_port,
        primary,
    )


async def of_server(
    conn: asyncpg.Connection, server_id: UUID, *, for_update: bool = False
) -> list[asyncpg.Record]:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetch(
        f"""SELECT *, host(ip) AS address FROM allocations WHERE server_id = $1
            ORDER BY is_primary DESC, port, ip{lock}""",
        server_id,
    )


async def container_ports(conn: asyncpg.Connection, server_id: UUID) -> list[int]:
    rows = await conn.fetch(
        "SELECT container_port FROM allocations WHERE server_id = $1", server_id
    )
    return [r["container_port"] for r in rows]


async def get(
    conn: asyncpg.Connection, server_id: UUID, allocation_id: UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT *, host(ip) AS address FROM allocations WHERE id = $1 AND server_id = $2",
        allocation_id,
        server_id,
    )


async def delete(conn: asyncpg.Connection, allocation_id: UUID) -> None:
    await conn.execute("DELETE FROM allocations WHERE id = $1", allocation_id)


async def delete_of_server(conn: asyncpg.Connection, server_id: UUID) -> None:
    await conn.execute("DELETE FROM allocations WHERE server_id = $1", server_id)


async def make_primary(conn: asyncpg.Connection, server_id: UUID, allocation_id: UUID) -> int:
    """Move the primary flag to `allocation_id` and the server's primary_port with it."""
    # Two statements: the one-primary index is checked row by row.
    await conn.execute(
        "UPDATE allocations SET is_primary = false WHERE server_id = $1 AND is_primary",
        server_id,
    )
    port = await conn.fetchval(
        "UPDATE allocations SET is_primary = true WHERE id = $1 RETURNING port", allocation_id
    )
    await set_primary_port(conn, server_id, port)
    return int(port)


async def set_primary_port(conn: asyncpg.Connection, server_id: UUID, port: int) -> None:
    await conn.execute(
        "UPDATE servers SET primary_port = $2, updated_at = now() WHERE id = $1",
        server_id,
        port,
    )
