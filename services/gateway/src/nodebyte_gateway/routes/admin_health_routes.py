"""`GET /api/admin/health` (every service's readiness and the agent fleet) and
`GET /api/admin/stats` (the panel mirror's counts, the sync state, fleet totals)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import get

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.fleet import FleetSummary
from nodebyte_gateway import admin_health
from nodebyte_gateway.admin_health import AdminHealthAnswer
from nodebyte_gateway.context import GatewayContext

TAGS = ["admin"]


class AdminStats(msgspec.Struct, kw_only=True, frozen=True):
    panel: dict[str, object] | None  # the panel mirror's counts, as the sync service gives them
    sync: dict[str, object] | None  # the sync state
    fleet: FleetSummary | None  # None when the node-agent-gateway cannot say
    # the reference's totals, of the agent fleet
    totalNodes: int | None
    onlineNodes: int | None
    totalServers: int | None
    runningServers: int | None


class AdminStatsAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: AdminStats


def routes(ctx: GatewayContext) -> list[Any]:
    admin_read = [ctx.require(catalogue.ADMIN_READ)]
    sync, agents = ctx.client("sync"), ctx.client(admin_health.AGENTS)

    @get(
        "/api/admin/health",
        guards=admin_read,
        tags=TAGS,
        summary="Every service's readiness and the fleet: nodes online/offline, servers by state",
    )
    async def health() -> AdminHealthAnswer:
        report = await admin_health.report(ctx.runtime, ctx.clients)
        return AdminHealthAnswer(success=True, data=report)

    @get("/api/admin/stats", guards=admin_read, tags=TAGS, summary="Dashboard stats")
    async def admin_stats() -> AdminStatsAnswer:
        _, counts = await sync.call("GET", "/stats")
        _, state = await sync.call("GET", "/sync/state")
        fleet = await admin_health.fleet_summary(agents)
        stats = AdminStats(
            panel=(counts or {}).get("data"),
            sync=(state or {}).get("data"),
            fleet=fleet,
            totalNodes=fleet.nodes.total if fleet else None,
            onlineNodes=fleet.nodes.online if fleet else None,
            totalServers=fleet.servers.total if fleet else None,
            runningServers=fleet.servers.byState.get("running", 0) if fleet else None,
        )
        return AdminStatsAnswer(success=True, data=stats)

    return [health, admin_stats]
