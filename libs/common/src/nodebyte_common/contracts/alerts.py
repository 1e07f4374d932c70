"""Alerts and alert rules (`/api/alerts`, `/api/alert-rules`), owned by the node-agent-gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from nodebyte_common.contracts.nodes import PageNumber, PageSize

AlertType = Literal["resource_threshold", "node_offline", "server_crashed"]
Severity = Literal["info", "warning", "critical"]
Operator = Literal[">", "<", ">=", "<=", "=="]
Who = Annotated[str, msgspec.Meta(max_length=255)]
RuleName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
TargetId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$", max_length=2048)]
# What an alert records of its cause: the metric, its reading, the rule's threshold…
Metadata = dict[str, str | int | float | bool | None]


class AlertQuery(msgspec.Struct, rename="camel", frozen=True):
    server_id: UUID | None = None
    node_id: UUID | None = None
    type: AlertType | None = None
    severity: Severity | None = None
    resolved: bool | None = None
    page: PageNumber = 1
    limit: PageSize = 20


class ResolveBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    resolved_by: Who | None = None


class BulkResolveBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    alert_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=1000)]
    resolved_by: Who | None = None


class Conditions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    metric: Literal["cpu", "memory", "disk"]
    operator: Operator
    value: Annotated[float, msgspec.Meta(ge=0, le=100_000)]
    duration: Annotated[int, msgspec.Meta(ge=0, le=7 * 86_400)] = 0


class WebhookAction(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    type: Literal["webhook"]
    url: Url


class RuleBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: RuleName
    type: AlertType
    target: Literal["node", "server"]
    target_id: TargetId = "*"
    severity: Severity = "warning"
    conditions: Conditions | None = None
    actions: Annotated[list[WebhookAction], msgspec.Meta(max_length=10)] = []
    enabled: bool = True


class Alert(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    rule_id: UUID | None
    server_id: UUID | None
    node_id: UUID | None
    type: AlertType
    severity: Severity
    title: str
    message: str
    metadata: Metadata
    resolved: bool
    resolved_at: datetime | None
    resolved_by: str | None
    created_at: datetime


class AlertStats(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    total: int
    unresolved: int
    by_type: dict[str, int]
    by_severity: dict[str, int]


class Resolved(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    resolved: bool


class BulkResolved(msgspec.Struct, frozen=True, kw_only=True):
    resolved: int


class RuleAction(msgspec.Struct, frozen=True, kw_only=True):
    """A rule's webhook as shown: its URL masked (the sealed URL never leaves the service)."""

    type: Literal["webhook"]
    url: str | None


class AlertRule(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    name: str
    type: AlertType
    target: Literal["node", "server"]
    target_id: str
    severity: Severity
    conditions: Conditions | None
    actions: list[RuleAction]
    enabled: bool
    created_at: datetime
    updated_at: datetime
