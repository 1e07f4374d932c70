"""The panel mirror's admin browsers (`/api/admin/{servers, nodes, locations, allocations,
nests, eggs}`) and node maintenance: what a caller asks and what the sync service answers.

Each browser's query is one Struct: the gateway forwards it and sync's route takes
it, so the sort keys, filters and paging bounds are declared here only. Lists are
paged the NodeByte way (`SizedPagedAnswer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec

# The panel's ids are positive (its columns are unsigned ints, ours bigints); a larger
# number is a 400, not a database error. 2**53 - 1: the largest integer every JSON
# reader keeps exact, and that the document's (floating-point) `maximum` writes exactly.
PANEL_ID_MAX = 2**53 - 1
PageNumber = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=200)]
Search = Annotated[str, msgspec.Meta(max_length=100)]
PanelId = Annotated[int, msgspec.Meta(ge=1, le=PANEL_ID_MAX)]
Order = Literal["asc", "desc"]
ServerSort = Literal["id", "name", "createdAt", "status", "node"]
NodeSort = Literal["id", "name", "fqdn", "createdAt"]
AllocationSort = Literal["id", "ip", "port"]
LocationSort = Literal["id", "short", "createdAt"]
NestSort = Literal["id", "name"]
EggSort = Literal["id", "name"]
# A panel object's JSON settings (limits, feature limits): numbers, flags, text.
PanelValues = dict[str, int | float | str | bool | None]


class MirrorQuery(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    page: PageNumber = 1
    page_size: PageSize = 25
    search: Search | None = None
    order: Order = "asc"


class ServersQuery(MirrorQuery, frozen=True, kw_only=True):
    sort: ServerSort = "id"


class NodesQuery(MirrorQuery, frozen=True, kw_only=True):
    location_id: PanelId | None = None
    maintenance: bool | None = None
    sort: NodeSort = "id"


class NodeAllocationsQuery(MirrorQuery, frozen=True, kw_only=True):
    assigned: bool | None = None
    sort: AllocationSort = "id"


class AllocationsQuery(NodeAllocationsQuery, frozen=True, kw_only=True):
    node_id: PanelId | None = None


class LocationsQuery(MirrorQuery, frozen=True, kw_only=True):
    sort: LocationSort = "id"


class NestsQuery(MirrorQuery, frozen=True, kw_only=True):
    sort: NestSort = "id"


class EggsQuery(MirrorQuery, frozen=True, kw_only=True):
    nest_id: PanelId | None = None
    sort: EggSort = "id"


class MaintenanceChange(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What sync is asked: the node's maintenance mode on or off."""

    maintenance: bool


class Named(msgspec.Struct, frozen=True, kw_only=True):
    """Another mirror object a row points at (nulls when it is not mirrored)."""

    id: int | None
    name: str | None


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    id: int | None
    username: str | None
    email: str | None


class MirrorServer(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    uuid: UUID
    identifier: str
    name: str
    description: str | None
    status: str | None
    suspended: bool
    limits: PanelValues | None
    feature_limits: PanelValues | None
    node: Named
    owner: Owner
    egg: Named
    created_at: datetime | None
    updated_at: datetime | None


class NodeLocation(msgspec.Struct, frozen=True, kw_only=True):
    id: int | None
    short: str | None
    long: str | None


class AllocationUse(msgspec.Struct, frozen=True, kw_only=True):
    used: int
    total: int


class MirrorNode(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    uuid: UUID | None
    name: str
    description: str | None
    public: bool | None
    fqdn: str | None
    scheme: str | None
    behind_proxy: bool | None
    maintenance_mode: bool
    memory: int | None
    memory_overallocate: int | None
    disk: int | None
    disk_overallocate: int | None
    allocated_memory: int | None
    allocated_disk: int | None
    upload_size: int | None
    daemon_listen: int | None
    daemon_sftp: int | None
    daemon_base: str | None
    location: NodeLocation
    server_count: int
    allocations: AllocationUse
    created_at: datetime | None
    updated_at: datetime | None
    synced_at: datetime


class AllocatedTo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str | None
    identifier: str | None


class Allocation(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    ip: str
    alias: str | None
    port: int
    notes: str | None
    assigned: bool
    node: Named
    server: AllocatedTo | None
    synced_at: datetime


class Location(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    short: str
    long: str | None
    node_count: int
    server_count: int
    created_at: datetime | None
    updated_at: datetime | None


class Nest(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    uuid: UUID | None
    name: str
    author: str | None
    description: str | None
    egg_count: int
    server_count: int
    created_at: datetime | None
    updated_at: datetime | None


class Egg(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: int
    uuid: UUID | None
    name: str
    author: str | None
    description: str | None
    nest: Named
    docker_image: str | None
    docker_images: dict[str, str] | list[str] | None
    startup: str | None
    server_count: int
    variable_count: int
    created_at: datetime | None
    updated_at: datetime | None


class MaintenanceBefore(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    maintenance_mode: bool


class MaintenanceChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Sync's answer to a maintenance change: the node before (for the audit) and after."""

    before: MaintenanceBefore
    node: MirrorNode


class MaintenanceBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`PATCH /api/admin/nodes/{id}/maintenance`: `maintenance`, or the panel's own name;
    exactly one of them (documented as one property, see openapi_structs)."""

    one_property: ClassVar[bool] = True
    maintenance: bool | msgspec.UnsetType = msgspec.UNSET
    maintenance_mode: bool | msgspec.UnsetType = msgspec.UNSET


class OwnerStats(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One panel user's servers in numbers (zeros for an account linked to none)."""

    panel_user_id: int | None
    total_servers: int
    active_servers: int
    suspended_servers: int
    total_memory: int
    total_disk: int
    total_cpu: int


class PanelIdentity(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Who an account is on the panel: its linked panel user, else its (verified) email."""

    panel_user_id: PanelId | None = None
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
