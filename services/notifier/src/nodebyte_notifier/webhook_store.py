"""SQL for the `webhooks` table. URLs go in sealed and come out masked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from nodebyte_common.contracts.notify import Webhook
from nodebyte_common.sealing import Sealer
from nodebyte_notifier.audience import Audience

COLUMNS = """id, name, url_masked, type, scope, description, events, enabled, disabled_reason,
             disabled_at, test_success_at, created_at, updated_at"""


def url_context(webhook_id: UUID) -> str:
    return f"webhook:{webhook_id}"


def url_digest(url: str) -> bytes:
    # Webhook tokens are long and random: a plain hash finds duplicates and reveals nothing.
    return hashlib.sha256(url.encode()).digest()


@dataclass(frozen=True)
class WebhookFields:
    name: str
    type: str
    scope: str
    description: str | None
    events: list[str]
    enabled: bool


def view(row: asyncpg.Record) -> Webhook:
    """A webhook as the admin API shows it (URL masked)."""
    return Webhook(
        id=row["id"],
        name=row["name"],
        webhookUrl=row["url_masked"],
        type=row["type"],
        scope=row["scope"],
        description=row["description"],
        events=list(row["events"]),
        enabled=row["enabled"],
        disabledReason=row["disabled_reason"],
        disabledAt=row["disabled_at"],
        testSuccessAt=row["test_success_at"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
    )


async def insert(
    conn: asyncpg.Connection,
    sealer: Sealer,
    webhook_id: UUID,
    url: str,
    masked: str,
    f: WebhookFields,
) -> asyncpg.Record | None:
    """The new row, or None when a webhook with this URL exists."""
    return await conn.fetchrow(
        f"""INSERT INTO webhooks (id, name, url_sealed, url_masked, url_digest, type, scope,
                                  description, events, enabled)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (url_digest) DO NOTHING RETURNING {COLUMNS}""",
        webhook_id,
        f.name,
        sealer.seal(url, url_context(webhook_id)),
        masked,
        url_digest(url),
        f.type,
        f.scope,
        f.description,
        f.events,
        f.enabled,
    )


async def get(conn: asyncpg.Connection, webhook_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM webhooks WHERE id = $1", webhook_id)


async def list_all(
    conn: asyncpg.Connection, webhook_type: str | None = None
) -> list[asyncpg.Record]:
    """Every webhook, or those of one type."""
    return await conn.fetch(
        f"""SELECT {COLUMNS} FROM webhooks WHERE $1::text IS NULL OR type = $1
            ORDER BY created_at DESC, id""",
        webhook_type,
    )


async def update(
    conn: asyncpg.Connection, webhook_id: UUID, f: WebhookFields
) -> asyncpg.Record | None:
    """Enabling a webhook clears why it was disabled."""
    return await conn.fetchrow(
        f"""UPDATE webhooks SET name = $2, type = $3, scope = $4, description = $5, events = $6,
                   enabled = $7,
                   disabled_reason = CASE WHEN $7 THEN NULL ELSE disabled_reason END,
                   disabled_at = CASE WHEN $7 THEN NULL ELSE disabled_at END,
                   updated_at = now()
            WHERE id = $1 RETURNING {COLUMNS}""",
        webhook_id,
        f.name,
        f.type,
        f.scope,
        f.description,
        f.events,
        f.enabled,
    )


async def replace_url(
    conn: asyncpg.Connection, sealer: Sealer, webhook_id: UUID, url: str, masked: str
) -> bool:
    """False when another webhook already has this URL."""
    try:
        status = await conn.execute(
            """UPDATE webhooks SET url_sealed = $2, url_masked = $3, url_digest = $4,
                      updated_at = now() WHERE id = $1""",
            webhook_id,
            sealer.seal(url, url_context(webhook_id)),
            masked,
            url_digest(url),
        )
    except asyncpg.UniqueViolationError:
        return False
    return status != "UPDATE 0"


async def delete(conn: asyncpg.Connection, webhook_id: UUID) -> bool:
    return await conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id) != "DELETE 0"


async def disable(conn: asyncpg.Connection, webhook_id: UUID, reason: str) -> asyncpg.Record | None:
    """Disable an enabled webhook; None when it was already disabled or is gone."""
    return await conn.fetchrow(
        f"""UPDATE webhooks SET enabled = false, disabled_reason = $2, disabled_at = now(),
                   updated_at = now()
            WHERE id = $1 AND enabled RETURNING {COLUMNS}""",
        webhook_id,
        reason,
    )


async def mark_tested(conn: asyncpg.Connection, webhook_id: UUID) -> None:
    await conn.execute("UPDATE webhooks SET test_success_at = now() WHERE id = $1", webhook_id)


async def sealed_urls(conn: asyncpg.Connection, ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, name, url_sealed, enabled FROM webhooks WHERE id = ANY($1::uuid[])", ids
    )


async def matching(conn: asyncpg.Connection, audience: Audience) -> list[UUID]:
    """Enabled webhooks of the audience's type and scope that want its event."""
    rows = await conn.fetch(
        """SELECT id FROM webhooks
           WHERE enabled AND type = $1 AND scope = $2
             AND (cardinality(events) = 0 OR $3 = ANY(events))""",
        audience.webhook_type,
        audience.scope,
        audience.event,
    )
    return [row["id"] for row in rows]
