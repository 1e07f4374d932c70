"""Composition root of the notifier: settings → pool → broker → workers → HTTP app."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from litestar import Litestar

from nodebyte_common.egress.httpx_transport import guarded_client
from nodebyte_common.observability import count_published_from_zero
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.sealing import optional_sealer
from nodebyte_common.settings import SettingsError, csv, load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_common.webhook_url import WebhookUrlError, check_webhook_url
from nodebyte_notifier import api, consumers, delivery_store, email_store
from nodebyte_notifier.discord_limits import DiscordLimiter
from nodebyte_notifier.discord_sender import DiscordSender
from nodebyte_notifier.email_intake import EmailIntake
from nodebyte_notifier.email_providers import build_provider
from nodebyte_notifier.email_worker import EmailWorker
from nodebyte_notifier.mail_status import MailStatus
from nodebyte_notifier.retry_policy import RetryPolicy
from nodebyte_notifier.settings import NotifierSettings
from nodebyte_notifier.webhook_admin import WebhookAdmin
from nodebyte_notifier.webhook_worker import WebhookWorker

SERVICE = "notifier"
PURGE_INTERVAL_SECONDS = 3600.0
EMAIL_IN_FLIGHT = 8


def _system_webhook(settings: NotifierSettings, allowed: frozenset[str]) -> str | None:
    if not settings.discord_webhook_url:
        return None
    try:
        return check_webhook_url(settings.discord_webhook_url, allowed)
    except WebhookUrlError as exc:
        raise SettingsError(f"environment variable DISCORD_WEBHOOK_URL is invalid: {exc}") from None


def _check_email(settings: NotifierSettings) -> None:
    if settings.email_provider == "resend" and not settings.resend_api_key:
        raise SettingsError("EMAIL_PROVIDER=resend needs RESEND_API_KEY")
    if settings.email_provider == "smtp" and not settings.smtp_host:
        raise SettingsError("EMAIL_PROVIDER=smtp needs SMTP_HOST")


def build_app(settings: NotifierSettings | None = None) -> Litestar:
    settings = settings or load_settings(NotifierSettings)
    # Webhook URLs are secrets: httpx would log each request's URL at INFO.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    allowed = frozenset(csv(settings.webhook_allowed_hosts))
    system_url = _system_webhook(settings, allowed)
    sealer = optional_sealer(settings)
    _check_email(settings)
    provider = build_provider(settings)
    runtime = Runtime(
        service=SERVICE,
        schema="notifier",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    count_published_from_zero(SERVICE, ("email.sent", "email.failed"))  # the alerts watch them
    http = guarded_client(
        allowed,
        timeout=settings.webhook_timeout_seconds,
        max_connections=settings.webhook_max_in_flight,
    )
    sender = DiscordSender(http, DiscordLimiter(), allowed)  # every Discord call goes through it
    runtime.on_stop(http.aclose)
    if provider is not None:
        runtime.on_stop(provider.aclose)
    intake = EmailIntake(sealer, provider.name if provider else None, csv(settings.admin_email_to))
    notifications = consumers.Notifications(intake, system_url is not None, sealer, allowed)
    consumers.register(runtime, notifications)

    async def run_webhooks() -> None:
        await WebhookWorker(
            runtime.pool,
            sender=sender,
            sealer=sealer,
            system_url=system_url,
            policy=RetryPolicy(settings.webhook_max_attempts, settings.webhook_retry_base_delay),
            max_in_flight=settings.webhook_max_in_flight,
            lease_seconds=settings.delivery_lease_seconds,
            drain_seconds=settings.webhook_timeout_seconds,
        ).run()

    async def run_emails() -> None:
        await EmailWorker(
            runtime.pool,
            provider=provider,
            sealer=sealer,
            sender=settings.email_from,
            policy=RetryPolicy(settings.email_max_attempts, settings.email_retry_base_delay),
            max_in_flight=EMAIL_IN_FLIGHT,
            lease_seconds=settings.delivery_lease_seconds,
            drain_seconds=settings.email_timeout_seconds,
        ).run()

    async def purge_old_deliveries() -> None:
        while True:
            async with runtime.pool.acquire() as conn:
                await delivery_store.purge_finished(conn, settings.delivery_retention_days)
                await email_store.purge_finished(conn, settings.delivery_retention_days)
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    runtime.loop("webhook-deliveries", run_webhooks)
    runtime.loop("email-deliveries", run_emails)
    runtime.loop("purge-deliveries", purge_old_deliveries)
    admin = WebhookAdmin(sealer, sender)
    mail = MailStatus(
        provider, settings.email_from, csv(settings.admin_email_to), system_url is not None
    )
    return runtime.create_app(
        [internal_router(settings.service_token, api.routes(runtime, admin, mail))]
    )


def main() -> None:
    settings = load_settings(NotifierSettings)
    serve(build_app(settings), settings, SERVICE)
