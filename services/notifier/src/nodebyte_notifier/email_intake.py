"""Turning an email request into a queued delivery: check, render, seal, enqueue.

A request that can never be sent (unknown template, missing data, bad
address, data that does not open) is recorded as failed with its reason and
announced as `email.failed`, so whoever asked can see why.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6

from nodebyte_common import email_catalogue, events, outbox
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_notifier import email_store
from nodebyte_notifier.email_templates import TemplateDataError, render
from nodebyte_notifier.email_worker import seal_content

SOURCE = "nodebyte/notifier"


class EmailIntake:
    def __init__(
        self, sealer: Sealer | None, provider: str | None, admin_recipients: list[str]
    ) -> None:
        self.sealer = sealer
        self.provider = provider
        self.admin_recipients = admin_recipients

    def request_data(self, request: events.EmailRequested) -> dict[str, Any]:
        """The plain data merged with the sealed data; raises ValueError when it does not open."""
        data = dict(request.data)
        if request.sealed_data:
            if self.sealer is None:
                raise ValueError("sealed email data needs ENCRYPTION_KEYS")
            try:
                opened = self.sealer.open(
                    request.sealed_data, events.email_data_context(request.email_id)
                )
                data.update(msgspec.json.decode(opened, type=dict[str, Any]))
            except (SealingError, msgspec.DecodeError, msgspec.ValidationError):
                raise ValueError("the sealed email data does not open") from None
        return data

    async def accept(
        self,
        conn: asyncpg.Connection,
        *,
        email_id: UUID,
        source_event_id: UUID | None,
        to: list[str],
        subject: str,
        template: str,
        data: dict[str, Any],
        error: str | None = None,
    ) -> None:
        problems = [error] if error else events.email_request_problems(to, subject, template, data)
        sealed, shown_subject = None, subject or template
        if not problems:
            try:
                rendered = render(template, data, subject)
            except TemplateDataError as exc:
                problems = [str(exc)]
            else:
                shown_subject = rendered.subject
                if self.sealer is None:
                    problems = ["email content needs ENCRYPTION_KEYS to be stored"]
                else:
                    sealed = seal_content(self.sealer, email_id, rendered.html, rendered.text)
        reason = "; ".join(problems)[:1000] if problems else None
        inserted = await email_store.enqueue(
            conn,
            email_id=email_id,
            source_event_id=source_event_id,
            recipients=to[: events.MAX_RECIPIENTS],
            subject=shown_subject[:255],
            template=template[:100],
            content_sealed=sealed,
            provider=self.provider,
            error=reason,
        )
        if inserted and reason:
            failed = events.EmailFailed(
                email_id=email_id, template=template[:100], attempts=0, error=reason
            )
            await outbox.enqueue(conn, failed, source=SOURCE)

    async def to_admins(
        self,
        conn: asyncpg.Connection,
        source_event_id: UUID,
        email: email_catalogue.EmailData,
        subject: str = "",
    ) -> None:
        """Email the admins (ADMIN_EMAIL_TO), when there are any."""
        if not self.admin_recipients:
            return
        await self.accept(
            conn,
            email_id=uuid6.uuid7(),
            source_event_id=source_event_id,
            to=self.admin_recipients,
            subject=subject,
            template=email.TEMPLATE,
            data=email_catalogue.wire_data(email),
        )
