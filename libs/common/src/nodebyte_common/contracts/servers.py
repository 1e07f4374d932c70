"""Game servers (`/api/servers`): what a caller sends and what the node-agent-gateway answers.

Transfers, variables and backups have contracts of their own (server_transfers,
server_templates, backup_contracts); this module holds the server itself, its
lifecycle bodies, its console history and its commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from nodebyte_common.contracts.nodes import Cores, MemoryMb, Name, PageNumber, PageSize, Text
from nodebyte_common.server_transfers import TransferView

State = Literal[
    "stopped",
    "installing",
    "starting",
    "running",
    "stopping",
    "crashed",
    "transferring",
    "restoring",
]
Status = Literal[State, "suspended"]  # a suspension overrides the runtime state
Image = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\s]+$")]
Command = Annotated[str, msgspec.Meta(max_length=4096)]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # a variable name a shell can take
Environment = Annotated[
    dict[
        Annotated[str, msgspec.Meta(pattern=ENV_NAME)],
        Annotated[str, msgspec.Meta(max_length=4096)],
    ],
    msgspec.Meta(max_length=200),
]
DiskMb = Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Policy = Literal["always", "on-failure", "never"]
CrashLimit = Annotated[int, msgspec.Meta(ge=0, le=1000)]
BackupLimit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
NetworkMode = Literal["bridge", "host"]
Stream = Literal["stdout", "stderr", "system"]
Action = Literal["start", "stop", "restart", "kill", "install", "command"]


class ServerCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Without `templateId` the image and resources must be given; with it, what is left
    out comes from the template and `environment` holds its variables' values."""

    name: Name
    node_id: UUID
    template_id: UUID | None = None
    docker_image: Image | None = None
    allocated_memory_mb: MemoryMb | None = None
    allocated_cpu_cores: Cores | None = None
    allocated_disk_mb: DiskMb | None = None
    # the template's first port, else the first free port of the node's pool, when left out
    primary_port: Port | None = None
    description: Text | None = None
    startup_command: Command | None = None
    environment: Environment = {}
    network_mode: NetworkMode = "bridge"
    restart_policy: Policy = "on-failure"
    max_crash_count: CrashLimit = 5
    backup_limit: BackupLimit | None = None


class ServerUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType | None = msgspec.UNSET
    docker_image: Image | msgspec.UnsetType = msgspec.UNSET
    startup_command: Command | msgspec.UnsetType = msgspec.UNSET
    environment: Environment | msgspec.UnsetType = msgspec.UNSET
    allocated_memory_mb: MemoryMb | msgspec.UnsetType = msgspec.UNSET
    allocated_cpu_cores: Cores | msgspec.UnsetType = msgspec.UNSET
    allocated_disk_mb: DiskMb | msgspec.UnsetType = msgspec.UNSET
    primary_port: Port | msgspec.UnsetType = msgspec.UNSET
    network_mode: NetworkMode | msgspec.UnsetType = msgspec.UNSET
    # null: the service's default limit
    backup_limit: BackupLimit | msgspec.UnsetType | None = msgspec.UNSET


class SuspendBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    reason: Reason | None = None
    suspended_by: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class RestartPolicyBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    restart_policy: Policy
    max_crash_count: CrashLimit | None = None


class ServerQuery(msgspec.Struct, rename="camel", frozen=True):
    node_id: UUID | None = None
    status: Status | None = None
    page: PageNumber = 1
    limit: PageSize = 20


class LogQuery(msgspec.Struct, frozen=True):
    """The latest console lines, or those `before` an ISO-8601 instant."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    stream: Stream | None = None
    before: str | None = None


class ServerNode(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    name: str
    hostname: str
    is_online: bool


class Server(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    uuid: UUID
    name: str
    description: str | None
    node_id: UUID
    status: Status
    state: State
    docker_image: str
    startup_command: str
    rendered_startup_command: str
    template_id: UUID | None
    variables: dict[str, str]
    environment: dict[str, str]
    allocated_memory_mb: int
    allocated_cpu_cores: int
    allocated_disk_mb: int
    primary_port: int
    network_mode: str
    container_name: str
    cpu_usage: float | None
    memory_usage_mb: int | None
    disk_usage_mb: int | None
    network_sent: int | None
    network_received: int | None
    crash_count: int
    last_crash_at: datetime | None
    last_exit_code: int | None
    restart_policy: Policy
    max_crash_count: int
    backup_limit: int | None
    suspended_at: datetime | None
    suspended_by_user_id: str | None
    suspension_reason: str | None
    created_at: datetime
    updated_at: datetime
    # in a server's details only: its node and its latest transfer
    node: ServerNode | msgspec.UnsetType = msgspec.UNSET
    transfer: TransferView | msgspec.UnsetType | None = msgspec.UNSET


class CrashCountReset(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    server_id: UUID
    crash_count: int


class RestartPolicy(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    restart_policy: Policy
    max_crash_count: int


class ConsoleLine(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: str  # the line's sequence number, as a string
    server_id: UUID
    stream: Stream
    data: str
    timestamp: datetime


class CommandStatus(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Where a command is: pending, routed, delivered, acknowledged or failed."""

    request_id: UUID
    server_id: UUID
    action: str
    status: str
    node_id: UUID | msgspec.UnsetType = msgspec.UNSET
    reason: str | msgspec.UnsetType | None = msgspec.UNSET
    requested_by: str | msgspec.UnsetType | None = msgspec.UNSET
    requested_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    delivered_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    finished_at: datetime | msgspec.UnsetType | None = msgspec.UNSET


class StopBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    timeout: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None


class CommandBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    command: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class Admission(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """The owner's yes to an action on a server, and the node that will carry it out."""

    server_id: UUID
    node_id: UUID
    action: str
