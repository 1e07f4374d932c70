"""Backups as the API shows them, shared by the node-agent-gateway (which answers with
them) and the gateway (which documents and relays them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

BackupStatus = Literal["pending", "in_progress", "completed", "failed", "deleting"]


class Backup(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: str
    server_id: str
    name: str
    path: str | None
    size_mb: float | None
    size_bytes: int | None  # exact archive size, when the agent reported it
    checksum: str | None  # "sha256:<hex>" of the archive, as the agent reported it
    status: BackupStatus
    error: str | None
    created_at: datetime | None
    completed_at: datetime | None


class BackupCommandAccepted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """A restore or delete was queued: follow it at /api/servers/{id}/commands/{requestId}."""

    request_id: str
    server_id: str
    backup_id: str
    action: Literal["restore_backup", "delete_backup"]
    status: Literal["pending"] = "pending"
