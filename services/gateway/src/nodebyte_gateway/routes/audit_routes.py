"""`GET /api/admin/audit-logs` (also `/api/admin/audit`): the admin audit log, newest
first, filtered by actor, action (`server.*` for a prefix), target and outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import get
from litestar.params import QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Pages
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts.audit import Outcome
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.paging import Paging

# Taken as text and parsed here: Litestar's own conversion of a query datetime also takes
# a time without its offset and a bare number (seconds since 1970), which the document's
# `date-time` (RFC 3339) does not allow.
Instant = Annotated[str | None, QueryParameter(format="date-time", max_length=64)]


def _instant(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = msgspec.json.decode(msgspec.json.encode(raw), type=datetime)
    except msgspec.ValidationError:
        value = None
    if value is None or value.tzinfo is None:
        raise ApiError(400, f"`{name}` must be an RFC 3339 date-time with its offset")
    return value


class AuditActor(msgspec.Struct, kw_only=True, frozen=True):
    type: str  # user, api_key, cli, system
    id: str | None
    label: str | None  # the user's email or the key's name


class AuditTarget(msgspec.Struct, kw_only=True, frozen=True):
    type: str | None
    id: str | None


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    occurredAt: datetime
    actor: AuditActor
    action: str
    target: AuditTarget
    outcome: Outcome  # accepted, refused (4xx) or failed (5xx, timeout)
    before: dict[str, object] | None
    after: dict[str, object] | None  # for forwarded actions: status, path, ids, refusal
    ipAddress: str | None
    userAgent: str | None
    requestId: str | None
    # the reference's names for the same facts
    userId: str | None
    resourceType: str | None
    resourceId: str | None
    createdAt: datetime


class AuditAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: list[AuditEntry]
    pagination: Pages


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime

    @get(
        ["/api/admin/audit-logs", "/api/admin/audit"],
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["admin"],
        summary="The admin audit log",
    )
    async def audit_logs(
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        actor_id: Annotated[str | None, QueryParameter(name="actorId", max_length=100)] = None,
        user_id: Annotated[str | None, QueryParameter(name="userId", max_length=100)] = None,
        actor_type: Annotated[str | None, QueryParameter(name="actorType", max_length=20)] = None,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
        target_type: Annotated[str | None, QueryParameter(name="targetType", max_length=50)] = None,
        target_id: Annotated[str | None, QueryParameter(name="targetId", max_length=100)] = None,
        outcome: Annotated[
            Literal["accepted", "refused", "failed"] | None, QueryParameter()
        ] = None,
        since: Instant = None,
        until: Instant = None,
    ) -> AuditAnswer:
        filters = AuditFilters(
            actor_id=actor_id or user_id,
            actor_type=actor_type,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            since=_instant("since", since),
            until=_instant("until", until),
        )
        paging = Paging(page, limit)
        async with runtime.pool.acquire() as conn:
            rows, total = await _query(conn, filters, paging)
        return AuditAnswer(
            success=True, data=[_view(row) for row in rows], pagination=Pages.of(page, limit, total)
        )

    return [audit_logs]


@dataclass(frozen=True)
class AuditFilters:
    actor_id: str | None = None
    actor_type: str | None = None
    action: str | None = None  # `user.*` matches every action under `user.`
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        for column in ("actor_id", "actor_type", "target_type", "target_id", "outcome"):
            if value := getattr(self, column):
                add(f"{column} = ?", value)
        if self.action and self.action.endswith("*"):
            add("starts_with(action, ?)", self.action[:-1])
        elif self.action:
            add("action = ?", self.action)
        if self.since:
            add("occurred_at >= ?", self.since)
        if self.until:
            add("occurred_at < ?", self.until)
        return " AND ".join(clauses) or "true", args


async def _query(
    conn: asyncpg.Connection, filters: AuditFilters, paging: Paging
) -> tuple[list[asyncpg.Record], int]:
    where, args = filters.where()
    total = await conn.fetchval(f"SELECT count(*) FROM audit_logs WHERE {where}", *args)
    rows = await conn.fetch(
        f"""SELECT * FROM audit_logs WHERE {where}
            ORDER BY occurred_at DESC, id DESC
            LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}""",
        *args,
        paging.limit,
        paging.offset,
    )
    return rows, total


def _view(row: asyncpg.Record) -> AuditEntry:
    occurred = row["occurred_at"]
    return AuditEntry(
        id=str(row["id"]),
        occurredAt=occurred,
        actor=AuditActor(type=row["actor_type"], id=row["actor_id"], label=row["actor_label"]),
        action=row["action"],
        target=AuditTarget(type=row["target_type"], id=row["target_id"]),
        outcome=row["outcome"],
        before=row["before"],
        after=row["after"],
        ipAddress=row["ip"],
        userAgent=row["user_agent"],
        requestId=row["request_id"],
        userId=row["actor_id"] if row["actor_type"] == "user" else None,
        resourceType=row["target_type"],
        resourceId=row["target_id"],
        createdAt=occurred,
    )
