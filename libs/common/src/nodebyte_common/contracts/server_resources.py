"""A panel server's live resource usage (the reference's `GetServerResources`).

The sync service reads it through to the panel's Client API
(`/api/client/servers/{server}/resources`), briefly cached; the gateway guards
and relays it. A server is named as the panel names it: its id, its uuid or
its 8-character identifier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

SERVER_REF = (
    r"^([0-9]{1,18}|[0-9a-f]{8}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
ServerRef = Annotated[str, msgspec.Meta(pattern=SERVER_REF)]
# The sync service's internal route (answers `Answer[ServerResources]`).
SERVER_RESOURCES = "/panel/servers/{server_id}/resources"


class ResourceUsage(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    memory_bytes: int
    cpu_absolute: float  # percent of one core, as the panel reports it
    disk_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int
    uptime: int  # milliseconds


class ServerResources(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    server_id: int  # the panel's id
    uuid: UUID
    identifier: str
    current_state: str  # offline, starting, running, stopping (the daemon's word)
    is_suspended: bool
    resources: ResourceUsage
    fetched_at: datetime  # when the panel was read: a cached answer keeps its time
