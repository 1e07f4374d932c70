"""Alerts and alert rules (`/api/alerts`, `/api/alert-rules`), owned by the node-agent-gateway."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.node_routes import AGENTS, forward, json_object, query

TAGS = ["alerts"]


def routes(ctx: GatewayContext) -> list[Any]:
    agents = ctx.client(AGENTS)
    read, resolve = ctx.require(catalogue.ALERT_READ), ctx.require(catalogue.ALERT_RESOLVE)
    admin_read, admin_write = ctx.require(catalogue.ADMIN_READ), ctx.require(catalogue.ADMIN_WRITE)

    @get("/api/alerts", guards=[read], tags=TAGS, summary="List alerts (filters, pages)")
    async def list_alerts(request: Request) -> Any:
        return await forward(agents, "GET", "/alerts", params=query(request))

    @get("/api/alerts/stats", guards=[read], tags=TAGS, summary="Alert counts by type, severity")
    async def alert_stats() -> Any:
        return await forward(agents, "GET", "/alerts/stats")

    @get("/api/alerts/{alert_id:uuid}", guards=[read], tags=TAGS, summary="Alert details")
    async def get_alert(alert_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/alerts/{alert_id}")

    @post(
        "/api/alerts/{alert_id:uuid}/resolve",
        guards=[resolve],
        tags=TAGS,
        status_code=200,
        summary="Resolve an alert",
    )
    async def resolve_alert(alert_id: FromPath[UUID], request: Request) -> Any:
        body = await json_object(request)
        return await forward(agents, "POST", f"/alerts/{alert_id}/resolve", json=body)

    @post(
        "/api/alerts/bulk-resolve",
        guards=[resolve],
        tags=TAGS,
        status_code=200,
        summary="Resolve many alerts",
    )
    async def bulk_resolve(request: Request) -> Any:
        return await forward(
            agents, "POST", "/alerts/bulk-resolve", json=await json_object(request)
        )

    @get("/api/alert-rules", guards=[admin_read], tags=TAGS, summary="List alert rules")
    async def list_rules() -> Any:
        return await forward(agents, "GET", "/alert-rules")

    @post(
        "/api/alert-rules",
        guards=[admin_write],
        tags=TAGS,
        status_code=201,
        summary="Create an alert rule",
    )
    async def create_rule(request: Request) -> Any:
        return await forward(agents, "POST", "/alert-rules", json=await json_object(request))

    @put(
        "/api/alert-rules/{rule_id:uuid}",
        guards=[admin_write],
        tags=TAGS,
        summary="Replace an alert rule",
    )
    async def replace_rule(rule_id: FromPath[UUID], request: Request) -> Any:
        body = await json_object(request)
        return await forward(agents, "PUT", f"/alert-rules/{rule_id}", json=body)

    @delete(
        "/api/alert-rules/{rule_id:uuid}",
        guards=[admin_write],
        tags=TAGS,
        status_code=200,
        summary="Delete an alert rule",
    )
    async def delete_rule(rule_id: FromPath[UUID]) -> Any:
        return await forward(agents, "DELETE", f"/alert-rules/{rule_id}")

    return [
        list_alerts,
        alert_stats,
        get_alert,
        resolve_alert,
        bulk_resolve,
        list_rules,
        create_rule,
        replace_rule,
        delete_rule,
    ]
