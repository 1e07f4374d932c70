"""The fleet in numbers, as the node-agent-gateway (its owner) answers
`GET /internal/v1/fleet` and the gateway shows it in `/api/admin/health` and
`/api/admin/stats`. Declared once, imported on both sides."""

from __future__ import annotations

import msgspec

FLEET_PATH = "/fleet"


class NodeCounts(msgspec.Struct, kw_only=True, frozen=True):
    total: int
    online: int  # an agent is connected and heard from
    offline: int


class ServerCounts(msgspec.Struct, kw_only=True, frozen=True):
    total: int
    byState: dict[str, int]  # every state a server can be in, zeros included
    suspended: int  # suspended servers (whatever their state)


class FleetSummary(msgspec.Struct, kw_only=True, frozen=True):
    nodes: NodeCounts
    servers: ServerCounts


class FleetAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: FleetSummary
