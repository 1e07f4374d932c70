"""Internal API for alerts (list, details, resolve one or many, stats) and alert rules."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, QueryParameter

from nodebyte_common.contracts.alerts import (
    Alert,
    AlertRule,
    AlertStats,
    AlertType,
    BulkResolveBody,
    BulkResolved,
    ResolveBody,
    Resolved,
    RuleBody,
    Severity,
)
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer, Pages
from nodebyte_common.contracts.nodes import PageNumber, PageSize
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_common.sealing import Sealer
from nodebyte_node_agent_gateway import alert_rules, alerts
from nodebyte_node_agent_gateway.views import alert_view, rule_view


def routes(
    runtime: Runtime, sealer: Sealer | None, webhook_hosts: frozenset[str]
) -> list[HTTPRouteHandler]:
    """`webhook_hosts`: hosts a rule's webhook may name besides Discord's (the operator's)."""

    @get("/alerts")
    async def list_alerts(
        server_id: Annotated[UUID | None, QueryParameter(name="serverId")] = None,
        node_id: Annotated[UUID | None, QueryParameter(name="nodeId")] = None,
        type_: Annotated[
            AlertType | None,
            QueryParameter(name="type"),
        ] = None,
        severity: FromQuery[Severity | None] = None,
        resolved: FromQuery[bool | None] = None,
        page: PageNumber = 1,
        limit: PageSize = 20,
    ) -> PagedAnswer[Alert]:
        async with runtime.pool.acquire() as conn:
            rows, total = await alerts.page(
                conn,
                server_id=server_id,
                node_id=node_id,
                type_=type_,
                severity=severity,
                resolved=resolved,
                offset=(page - 1) * limit,
                limit=limit,
            )
        return PagedAnswer(
            data=[alert_view(r) for r in rows], pagination=Pages.of(page, limit, total)
        )

    @get("/alerts/stats")
    async def alert_stats() -> Answer[AlertStats]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=msgspec.convert(await alerts.stats(conn), AlertStats))

    @get("/alerts/{alert_id:uuid}")
    async def get_alert(alert_id: FromPath[UUID]) -> Answer[Alert]:
        async with runtime.pool.acquire() as conn:
            row = await alerts.get(conn, alert_id)
        if row is None:
            raise ApiError(404, "Alert not found")
        return Answer(data=alert_view(row))

    @post("/alerts/{alert_id:uuid}/resolve", status_code=200)
    async def resolve_alert(alert_id: FromPath[UUID], request: Request) -> Answer[Resolved]:
        body = decode_body(await request.body(), ResolveBody)
        async with runtime.pool.acquire() as conn, conn.transaction():
            if await alerts.get(conn, alert_id) is None:
                raise ApiError(404, "Alert not found")
            resolved = await alerts.resolve(conn, [alert_id], body.resolved_by)
        message = "Alert resolved" if resolved else "Alert was already resolved"
        return Answer(data=Resolved(id=alert_id, resolved=True), message=message)

    @post("/alerts/bulk-resolve", status_code=200)
    async def bulk_resolve(request: Request) -> Answer[BulkResolved]:
        body = decode_body(await request.body(), BulkResolveBody, empty_ok=False)
        async with runtime.pool.acquire() as conn, conn.transaction():
            resolved = await alerts.resolve(conn, list(set(body.alert_ids)), body.resolved_by)
        return Answer(
            data=BulkResolved(resolved=len(resolved)), message=f"{len(resolved)} alerts resolved"
        )

    @get("/alert-rules")
    async def list_rules() -> Answer[list[AlertRule]]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=[rule_view(r) for r in await alert_rules.all_rules(conn)])

    @post("/alert-rules", status_code=201)
    async def create_rule(request: Request) -> Answer[AlertRule]:
        body = decode_body(await request.body(), RuleBody, empty_ok=False)
        alert_rules.check(body, webhook_hosts)
        rule_id = uuid6.uuid7()
        actions = alert_rules.sealed_actions(body, rule_id, sealer)
        async with runtime.pool.acquire() as conn:
            row = await alert_rules.insert(conn, rule_id, body, actions)
        return Answer(data=rule_view(row), message="Alert rule created")

    @put("/alert-rules/{rule_id:uuid}")
    async def replace_rule(rule_id: FromPath[UUID], request: Request) -> Answer[AlertRule]:
        body = decode_body(await request.body(), RuleBody, empty_ok=False)
        alert_rules.check(body, webhook_hosts)
        actions = alert_rules.sealed_actions(body, rule_id, sealer)
        async with runtime.pool.acquire() as conn:
            row = await alert_rules.replace(conn, rule_id, body, actions)
        if row is None:
            raise ApiError(404, "Alert rule not found")
        return Answer(data=rule_view(row))

    @delete("/alert-rules/{rule_id:uuid}", status_code=200)
    async def delete_rule(rule_id: FromPath[UUID]) -> Nothing:
        async with runtime.pool.acquire() as conn:
            if not await alert_rules.delete(conn, rule_id):
                raise ApiError(404, "Alert rule not found")
        return Nothing(message="Alert rule deleted")

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
