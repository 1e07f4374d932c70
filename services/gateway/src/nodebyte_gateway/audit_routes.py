"""`GET /api/admin/audit-logs`: the admin audit log, newest first, filtered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from litestar import get
from litestar.params import FromQuery, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ok
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.paging import Paging
from nodebyte_gateway.timestamps import iso


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime

    @get(
        "/api/admin/audit-logs",
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
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> Any:
        filters = AuditFilters(
            actor_id=actor_id or user_id,
            actor_type=actor_type,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        )
        paging = Paging(page, limit)
        async with runtime.pool.acquire() as conn:
            rows, total = await _query(conn, filters, paging)
        return ok([_view(row) for row in rows], pagination=paging.envelope(total))

    return [audit_logs]


@dataclass(frozen=True)
class AuditFilters:
    actor_id: str | None = None
    actor_type: str | None = None
    action: str | None = None  # `user.*` matches every action under `user.`
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.replace("?", f"${len(args)}"))

        for column in ("actor_id", "actor_type", "target_type", "target_id"):
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


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "occurredAt": iso(row["occurred_at"]),
        "actor": {"type": row["actor_type"], "id": row["actor_id"], "label": row["actor_label"]},
        "action": row["action"],
        "target": {"type": row["target_type"], "id": row["target_id"]},
        "before": row["before"],
        "after": row["after"],
        "ipAddress": row["ip"],
        "userAgent": row["user_agent"],
        "requestId": row["request_id"],
    }
