"""Managing webhooks: create, change, delete, test, and disable one Discord refuses."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.contracts.notify import CreateWebhook, UpdateWebhook, Webhook, WebhookTest
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url
from nodebyte_notifier import delivery_store, embeds, webhook_store
from nodebyte_notifier.discord_sender import DiscordSender
from nodebyte_notifier.retry_policy import Attempt
from nodebyte_notifier.webhook_store import WebhookFields

log = logging.getLogger(__name__)

SOURCE = "nodebyte/notifier"
# A test waits this long for a slot in its webhook's bucket, then is answered 429:
# the gateway gives the notifier 5 s, and the request to Discord needs some too.
TEST_WAIT_SECONDS = 3.0


class WebhookAdmin:
    def __init__(self, sealer: Sealer | None, sender: DiscordSender) -> None:
        self.sealer = sealer
        self.sender = sender

    def _require_sealer(self) -> Sealer:
        if self.sealer is None:
            raise ApiError(503, "Webhooks need ENCRYPTION_KEYS to store their URLs")
        return self.sealer

    def _checked(self, url: str) -> tuple[str, str]:
        try:
            parsed = parse_webhook_url(url, self.sender.allowed_hosts)
        except WebhookUrlError as exc:
            raise ApiError(
                400, f"Invalid Discord webhook URL: {exc}", "INVALID_WEBHOOK_URL"
            ) from None
        return parsed.url, parsed.masked

    async def create(self, conn: asyncpg.Connection, body: CreateWebhook) -> Webhook:
        sealer = self._require_sealer()
        url, masked = self._checked(body.webhook_url)
        fields = WebhookFields(
            body.name, body.type, body.scope, body.description, _unique(body.events), body.enabled
        )
        row = await webhook_store.insert(conn, sealer, uuid6.uuid7(), url, masked, fields)
        if row is None:
            raise ApiError(409, "A webhook with this URL already exists", "WEBHOOK_EXISTS")
        return webhook_store.view(row)

    async def update(
        self, conn: asyncpg.Connection, webhook_id: UUID, body: UpdateWebhook
    ) -> Webhook:
        current = await webhook_store.get(conn, webhook_id)
        if current is None:
            raise ApiError(404, "Webhook not found")
        if body.webhook_url is not None:
            url, masked = self._checked(body.webhook_url)
            if not await webhook_store.replace_url(
                conn, self._require_sealer(), webhook_id, url, masked
            ):
                raise ApiError(409, "A webhook with this URL already exists", "WEBHOOK_EXISTS")
        fields = WebhookFields(
            name=body.name if body.name is not None else current["name"],
            type=body.type or current["type"],
            scope=body.scope or current["scope"],
            description=(
                body.description if body.description is not None else current["description"]
            ),
            events=_unique(body.events) if body.events is not None else list(current["events"]),
            enabled=body.enabled if body.enabled is not None else current["enabled"],
        )
        row = await webhook_store.update(conn, webhook_id, fields)
        if row is None:  # deleted meanwhile
            raise ApiError(404, "Webhook not found")
        if not fields.enabled:
            await delivery_store.fail_pending_for(conn, str(webhook_id), "webhook disabled")
        return webhook_store.view(row)

    async def delete(self, conn: asyncpg.Connection, webhook_id: UUID) -> None:
        if not await webhook_store.delete(conn, webhook_id):
            raise ApiError(404, "Webhook not found")
        await delivery_store.fail_pending_for(conn, str(webhook_id), "webhook deleted")

    async def test(self, pool: asyncpg.Pool, webhook_id: UUID) -> WebhookTest:
        """Send a test embed now and report Discord's answer."""
        async with pool.acquire() as conn:
            rows = await webhook_store.sealed_urls(conn, [webhook_id])
        if not rows:
            raise ApiError(404, "Webhook not found")
        row = rows[0]
        try:
            url = self._require_sealer().open(
                row["url_sealed"], webhook_store.url_context(row["id"])
            )
        except SealingError:
            raise ApiError(500, "The webhook URL cannot be read", "WEBHOOK_UNREADABLE") from None
        attempt = await self.sender.post(
            str(webhook_id), url, embeds.test_message(row["name"]), max_wait=TEST_WAIT_SECONDS
        )
        if attempt.retry_after is not None:
            raise _rate_limited(attempt)
        disabled = False
        async with pool.acquire() as conn, conn.transaction():
            if attempt.sent:
                await webhook_store.mark_tested(conn, webhook_id)
            if attempt.gone:
                disabled = await disable_refused(conn, webhook_id, attempt)
        return WebhookTest(
            delivered=attempt.sent,
            statusCode=attempt.status_code,
            messageId=attempt.message_id,
            error=attempt.error,
            retryAfter=attempt.retry_after,
            disabled=disabled,
        )


def _rate_limited(attempt: Attempt) -> ApiError:
    """Discord's bucket for this webhook is empty: the caller tries again later."""
    seconds = max(1, math.ceil(attempt.retry_after or 1.0))
    return ApiError(
        429,
        f"Discord rate-limits this webhook; try again in {seconds} s",
        "RATE_LIMITED",
        {"retryAfter": attempt.retry_after, "sent": attempt.status_code is not None},
        headers={"Retry-After": str(seconds)},
    )


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


async def disable_refused(conn: asyncpg.Connection, webhook_id: UUID, attempt: Attempt) -> bool:
    """Stop using a webhook Discord refuses for good (404/401) and say so: `webhook.disabled`."""
    reason = attempt.error or f"HTTP {attempt.status_code}"
    disabled = await webhook_store.disable(conn, webhook_id, reason)
    if disabled is None:
        return False
    await delivery_store.fail_pending_for(conn, str(webhook_id), "webhook disabled")
    event = events.WebhookDisabled(
        webhook_id=disabled["id"],
        name=disabled["name"],
        status_code=attempt.status_code or 0,
        reason=reason,
        disabled_at=datetime.now(UTC),
    )
    await outbox.enqueue(conn, event, source=SOURCE)
    log.warning("webhook disabled", extra={"webhook_id": str(webhook_id), "reason": reason})
    return True
