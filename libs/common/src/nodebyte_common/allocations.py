"""Allocations (ip:port bindings of servers) and nodes' address pools: the bodies the
gateway and the node-agent-gateway exchange, declared once for both sides.

A node's pool is a set of IP addresses and host port ranges; a server holds
one or more allocations from its node's pool, exactly one of them primary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
# An IP address or a CIDR block (checked with `ipaddress` by the owner).
Address = Annotated[str, msgspec.Meta(min_length=2, max_length=49, pattern=r"^[0-9A-Fa-f.:/]+$")]

MAX_POOL_ENTRIES = 64
MAX_PORT_RANGES = 32
MAX_POOL_ADDRESSES = 1024  # after CIDR blocks are expanded


class PortRange(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    start: Port
    end: Port


class IpPoolUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Replace a node's pool: addresses (IPs or CIDR blocks) and host port ranges."""

    addresses: Annotated[list[Address], msgspec.Meta(max_length=MAX_POOL_ENTRIES)]
    port_ranges: Annotated[list[PortRange], msgspec.Meta(max_length=MAX_PORT_RANGES)]


class IpPoolView(msgspec.Struct, rename="camel", frozen=True):
    node_id: UUID
    addresses: list[str]
    port_ranges: list[PortRange]
    capacity: int  # addresses x ports
    allocated: int  # allocations on the node


class AllocationCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Ask for an allocation: a given ip and/or port, or the first free one of the pool.

    `containerPort` is the port inside the container (the host port when left out).
    """

    ip: Address | None = None
    port: Port | None = None
    container_port: Port | None = None


class AllocationView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    server_id: UUID
    node_id: UUID
    ip: str
    port: int
    container_port: int
    is_primary: bool
    created_at: datetime


class PrimaryView(msgspec.Struct, rename="camel", frozen=True):
    server_id: UUID
    allocation_id: UUID
    primary_port: int
