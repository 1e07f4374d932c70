"""The contract of server transfers between nodes, shared by the gateway and the owner.

`TransferRequest` is the public body of `POST /api/servers/{id}/transfer`;
the gateway passes it on as a `TransferOrder` (with who asked) to the
node-agent-gateway, which answers, and shows in the server's details, a
`TransferView`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Phase = Literal["stopping", "streaming", "completed", "failed"]
ACTIVE_PHASES: tuple[Phase, ...] = ("stopping", "streaming")


class TransferRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    target_node_id: UUID


class TransferOrder(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    target_node_id: UUID
    requested_by: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class TransferView(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    server_id: UUID
    source_node_id: UUID
    target_node_id: UUID
    phase: Phase
    previous_state: str
    restart_after: bool
    bytes_transferred: int
    chunks: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
