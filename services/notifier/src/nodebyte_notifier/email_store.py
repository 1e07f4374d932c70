"""SQL for `email_deliveries`: each email owed, its sealed content and what became of it."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from nodebyte_common.contracts.notify import EmailStatus
from nodebyte_common.observability import current_traceparent
from nodebyte_notifier.retry_policy import Attempt, Settlement

NOTIFY_CHANNEL = "notifier_emails"


def content_context(email_id: UUID) -> str:
    return f"email:{email_id}"


async def enqueue(
    conn: asyncpg.Connection,
    *,
    email_id: UUID,
    source_event_id: UUID | None,
    recipients: list[str],
    subject: str,
    template: str,
    content_sealed: str | None,
    provider: str | None,
    error: str | None = None,
) -> bool:
    """Queue an email (or record it failed when `error`); False when the id was seen before."""
    inserted = await conn.fetchval(
        """INSERT INTO email_deliveries (id, source_event_id, recipients, subject, template,
                                         content_sealed, provider, status, last_error,
                                         traceparent)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO NOTHING RETURNING true""",
        email_id,
        source_event_id,
        recipients,
        subject,
        template,
        content_sealed,
        provider,
        "failed" if error else "queued",
        error,
        current_traceparent(),
    )
    if inserted and not error:
        await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return bool(inserted)


async def lease_due(
    conn: asyncpg.Connection, limit: int, lease_seconds: float
) -> list[asyncpg.Record]:
    """Claim due emails, each with a fresh fencing token."""
    return await conn.fetch(
        """UPDATE email_deliveries
           SET status = 'sending', attempts = attempts + 1, lease_token = gen_random_uuid(),
               lease_until = now() + make_interval(secs => $2), updated_at = now()
           WHERE id IN (SELECT id FROM email_deliveries
                        WHERE status = 'queued' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, recipients, subject, template, content_sealed, attempts, throttles,
                     traceparent, lease_token""",
        limit,
        lease_seconds,
    )


async def settle(
    conn: asyncpg.Connection, email_id: UUID, token: UUID, a: Attempt, s: Settlement
) -> asyncpg.Record | None:
    """Write an outcome if the lease is still `token`'s; the row written, else None."""
    return await conn.fetchrow(
        """UPDATE email_deliveries
           SET status = $3,
               attempts = attempts - CASE WHEN $8 THEN 1 ELSE 0 END,
               throttles = throttles + CASE WHEN $8 THEN 1 ELSE 0 END,
               next_attempt_at = now() + make_interval(secs => $4),
               last_status_code = $5, last_error = $6,
               message_id = coalesce($7, message_id),
               sent_at = CASE WHEN $3 = 'sent' THEN now() ELSE sent_at END,
               lease_token = NULL, lease_until = NULL, updated_at = now()
           WHERE id = $1 AND status = 'sending' AND lease_token = $2
           RETURNING id, template, attempts, status, last_error""",
        email_id,
        token,
        s.status,
        s.delay,
        a.status_code,
        a.error,
        a.message_id,
        s.throttled,
    )


async def view(conn: asyncpg.Connection, email_id: UUID) -> EmailStatus | None:
    row = await conn.fetchrow("SELECT * FROM email_deliveries WHERE id = $1", email_id)
    if row is None:
        return None
    return EmailStatus(
        id=row["id"],
        to=list(row["recipients"]),
        subject=row["subject"],
        template=row["template"],
        status=row["status"].upper(),
        attempts=row["attempts"],
        provider=row["provider"],
        messageId=row["message_id"],
        lastStatusCode=row["last_status_code"],
        lastError=row["last_error"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
        sentAt=row["sent_at"],
        nextAttemptAt=row["next_attempt_at"] if row["status"] == "queued" else None,
    )


async def purge_finished(conn: asyncpg.Connection, retention_days: int) -> None:
    await conn.execute(
        """DELETE FROM email_deliveries WHERE status IN ('sent', 'failed')
           AND created_at < now() - make_interval(days => $1)""",
        retention_days,
    )
