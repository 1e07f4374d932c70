"""Alerts and alert rules (`/api/alerts`, `/api/alert-rules`), owned by the node-agent-gateway."""

from __future__ import annotations

from typing import Any

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.alerts import (
    Alert,
    AlertQuery,
    AlertRule,
    AlertStats,
    BulkResolveBody,
    BulkResolved,
    ResolveBody,
    Resolved,
    RuleBody,
)
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.routes.node_routes import AGENTS

TAGS = ["alerts"]


def routes(ctx: GatewayContext) -> list[Any]:
    read, resolve = catalogue.ALERT_READ, catalogue.ALERT_RESOLVE
    admin_read, admin_write = catalogue.ADMIN_READ, catalogue.ADMIN_WRITE
    alert, rule = "/api/alerts/{alert_id:uuid}", "/api/alert-rules/{rule_id:uuid}"
    rule_audit = {"target": "alert_rule", "param": "rule_id"}
    table = [
        Forward("GET", "/api/alerts", "/alerts", read, PagedAnswer[Alert],
                "List alerts (filters, pages)", query=AlertQuery),
        Forward("GET", "/api/alerts/stats", "/alerts/stats", read, Answer[AlertStats],
                "Alert counts by type, severity"),
        Forward("GET", alert, "/alerts/{alert_id}", read, Answer[Alert], "Alert details"),
        Forward("POST", alert + "/resolve", "/alerts/{alert_id}/resolve", resolve,
                Answer[Resolved], "Resolve an alert", body=ResolveBody,
                audit=audit.action("alert.resolve")),
        Forward("POST", "/api/alerts/bulk-resolve", "/alerts/bulk-resolve", resolve,
                Answer[BulkResolved], "Resolve many alerts", body=BulkResolveBody,
                audit=audit.action("alert.bulk_resolve", keep=("alertIds",))),
        Forward("GET", "/api/alert-rules", "/alert-rules", admin_read, Answer[list[AlertRule]],
                "List alert rules"),
        Forward("POST", "/api/alert-rules", "/alert-rules", admin_write, Answer[AlertRule],
                "Create an alert rule", body=RuleBody, status=201,
                audit=audit.action("alert_rule.create", **rule_audit)),
        Forward("PUT", rule, "/alert-rules/{rule_id}", admin_write, Answer[AlertRule],
                "Replace an alert rule", body=RuleBody,
                audit=audit.action("alert_rule.update", **rule_audit)),
        Forward("DELETE", rule, "/alert-rules/{rule_id}", admin_write, Nothing,
                "Delete an alert rule", audit=audit.action("alert_rule.delete", **rule_audit)),
    ]  # fmt: skip
    return forward_routes(ctx, AGENTS, TAGS, table)
