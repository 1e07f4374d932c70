"""Composition root of the notifier: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import SettingsError, csv, load_settings
from nodebyte_notifier import consumers
from nodebyte_notifier.deliveries import DeliveryWorker
from nodebyte_notifier.settings import NotifierSettings
from nodebyte_notifier.webhook_url import WebhookUrlError, check_webhook_url

SERVICE = "notifier"


def _targets(settings: NotifierSettings) -> dict[str, str]:
    if not settings.discord_webhook_url:
        return {}
    try:
        url = check_webhook_url(
            settings.discord_webhook_url, frozenset(csv(settings.webhook_allowed_hosts))
        )
    except WebhookUrlError as exc:
        raise SettingsError(f"environment variable DISCORD_WEBHOOK_URL is invalid: {exc}") from None
    return {consumers.SYSTEM_WEBHOOK: url}


def build_app(settings: NotifierSettings | None = None) -> Litestar:
    settings = settings or load_settings(NotifierSettings)
    targets = _targets(settings)
    runtime = Runtime(
        service=SERVICE,
        schema="notifier",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    consumers.register(runtime, system_webhook_configured=bool(targets))
    worker: DeliveryWorker | None = None

    async def run_deliveries() -> None:
        nonlocal worker
        worker = DeliveryWorker(
            runtime.pool,
            targets,
            max_attempts=settings.webhook_max_attempts,
            retry_base_delay=settings.webhook_retry_base_delay,
            timeout=settings.webhook_timeout_seconds,
        )
        try:
            await worker.run()
        finally:
            await worker.aclose()

    runtime.loop("webhook-deliveries", run_deliveries)
    return runtime.create_app([])


def main() -> None:
    settings = load_settings(NotifierSettings)
    serve(build_app(settings), settings, SERVICE)
