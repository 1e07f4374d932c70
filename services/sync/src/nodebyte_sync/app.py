"""Composition root of the sync service: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.egress import AllowedHosts, EgressPolicy
from nodebyte_common.observability import count_published_from_zero
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.sealing import required_sealer
from nodebyte_common.settings import csv, load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_sync import api, consumers, mirror_api
from nodebyte_sync.environment_secrets import EnvironmentSecrets
from nodebyte_sync.mirror_lease import MirrorLease
from nodebyte_sync.panel_connection import PanelConnection
from nodebyte_sync.panel_settings import PanelSettings, PanelSettingsStore
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
    count_published_from_zero(SERVICE, ("sync.completed", "sync.failed"))  # the alerts watch them
    sealer = required_sealer(settings)
    settings_store = PanelSettingsStore(sealer)
    secrets = EnvironmentSecrets(sealer, csv(settings.mirror_secret_variables))
    panel = PanelConnection(
        settings_store,
        timeout=settings.panel_timeout_seconds,
        retry_base_delay=settings.panel_retry_base_delay,
        max_attempts=settings.panel_max_attempts,
        egress=EgressPolicy(AllowedHosts.parse(settings.panel_allowed_hosts)),
    )
    initial = PanelSettings(
        panel_url=settings.pterodactyl_url,
        application_key=settings.pterodactyl_api_key,
        client_key=settings.pterodactyl_client_api_key,
        page_size=settings.sync_batch_size,
        subusers_enabled=settings.sync_subusers_enabled,
        subusers_batch_size=settings.sync_subusers_batch_size,
    )

    async def seed_settings() -> None:
        async with runtime.pool.acquire() as conn:
            await settings_store.seed(conn, initial)
            await panel.refresh(conn)

    runtime.on_start(seed_settings)
    runtime.on_stop(panel.aclose)
    lease = MirrorLease(runtime, seconds=settings.sync_lease_seconds)
    runtime.loop("interrupted-sync-watchdog", lambda: consumers.watch_interrupted(runtime, lease))
    consumers.register(runtime, panel, secrets, lease)
    handlers = api.internal_routes(runtime, panel, settings_store, secrets)
    handlers += mirror_api.mirror_routes(runtime, panel)
    routes = [internal_router(settings.service_token, handlers)]
    return runtime.create_app(routes)


def main() -> None:
    settings = load_settings(SyncSettings)
    serve(build_app(settings), settings, SERVICE)
