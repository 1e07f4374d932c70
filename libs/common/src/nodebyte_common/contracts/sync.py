"""Syncs and stats of the panel mirror (`/api/v1/sync`, `/api/admin/sync`, `/api/v1/stats`,
`/api/stats`, `/api/admin/panel`): what a caller sends and what the sync service answers.

The kinds of sync are the event catalogue's (`events.SyncKind`): a route per kind
and the `?type=` filter both come from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

import msgspec

from nodebyte_common.events import SyncKind

SYNC_KINDS: tuple[str, ...] = get_args(SyncKind)
ENDED = ("COMPLETED", "FAILED", "CANCELLED")
RequestedBy = Annotated[str, msgspec.Meta(max_length=255)]
LiveKind = Literal["servers", "nodes"]


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`POST /api/v1/sync/{kind}`: the kind is the path's."""

    skip_users: bool = False
    requested_by: RequestedBy | None = None


class AdminSyncRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    type: SyncKind = "full"
    skip_users: bool = False
    requested_by: RequestedBy | None = None


class SyncLogsQuery(msgspec.Struct, frozen=True, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    offset: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    type: SyncKind | None = None


class LiveQuery(msgspec.Struct, frozen=True, kw_only=True):
    page: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    per_page: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


class SyncLog(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    type: str
    status: str
    items_total: int
    items_synced: int
    items_failed: int
    error: str | None
    # The run's progress as sync reports it (its shape is sync's progress code's).
    metadata: dict[str, Any]
    requested_by: str | None
    cancel_requested: bool = False
    attempts: int = 0
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class Offsets(msgspec.Struct, frozen=True, kw_only=True):
    limit: int
    offset: int
    total: int


class SyncLogPage(msgspec.Struct, frozen=True, kw_only=True):
    success: bool = True
    data: list[SyncLog]
    pagination: Offsets
    message: str | None = None


class SyncQueued(msgspec.Struct, frozen=True, kw_only=True):
    """A sync command recorded: its log's id, and the id of the event that carries it."""

    sync_log_id: UUID
    task_id: UUID
    status: Literal["PENDING"] = "PENDING"


class CancelRequested(msgspec.Struct, frozen=True, kw_only=True):
    sync_log_id: UUID
    status: Literal["CANCEL_REQUESTED"] = "CANCEL_REQUESTED"


class Circuit(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """The panel's circuit breaker: `open` while sync leaves a failing panel alone."""

    state: str
    consecutive_failures: int
    last_error: str | None


class PanelState(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    configured: bool
    circuit: Circuit


class SyncState(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    current: SyncLog | None
    last_sync: SyncLog | None
    is_running: bool
    panel: PanelState


class PanelReset(msgspec.Struct, frozen=True, kw_only=True):
    circuit: Circuit


class Counts(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    total_servers: int
    total_users: int
    active_users: int
    total_allocations: int
    total_nodes: int
    total_locations: int
    total_nests: int
    total_eggs: int


class NodeLoad(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    node_id: int
    name: str
    servers: int
    memory_mb: int
    disk_mb: int


class EggUse(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    egg_id: int
    name: str
    servers: int


class ServerStats(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    total: int
    suspended: int
    by_status: dict[str, int]
    by_node: list[NodeLoad]
    top_eggs: list[EggUse]


class UserStats(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    total: int
    admins: int
    two_factor_enabled: int
    new_last_30_days: int = msgspec.field(name="newLast30Days")
    active: int
    without_servers: int


class LivePages(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    page: int
    per_page: int
    total: int
    total_pages: int


class LivePage(msgspec.Struct, frozen=True, kw_only=True):
    """Servers or nodes as the panel itself lists them (a server's secrets masked)."""

    success: bool = True
    data: list[dict[str, Any]]
    pagination: LivePages
    message: str | None = None


# --- the panel connection's settings (sync's `/sync/settings`) ---------------------

PanelUrl = Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://")]
PanelKey = Annotated[str, msgspec.Meta(min_length=8, max_length=200)]
FetchPageSize = Annotated[int, msgspec.Meta(ge=10, le=5000)]
FetchConcurrency = Annotated[int, msgspec.Meta(ge=1, le=32)]
SubusersBatchSize = Annotated[int, msgspec.Meta(ge=1, le=100)]
RetentionDays = Annotated[int, msgspec.Meta(ge=1, le=3650)]


class PanelSettingsChanges(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The panel settings an admin may change (null or absent: unchanged)."""

    panelUrl: PanelUrl | None = None
    applicationKey: PanelKey | None = None
    clientKey: PanelKey | None = None
    pageSize: FetchPageSize | None = None
    fetchConcurrency: FetchConcurrency | None = None
    subusersEnabled: bool | None = None
    subusersBatchSize: SubusersBatchSize | None = None
    logRetentionDays: RetentionDays | None = None


class PanelSettingsUpdate(PanelSettingsChanges, forbid_unknown_fields=True, omit_defaults=True):
    """What sync is sent: the changes and who made them (for its history)."""

    changedBy: RequestedBy | None = None


class PanelCandidate(msgspec.Struct, forbid_unknown_fields=True):
    """A panel URL and key to try before they are saved (the saved ones when absent)."""

    panelUrl: PanelUrl | None = None
    applicationKey: PanelKey | None = None


class PanelSettings(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """The panel settings as an admin sees them: keys masked, never whole."""

    panel_url: str
    application_key: str
    client_key: str
    application_key_set: bool
    client_key_set: bool
    page_size: int
    fetch_concurrency: int
    subusers_enabled: bool
    subusers_batch_size: int
    log_retention_days: int


class PanelSettingsSaved(msgspec.Struct, frozen=True, kw_only=True):
    """Sync's answer to a change (or its dry run): the settings before and after."""

    before: PanelSettings
    after: PanelSettings
    changed: list[str]
