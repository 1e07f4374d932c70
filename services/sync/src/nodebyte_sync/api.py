"""The sync service's internal HTTP API (reached only by the gateway)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import get

from nodebyte_common.envelope import ApiError, ok
from nodebyte_common.runtime import Runtime
from nodebyte_sync import store


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def log_view(row: asyncpg.Record) -> dict[str, Any]:
    """A sync log in the reference's shape."""
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "status": row["status"],
        "itemsTotal": row["items_total"],
        "itemsSynced": row["items_synced"],
        "itemsFailed": row["items_failed"],
        "error": row["error"],
        "metadata": row["metadata"],
        "requestedBy": row["requested_by"],
        "createdAt": _iso(row["created_at"]),
        "startedAt": _iso(row["started_at"]),
        "completedAt": _iso(row["completed_at"]),
    }


def internal_routes(runtime: Runtime) -> list[Any]:
    @get("/sync/logs/{log_id:uuid}")
    async def get_sync_log(log_id: UUID) -> Any:
        async with runtime.pool.acquire() as conn:
            row = await store.get_log(conn, log_id)
        if row is None:
            raise ApiError(404, "Sync log not found")
        return ok(log_view(row))

    return [get_sync_log]
