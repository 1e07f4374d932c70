"""Sends queued emails through the configured provider; `email.sent` / `email.failed`."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec

from nodebyte_common import events, outbox
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_notifier import email_store
from nodebyte_notifier.email_providers import EmailProvider, OutgoingEmail
from nodebyte_notifier.lease_worker import LeaseWorker
from nodebyte_notifier.retry_policy import Attempt, RetryPolicy

log = logging.getLogger(__name__)

SOURCE = "nodebyte/notifier"


class SealedContent(msgspec.Struct, frozen=True):
    html: str
    text: str


def seal_content(sealer: Sealer, email_id: Any, html: str, text: str) -> str:
    raw = msgspec.json.encode(SealedContent(html=html, text=text)).decode()
    return sealer.seal(raw, email_store.content_context(email_id))


class EmailWorker(LeaseWorker):
    table = "email_deliveries"
    channel = email_store.NOTIFY_CHANNEL

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        provider: EmailProvider | None,
        sealer: Sealer | None,
        sender: str,
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
        self.provider = provider
        self.sealer = sealer
        self.sender = sender
        self.policy = policy

    async def claim(self, conn: asyncpg.Connection, free: int) -> list[Any]:
        return await email_store.lease_due(conn, free, self.lease_seconds)

    async def send(self, row: Any) -> Attempt:
        if self.provider is None:
            return Attempt(sent=False, error="no email provider is configured", permanent=True)
        content = self._content(row)
        if content is None:
            return Attempt(sent=False, error="the email content does not open", permanent=True)
        email = OutgoingEmail(
            id=row["id"],
            sender=self.sender,
            to=list(row["recipients"]),
            subject=row["subject"],
            html=content.html,
            text=content.text,
        )
        return await self.provider.send(email)

    def _content(self, row: Any) -> SealedContent | None:
        if self.sealer is None or row["content_sealed"] is None:
            return None
        try:
            raw = self.sealer.open(row["content_sealed"], email_store.content_context(row["id"]))
        except SealingError:
            return None
        return msgspec.json.decode(raw, type=SealedContent)

    async def settle(self, conn: asyncpg.Connection, outcomes: list[tuple[Any, Attempt]]) -> None:
        for row, attempt in outcomes:
            plan = self.policy.settle(row["attempts"], row["throttles"], attempt)
            done = await email_store.settle(conn, row["id"], row["lease_token"], attempt, plan)
            if done is not None:
                await _announce(conn, done)


async def _announce(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    if row["status"] == "sent":
        event: events.Event = events.EmailSent(
            email_id=row["id"], template=row["template"], attempts=row["attempts"]
        )
    elif row["status"] == "failed":
        log.warning(
            "email delivery failed", extra={"email_id": str(row["id"]), "error": row["last_error"]}
        )
        event = events.EmailFailed(
            email_id=row["id"],
            template=row["template"],
            attempts=row["attempts"],
            error=row["last_error"] or "failed",
        )
    else:
        return
    await outbox.enqueue(conn, event, source=SOURCE)
