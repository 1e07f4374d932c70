"""Event handlers of the notifier: turn events into queued deliveries (in the inbox transaction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common import email_catalogue, events
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_common.sealing import Sealer
from nodebyte_notifier import delivery_store, embeds, rule_webhooks, webhook_store
from nodebyte_notifier.audience import (
    WEBHOOK_SCOPES,
    WEBHOOK_TYPES,
    Audience,
    alert_audience,
    audience_of,
)
from nodebyte_notifier.delivery_store import SYSTEM_TARGET
from nodebyte_notifier.email_intake import EmailIntake

SYNC_EMBEDS: dict[type[events.Event], Callable[[Any], dict[str, Any]]] = {
    events.SyncCompleted: embeds.sync_completed,
    events.SyncFailed: embeds.sync_failed,
    events.SyncCancelled: embeds.sync_cancelled,
}
SYSTEM_AUDIENCE = ("SYSTEM", "ADMIN")  # what the DISCORD_WEBHOOK_URL webhook receives


class Notifications:
    def __init__(
        self,
        intake: EmailIntake,
        system_webhook_configured: bool,
        sealer: Sealer | None,
        allowed_hosts: frozenset[str],
    ) -> None:
        self.intake = intake
        self.system_webhook_configured = system_webhook_configured
        self.sealer = sealer
        self.allowed_hosts = allowed_hosts  # besides Discord's, for alert rules' webhooks

    async def announce(
        self,
        conn: asyncpg.Connection,
        source_id: UUID,
        audience: Audience,
        payload: dict[str, Any],
        request_id: UUID | None = None,
        also: list[str] | None = None,
        after_event: UUID | None = None,
    ) -> int:
        """Queue `payload` for every webhook the audience reaches, and the targets `also`
        (each after the delivery of `after_event` there, if any)."""
        targets = [str(i) for i in await webhook_store.matching(conn, audience)]
        if self.system_webhook_configured and (audience.webhook_type, audience.scope) == (
            SYSTEM_AUDIENCE
        ):
            targets.append(SYSTEM_TARGET)
        targets += also or []
        return await delivery_store.enqueue(
            conn, source_id, targets, payload, audience.event, request_id, after_event
        )

    async def sync_outcome(
        self,
        conn: asyncpg.Connection,
        e: events.SyncCompleted | events.SyncFailed | events.SyncCancelled,
        meta: EventMeta,
    ) -> None:
        await self.announce(conn, meta.id, audience_of(e.TYPE), SYNC_EMBEDS[type(e)](e))
        if isinstance(e, events.SyncFailed):
            report = email_catalogue.SyncReport(
                sync_type=e.kind,
                status="FAILED",
                duration=f"{e.duration_seconds:.1f}s",
                items_synced=e.items_synced,
                error=e.error,
            )
            await self.intake.to_admins(conn, meta.id, report)

    async def alert_raised(
        self, conn: asyncpg.Connection, e: events.AlertRaised, meta: EventMeta
    ) -> None:
        audience = alert_audience(e.TYPE, e.server_id)
        rule_targets = await self._rule_targets(conn, e)
        await conn.execute(
            """INSERT INTO alert_routes (alert_id, webhook_type, rule_targets, raised_event_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT (alert_id) DO NOTHING""",
            e.alert_id,
            audience.webhook_type,
            rule_targets,
            meta.id,
        )
        await self.announce(conn, meta.id, audience, embeds.alert_raised(e), also=rule_targets)
        if e.severity == "critical":
            alert = email_catalogue.Alert(title=e.title, message=e.message, severity=e.severity)
            await self.intake.to_admins(conn, meta.id, alert, subject=f"[NodeByte] {e.title}")

    async def _rule_targets(self, conn: asyncpg.Connection, e: events.AlertRaised) -> list[str]:
        """The webhooks of the rule that raised the alert, as delivery targets."""
        urls = rule_webhooks.opened_urls(self.sealer, e.sealed_webhooks, e.alert_id)
        if not urls or self.sealer is None:
            return []
        return await rule_webhooks.targets_for(conn, self.sealer, urls, self.allowed_hosts)

    async def alert_resolved(
        self, conn: asyncpg.Connection, e: events.AlertResolved, meta: EventMeta
    ) -> None:
        route = await conn.fetchrow(
            """DELETE FROM alert_routes WHERE alert_id = $1
               RETURNING webhook_type, rule_targets, raised_event_id""",
            e.alert_id,
        )
        if route is None:  # an alert raised before this notifier knew it
            audience, rule_targets, raised_by = Audience(e.TYPE, "SYSTEM"), [], None
        else:
            audience = Audience(e.TYPE, route["webhook_type"])
            rule_targets, raised_by = list(route["rule_targets"]), route["raised_event_id"]
        await self.announce(
            conn,
            meta.id,
            audience,
            embeds.alert_resolved(e),
            also=rule_targets,
            after_event=raised_by,
        )

    async def node_disconnected(
        self, conn: asyncpg.Connection, e: events.NodeDisconnected, meta: EventMeta
    ) -> None:
        await self.announce(conn, meta.id, audience_of(e.TYPE), embeds.node_disconnected(e))

    async def webhook_disabled(
        self, conn: asyncpg.Connection, e: events.WebhookDisabled, meta: EventMeta
    ) -> None:
        """Tell the admins: on the other admin webhooks, and by email."""
        await self.announce(conn, meta.id, audience_of(e.TYPE), embeds.webhook_disabled(e))
        alert = email_catalogue.Alert(
            title=f"Webhook “{e.name}” disabled",
            message=f"Discord answered HTTP {e.status_code} ({e.reason}), so the webhook "
            "was disabled. Fix its URL and enable it again in the admin settings.",
            severity="warning",
        )
        await self.intake.to_admins(conn, meta.id, alert, subject="[NodeByte] Webhook disabled")

    async def settings_changed(
        self, conn: asyncpg.Connection, e: events.SettingsChanged, meta: EventMeta
    ) -> None:
        """System changes go to the admin webhooks (values as the admin API shows them)."""
        await self.announce(conn, meta.id, audience_of(e.TYPE), embeds.settings_changed(e))

    async def dispatch(
        self, conn: asyncpg.Connection, e: events.WebhookDispatchRequested, meta: EventMeta
    ) -> None:
        # The gateway checked these; an event from elsewhere with other values goes nowhere.
        webhook_type = e.webhook_type if e.webhook_type in WEBHOOK_TYPES else None
        scope = e.scope if e.scope in WEBHOOK_SCOPES else None
        audience = audience_of(e.event, webhook_type, scope)
        await delivery_store.record_dispatch(
            conn, e.dispatch_id, e.event, audience.webhook_type, audience.scope
        )
        payload = embeds.dispatched(e.event, e.data)
        # The dispatch id names the deliveries: the same command twice queues them once.
        await self.announce(conn, e.dispatch_id, audience, payload, request_id=e.dispatch_id)

    async def email(
        self, conn: asyncpg.Connection, e: events.EmailRequested, meta: EventMeta
    ) -> None:
        error = None
        try:
            data = self.intake.request_data(e)
        except ValueError as exc:
            data, error = {}, str(exc)
        await self.intake.accept(
            conn,
            email_id=e.email_id,
            source_event_id=meta.id,
            to=list(e.to),
            subject=e.subject,
            template=e.template,
            data=data,
            error=error,
        )


def register(runtime: Runtime, notifications: Notifications) -> None:
    consumer = runtime.consumer("notifications")
    n = notifications
    for event_cls in SYNC_EMBEDS:
        consumer.on(event_cls)(n.sync_outcome)
    consumer.on(events.AlertRaised)(n.alert_raised)
    consumer.on(events.AlertResolved)(n.alert_resolved)
    consumer.on(events.NodeDisconnected)(n.node_disconnected)
    consumer.on(events.WebhookDisabled)(n.webhook_disabled)
    consumer.on(events.SettingsChanged)(n.settings_changed)
    consumer.on(events.WebhookDispatchRequested)(n.dispatch)
    consumer.on(events.EmailRequested)(n.email)
