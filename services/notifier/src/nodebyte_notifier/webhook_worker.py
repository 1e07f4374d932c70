"""Sends queued webhook deliveries to Discord, paced per webhook, exactly once where it can.

Discord has no idempotency key. `?wait=true` makes it answer with the message
it created, whose id is recorded with the delivery; a delivery is sent again
only when no answer was recorded: after a failure, a rate limit, or a worker
that died mid-request (the one window where Discord may show it twice).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common import events, outbox
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_notifier import delivery_store, rule_webhooks, webhook_store
from nodebyte_notifier.delivery_store import SYSTEM_TARGET
from nodebyte_notifier.discord_sender import DiscordSender
from nodebyte_notifier.lease_worker import IDLE_WAIT, LeaseWorker
from nodebyte_notifier.retry_policy import Attempt, RetryPolicy
from nodebyte_notifier.webhook_admin import disable_refused

log = logging.getLogger(__name__)

SOURCE = "nodebyte/notifier"
SLOT_WAIT_SECONDS = 10.0  # then the delivery is requeued for when the bucket has room
CANDIDATES_PER_SLOT = 4  # rows looked at per free slot, so busy webhooks do not starve others


class WebhookWorker(LeaseWorker):
    table = "webhook_deliveries"
    channel = delivery_store.NOTIFY_CHANNEL

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        sender: DiscordSender,
        sealer: Sealer | None,
        system_url: str | None,
        policy: RetryPolicy,
        max_in_flight: int,
        lease_seconds: float,
        drain_seconds: float,
    ) -> None:
        super().__init__(
            pool,
            max_in_flight=max_in_flight,
            lease_seconds=lease_seconds,
            drain_seconds=drain_seconds,
        )
        self.sender = sender
        self.sealer = sealer
        self.system_url = system_url
        self.policy = policy
        self._opened: dict[str, str] = {}  # sealed URL -> URL, so each is opened once

    def wait_hint(self) -> float:
        return min(self.sender.limiter.wait_seconds() or IDLE_WAIT, IDLE_WAIT)

    async def claim(self, conn: asyncpg.Connection, free: int) -> list[Any]:
        limiter = self.sender.limiter
        rows = await delivery_store.candidates(conn, free * CANDIDATES_PER_SLOT, limiter.blocked())
        room: dict[str, int] = {}
        chosen: list[UUID] = []
        for row in rows:
            target = row["target"]
            left = room.setdefault(target, limiter.room(target))
            if left > 0 and len(chosen) < free:
                chosen.append(row["id"])
                room[target] = left - 1
        if not chosen:
            return []
        leased = await delivery_store.lease(conn, chosen, self.lease_seconds)
        urls = await self._urls(conn, {row["target"] for row in leased})
        return [{**dict(row), "url": urls.get(row["target"])} for row in leased]

    async def _urls(self, conn: asyncpg.Connection, targets: set[str]) -> dict[str, str | None]:
        """The URL of each target; None for a webhook that is disabled, deleted or unreadable."""
        urls: dict[str, str | None] = {}
        if SYSTEM_TARGET in targets:
            urls[SYSTEM_TARGET] = self.system_url
        ids = [i for t in targets if (i := _registered_webhook(t)) is not None]
        for row in await webhook_store.sealed_urls(conn, ids) if ids else []:
            context = webhook_store.url_context(row["id"])
            urls[str(row["id"])] = self._open(row, context) if row["enabled"] else None
        rule_ids = [rule_webhooks.target_id(t) for t in targets if rule_webhooks.is_target(t)]
        for row in await rule_webhooks.sealed_urls(conn, rule_ids) if rule_ids else []:
            context = rule_webhooks.url_context(row["id"])
            urls[rule_webhooks.target_of(row["id"])] = self._open(row, context)
        return urls

    def _open(self, row: asyncpg.Record, context: str) -> str | None:
        sealed = row["url_sealed"]
        if sealed not in self._opened and self.sealer is not None:
            try:
                self._opened[sealed] = self.sealer.open(sealed, context)
            except SealingError:
                log.error("a webhook URL does not open", extra={"webhook_id": str(row["id"])})
                return None
        return self._opened.get(sealed)

    async def send(self, row: Any) -> Attempt:
        if row["url"] is None:
            return Attempt(sent=False, error="webhook disabled or deleted", permanent=True)
        # Claimed only with room in its bucket: the wait is for a slot a test took meanwhile.
        return await self.sender.post(
            row["target"], row["url"], row["payload"], max_wait=SLOT_WAIT_SECONDS
        )

    async def settle(self, conn: asyncpg.Connection, outcomes: list[tuple[Any, Attempt]]) -> None:
        plans = [
            (
                row["id"],
                row["lease_token"],
                a,
                self.policy.settle(row["attempts"], row["throttles"], a),
            )
            for row, a in outcomes
        ]
        written = {row["id"]: row for row in await delivery_store.settle(conn, plans)}
        for row, attempt in outcomes:
            done = written.get(row["id"])
            if done is None:
                continue  # our lease ran out and another claim took it: the outcome is not ours
            if done["status"] == "sent":
                await outbox.enqueue(conn, _delivered(done), source=SOURCE)
            elif done["status"] == "failed":
                log.warning(
                    "webhook delivery failed",
                    extra={"delivery_id": str(done["id"]), "error": done["last_error"]},
                )
            if attempt.gone:
                await self._disable(conn, row["target"], attempt)

    async def _disable(self, conn: asyncpg.Connection, target: str, attempt: Attempt) -> None:
        webhook_id = _registered_webhook(target)
        if webhook_id is not None:
            await disable_refused(conn, webhook_id, attempt)
        elif target == SYSTEM_TARGET:
            log.error("the system webhook (DISCORD_WEBHOOK_URL) is refused by Discord")
        else:  # the rule is the node-agent-gateway's to change
            log.error(
                "Discord refuses an alert rule's webhook; fix the rule's URL",
                extra={"target": target, "status_code": attempt.status_code},
            )


def _registered_webhook(target: str) -> UUID | None:
    """The id of a webhook registered here; None for the system and alert-rule targets."""
    if target == SYSTEM_TARGET or rule_webhooks.is_target(target):
        return None
    return UUID(target)


def _delivered(row: asyncpg.Record) -> events.WebhookDelivered:
    return events.WebhookDelivered(
        delivery_id=row["id"],
        webhook_id=_registered_webhook(row["target"]),
        source_event_id=row["source_event_id"],
        attempts=row["attempts"],
        status_code=row["last_status_code"] or 200,
        message_id=row["message_id"],
    )
