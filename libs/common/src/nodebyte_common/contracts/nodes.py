"""Nodes (`/api/nodes`): what a caller sends and what the node-agent-gateway answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Host = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]
Text = Annotated[str, msgspec.Meta(max_length=1000)]
ShortId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
MemoryMb = Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)]
Cores = Annotated[int, msgspec.Meta(gt=0, le=4096)]
PageNumber = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=100)]
USAGE_PERIODS = ("daily", "weekly", "monthly")
UsagePeriod = Literal["daily", "weekly", "monthly"]  # a usage chart's `{period}`


class NodeCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: Name
    hostname: Host
    max_memory_mb: MemoryMb
    max_cpu_cores: Cores
    description: Text | None = None
    location_id: ShortId | None = None
    public_address: Host | None = None


class NodeUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    hostname: Host | msgspec.UnsetType = msgspec.UNSET
    max_memory_mb: MemoryMb | msgspec.UnsetType = msgspec.UNSET
    max_cpu_cores: Cores | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType | None = msgspec.UNSET
    location_id: ShortId | msgspec.UnsetType | None = msgspec.UNSET
    public_address: Host | msgspec.UnsetType | None = msgspec.UNSET


class PageQuery(msgspec.Struct, frozen=True):
    """Catalyst's `?page=&limit=`."""

    page: PageNumber = 1
    limit: PageSize = 20


class UsageQuery(msgspec.Struct, rename="camel", frozen=True):
    """A chart's window (ISO-8601 with a time zone); the period's span before now when absent."""

    start_date: str | None = None
    end_date: str | None = None


class NodeHealth(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    cpu_percent: float | None
    memory_usage_mb: int | None
    memory_total_mb: int | None
    disk_usage_mb: int | None
    disk_total_mb: int | None
    container_count: int | None
    uptime_seconds: int | None
    reported_at: datetime


class NodeServer(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    status: str


class Node(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    name: str
    description: str | None
    location_id: str | None
    hostname: str
    public_address: str | None
    max_memory_mb: int
    max_cpu_cores: int
    is_online: bool
    last_seen_at: datetime | None
    connected_at: datetime | None
    agent_version: str | None
    health: NodeHealth | None
    created_at: datetime
    updated_at: datetime
    servers: list[NodeServer]


class NodeCreated(Node, frozen=True, kw_only=True):
    """A new node with its first deployment token: shown in this answer only."""

    deployment_token: str
    expires_at: datetime
    deploy_url: str | None = None  # the gateway's, added on the way out


class DeploymentToken(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    node_id: UUID
    deployment_token: str
    expires_at: datetime
    deploy_url: str | None = None  # the gateway's, added on the way out


class MinMax(msgspec.Struct, frozen=True):
    avg: float | None
    max: float | None


class UsageUnits(msgspec.Struct, frozen=True):
    cpu: str
    memory: str
    disk: str


class UsageSummary(msgspec.Struct, frozen=True):
    samples: int
    cpu: MinMax
    memory: MinMax
    disk: MinMax


class UsagePoint(msgspec.Struct, frozen=True):
    timestamp: datetime
    samples: int
    cpu: MinMax
    memory: MinMax
    disk: MinMax


class Usage(msgspec.Struct, frozen=True, kw_only=True, rename={"since": "from", "until": "to"}):
    """A usage chart: hourly points (daily) or daily points (weekly, monthly)."""

    period: str
    resolution: str
    since: datetime
    until: datetime
    units: UsageUnits
    summary: UsageSummary
    points: list[UsagePoint]
