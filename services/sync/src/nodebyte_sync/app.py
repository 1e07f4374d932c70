"""Composition root of the sync service: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.pterodactyl import PanelClient
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_sync import api, consumers
from nodebyte_sync.settings import SyncSettings

SERVICE = "sync"


def build_app(settings: SyncSettings | None = None) -> Litestar:
    settings = settings or load_settings(SyncSettings)
    runtime = Runtime(
        service=SERVICE,
        schema="sync",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    panel = PanelClient(
        settings.pterodactyl_url,
        application_key=settings.pterodactyl_api_key,
        client_key=settings.pterodactyl_client_api_key,
        timeout=settings.panel_timeout_seconds,
        retry_base_delay=settings.panel_retry_base_delay,
    )
    runtime.on_stop(panel.aclose)
    consumers.register(runtime, panel, settings.sync_batch_size)
    routes = [internal_router(settings.service_token, api.internal_routes(runtime))]
    return runtime.create_app(routes)


def main() -> None:
    settings = load_settings(SyncSettings)
    serve(build_app(settings), settings, SERVICE)
