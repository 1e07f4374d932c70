"""SQL for `webhook_deliveries` and `webhook_dispatches`: what is owed to which webhook."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common.contracts.notify import Delivery, Dispatch
from nodebyte_common.observability import current_traceparent
from nodebyte_notifier.retry_policy import Attempt, Settlement

NOTIFY_CHANNEL = "notifier_deliveries"
SYSTEM_TARGET = "system"  # the webhook configured by DISCORD_WEBHOOK_URL


async def enqueue(
    conn: asyncpg.Connection,
    source_event_id: UUID,
    targets: list[str],
    payload: dict[str, Any],
    event_type: str,
    request_id: UUID | None = None,
    after_event: UUID | None = None,
) -> int:
    """One delivery per target; an event seen again adds none (unique per event and target).

    With `after_event`, each is sent only once that event's delivery to the same
    target is settled (sent or failed), if it has one.
    """
    if not targets:
        return 0
    status = await conn.execute(
        """INSERT INTO webhook_deliveries
                  (id, source_event_id, target, payload, event_type, request_id, after_event,
                   traceparent)
           SELECT u.id, $2, u.target, $3, $4, $5, $7, $8
           FROM unnest($1::uuid[], $6::text[]) AS u(id, target)
           ON CONFLICT (source_event_id, target) DO NOTHING""",
        [uuid6.uuid7() for _ in targets],
        source_event_id,
        payload,
        event_type,
        request_id,
        targets,
        after_event,
        current_traceparent(),
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return int(status.rsplit(" ", 1)[-1])


async def candidates(
    conn: asyncpg.Connection, limit: int, blocked: list[str]
) -> list[asyncpg.Record]:
    """Due deliveries, locked for this transaction, skipping targets that must wait."""
    return await conn.fetch(
        """SELECT id, target FROM webhook_deliveries d
           WHERE status = 'queued' AND next_attempt_at <= now() AND target <> ALL($2::text[])
             AND (after_event IS NULL OR NOT EXISTS (
                   SELECT FROM webhook_deliveries p
                   WHERE p.source_event_id = d.after_event AND p.target = d.target
                     AND p.status IN ('queued', 'sending')))
           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED""",
        limit,
        blocked,
    )


async def lease(
    conn: asyncpg.Connection, ids: list[UUID], lease_seconds: float
) -> list[asyncpg.Record]:
    """Claim deliveries (locked by `candidates`), each with a fresh fencing token."""
    return await conn.fetch(
        """UPDATE webhook_deliveries
           SET status = 'sending', attempts = attempts + 1, lease_token = gen_random_uuid(),
               lease_until = now() + make_interval(secs => $2), updated_at = now()
           WHERE id = ANY($1::uuid[])
           RETURNING id, target, payload, attempts, throttles, source_event_id, event_type,
                     traceparent, lease_token""",
        ids,
        lease_seconds,
    )


async def settle(
    conn: asyncpg.Connection, rows: list[tuple[UUID, UUID, Attempt, Settlement]]
) -> list[asyncpg.Record]:
    """Write outcomes of (id, lease token, …) still leased by that token; the rows written."""
    return await conn.fetch(
        """UPDATE webhook_deliveries d
           SET status = u.status,
               attempts = d.attempts - CASE WHEN u.throttled THEN 1 ELSE 0 END,
               throttles = d.throttles + CASE WHEN u.throttled THEN 1 ELSE 0 END,
               next_attempt_at = now() + make_interval(secs => u.delay),
               last_status_code = u.code, last_error = u.error,
               message_id = coalesce(u.message_id, d.message_id),
               sent_at = CASE WHEN u.status = 'sent' THEN now() ELSE d.sent_at END,
               lease_token = NULL, lease_until = NULL, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::text[],
                       $7::bool[], $8::uuid[])
                AS u(id, status, delay, code, error, message_id, throttled, token)
           WHERE d.id = u.id AND d.status = 'sending' AND d.lease_token = u.token
           RETURNING d.id, d.target, d.source_event_id, d.attempts, d.status,
                     d.last_status_code, d.message_id, d.last_error""",
        [r[0] for r in rows],
        [r[3].status for r in rows],
        [r[3].delay for r in rows],
        [r[2].status_code for r in rows],
        [r[2].error for r in rows],
        [r[2].message_id for r in rows],
        [r[3].throttled for r in rows],
        [r[1] for r in rows],
    )


async def record_dispatch(
    conn: asyncpg.Connection, dispatch_id: UUID, event: str, webhook_type: str, scope: str
) -> None:
    await conn.execute(
        """INSERT INTO webhook_dispatches (id, event, webhook_type, scope)
           VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING""",
        dispatch_id,
        event,
        webhook_type,
        scope,
    )


async def dispatch_view(conn: asyncpg.Connection, dispatch_id: UUID) -> Dispatch | None:
    dispatch = await conn.fetchrow("SELECT * FROM webhook_dispatches WHERE id = $1", dispatch_id)
    if dispatch is None:
        return None
    rows = await conn.fetch(
        """SELECT d.*, w.name AS webhook_name FROM webhook_deliveries d
           LEFT JOIN webhooks w ON w.id::text = d.target
           WHERE d.request_id = $1 ORDER BY d.created_at, d.id""",
        dispatch_id,
    )
    deliveries = [delivery_view(row) for row in rows]
    return Dispatch(
        id=dispatch_id,
        event=dispatch["event"],
        type=dispatch["webhook_type"],
        scope=dispatch["scope"],
        status=overall_status([d.status for d in deliveries]),
        deliveries=deliveries,
        createdAt=dispatch["created_at"],
    )


def overall_status(statuses: list[str]) -> str:
    """SENT when all were sent, FAILED when any failed for good, else still going."""
    if not statuses:
        return "NO_TARGETS"
    if all(s == "SENT" for s in statuses):
        return "SENT"
    if any(s in ("QUEUED", "SENDING") for s in statuses):
        return "SENDING" if any(s != "QUEUED" for s in statuses) else "QUEUED"
    return "FAILED" if all(s == "FAILED" for s in statuses) else "PARTIAL"


def delivery_view(row: asyncpg.Record) -> Delivery:
    target = row["target"]
    return Delivery(
        id=row["id"],
        webhookId=None if target == SYSTEM_TARGET else target,
        webhookName=row["webhook_name"] or ("system" if target == SYSTEM_TARGET else None),
        status=row["status"].upper(),
        attempts=row["attempts"],
        lastStatusCode=row["last_status_code"],
        lastError=row["last_error"],
        messageId=row["message_id"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
        sentAt=row["sent_at"],
        nextAttemptAt=row["next_attempt_at"] if row["status"] == "queued" else None,
    )


async def fail_pending_for(conn: asyncpg.Connection, target: str, reason: str) -> int:
    """Deliveries still owed to a webhook that is gone or disabled end as failed."""
    status = await conn.execute(
        """UPDATE webhook_deliveries SET status = 'failed', last_error = $2, updated_at = now()
           WHERE target = $1 AND status = 'queued'""",
        target,
        reason,
    )
    return int(status.rsplit(" ", 1)[-1])


async def purge_finished(conn: asyncpg.Connection, retention_days: int) -> None:
    await conn.execute(
        """DELETE FROM webhook_deliveries WHERE status IN ('sent', 'failed')
           AND created_at < now() - make_interval(days => $1)""",
        retention_days,
    )
    await conn.execute(
        "DELETE FROM alert_routes WHERE created_at < now() - make_interval(days => $1)",
        retention_days,
    )
    await conn.execute(
        """DELETE FROM webhook_dispatches d WHERE created_at < now() - make_interval(days => $1)
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.request_id = d.id)""",
        retention_days,
    )
