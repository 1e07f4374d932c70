"""IPAM: nodes' pools, picking free ip:port allocations, the primary one, moving them.

Picking is optimistic and needs no lock: read the lowest free ip:port, claim it
with an INSERT guarded by UNIQUE (node_id, ip, port), and read again when
another transaction (on any replica) claimed it first. A node without a pool
binds on every interface (0.0.0.0) and takes any port asked for; picking a
port for the caller needs the node's port ranges.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common.allocations import MAX_POOL_ADDRESSES, PortRange
from nodebyte_node_agent_gateway import allocation_store as store

ANY_INTERFACE = "0.0.0.0"  # the binding of a node without a pool
MAX_ATTEMPTS = 64  # each lost attempt means another claim committed: progress is certain


class AllocationRefused(Exception):
    """What the caller asked cannot be allocated: `status` and `code` for the answer."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# --- the pool -------------------------------------------------------------------


def expand_addresses(entries: Sequence[str]) -> list[str]:
    """IPs and CIDR blocks as the distinct addresses they name (400 when malformed)."""
    found: dict[str, None] = {}
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise AllocationRefused(400, f"{entry!r} is not an IP address or CIDR block") from None
        if network.num_addresses > MAX_POOL_ADDRESSES:
            raise AllocationRefused(400, f"{entry} holds more than {MAX_POOL_ADDRESSES} addresses")
        hosts = [network.network_address] if network.num_addresses == 1 else network.hosts()
        for host in hosts:
            found[str(host)] = None
            if len(found) > MAX_POOL_ADDRESSES:
                raise AllocationRefused(400, f"A pool holds at most {MAX_POOL_ADDRESSES} addresses")
    return list(found)


def check_ranges(ranges: Sequence[PortRange]) -> list[store.Range]:
    ordered = sorted((r.start, r.end) for r in ranges)
    for start, end in ordered:
        if start > end:
            raise AllocationRefused(400, f"Port range {start}-{end} ends before it starts")
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if start <= end:
            raise AllocationRefused(400, "Port ranges must not overlap")
    return ordered


async def set_pool(
    conn: asyncpg.Connection, node_id: UUID, addresses: Sequence[str], ranges: Sequence[PortRange]
) -> None:
    """Replace the node's pool; allocations made from the old one stay as they are."""
    await store.replace_pool(conn, node_id, expand_addresses(addresses), check_ranges(ranges))


# --- picking --------------------------------------------------------------------


async def allocate(
    conn: asyncpg.Connection,
    node_id: UUID,
    server_id: UUID,
    *,
    ip: str | None = None,
    port: int | None = None,
    container_port: int | None = None,
    primary: bool = False,
) -> asyncpg.Record:
    """Claim a free ip:port on the node for the server (the given ip and/or port if set).

    Without a container port, the host port is also the container port, so the pick
    leaves out ports the server's container binds already.
    """
    ips, ranges = await _space(conn, node_id, ip, port)
    avoid = [] if container_port else await store.container_ports(conn, server_id)
    for _ in range(MAX_ATTEMPTS):
        free = await store.first_free(conn, node_id, ips, ranges, avoid)
        if free is None:
            raise _none_free(ip, port)
        row = await store.claim(
            conn,
            node_id=node_id,
            server_id=server_id,
            ip=free[0],
            port=free[1],
            container_port=container_port or free[1],
            primary=primary,
        )
        if row is not None:
            return row
    raise AllocationRefused(503, "Allocations are contended; try again", "ALLOCATION_CONTENDED")


async def _space(
    conn: asyncpg.Connection, node_id: UUID, ip: str | None, port: int | None
) -> tuple[list[str], list[store.Range]]:
    """The addresses and port ranges to pick from, narrowed to what the caller asked."""
    ips, ranges = await store.pool_of(conn, node_id)
    ips = ips or [ANY_INTERFACE]
    if ip is not None:
        ip = _normal_ip(ip)
        if ip not in ips:
            raise AllocationRefused(400, f"{ip} is not in the node's IP pool", "NOT_IN_POOL")
        ips = [ip]
    if port is not None:
        if ranges and not any(lo <= port <= hi for lo, hi in ranges):
            raise AllocationRefused(
                400, f"Port {port} is outside the node's port ranges", "NOT_IN_POOL"
            )
        ranges = [(port, port)]
    if not ranges:
        raise AllocationRefused(400, "The node has no port range: give a port", "NO_PORT_RANGE")
    return ips, ranges


def _normal_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise AllocationRefused(400, f"{ip!r} is not an IP address") from None


def _none_free(ip: str | None, port: int | None) -> AllocationRefused:
    if port is not None:
        where = f"{ip}:{port}" if ip else f"Port {port}"
        return AllocationRefused(409, f"{where} is already allocated", "ALLOCATION_TAKEN")
    return AllocationRefused(409, "The node has no free allocation left", "NO_FREE_ALLOCATION")


# --- a server's allocations ------------------------------------------------------


async def assign_primary(
    conn: asyncpg.Connection, server_id: UUID, node_id: UUID, port: int | None
) -> asyncpg.Record:
    """A new server's primary allocation (`port` if asked), its primary_port set to match."""
    row = await allocate(conn, node_id, server_id, port=port, primary=True)
    await store.set_primary_port(conn, server_id, row["port"])
    return row


async def make_primary(conn: asyncpg.Connection, server_id: UUID, allocation_id: UUID) -> int:
    """Promote one of the server's allocations; returns the new primary port."""
    if await store.get(conn, server_id, allocation_id) is None:
        raise AllocationRefused(404, "Allocation not found")
    return await store.make_primary(conn, server_id, allocation_id)


async def primary_to_port(conn: asyncpg.Connection, server_id: UUID, port: int) -> None:
    """`primaryPort` set on the server: promote its allocation on that port."""
    for row in await store.of_server(conn, server_id):
        if row["port"] == port:
            await store.make_primary(conn, server_id, row["id"])
            return
    raise AllocationRefused(
        409,
        f"The server has no allocation on port {port}: add it first (POST …/allocations)",
        "NOT_ALLOCATED",
    )


async def release(conn: asyncpg.Connection, server_id: UUID, allocation_id: UUID) -> None:
    """Delete a secondary allocation; the primary one stays (409)."""
    row = await store.get(conn, server_id, allocation_id)
    if row is None:
        raise AllocationRefused(404, "Allocation not found")
    if row["is_primary"]:
        raise AllocationRefused(
            409, "The primary allocation cannot be deleted", "PRIMARY_ALLOCATION"
        )
    await store.delete(conn, allocation_id)


async def move_allocations(
    conn: asyncpg.Connection, server_id: UUID, target_node_id: UUID
) -> list[asyncpg.Record]:
    """Reallocate the server's allocations on `target_node_id`, all or none.

    Each keeps its container port and primary flag, and its host port when that is
    free on the target (those are claimed first; the others are picked after). The
    server's primary_port follows; its node_id is the caller's to change in the same
    transaction. AllocationRefused (nothing changed) when the target cannot hold them.
    """
    async with conn.transaction():
        current = await store.of_server(conn, server_id, for_update=True)
        await store.delete_of_server(conn, server_id)
        moved, left = [], []
        for old in current:
            try:
                moved.append(await allocate(conn, target_node_id, server_id, **_kept(old, True)))
            except AllocationRefused:
                left.append(old)
        for old in left:
            moved.append(await allocate(conn, target_node_id, server_id, **_kept(old, False)))
        for row in moved:
            if row["is_primary"]:
                await store.set_primary_port(conn, server_id, row["port"])
        return moved


def _kept(old: asyncpg.Record, same_port: bool) -> dict[str, Any]:
    kept = {"container_port": old["container_port"], "primary": old["is_primary"]}
    return {**kept, "port": old["port"]} if same_port else kept
