"""Composition root of hytale-auth: settings → pool → broker → HTTP app."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg
from litestar import Litestar

from nodebyte_common.pterodactyl import PanelClient
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.sealing import required_sealer
from nodebyte_common.settings import load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_hytale_auth import consumers
from nodebyte_hytale_auth.account_pool import AccountPool
from nodebyte_hytale_auth.accounts import Accounts
from nodebyte_hytale_auth.api import Services, internal_routes
from nodebyte_hytale_auth.audit import AuditWriter
from nodebyte_hytale_auth.device_flow import DeviceFlows
from nodebyte_hytale_auth.game_sessions import GameSessions
from nodebyte_hytale_auth.jwks import JwksCache
from nodebyte_hytale_auth.panel_push import SessionPusher
from nodebyte_hytale_auth.panel_servers import ServerDirectory, VariableNames
from nodebyte_hytale_auth.periodic import PeriodicTask, PeriodicTasks
from nodebyte_hytale_auth.server_logs import PanelFileReader, ServerLogCollector
from nodebyte_hytale_auth.session_tokens import TokenValidator
from nodebyte_hytale_auth.settings import HytaleAuthSettings, endpoints
from nodebyte_hytale_auth.upstream import HytaleUpstream

SERVICE = "hytale-auth"

log = logging.getLogger(__name__)


def _validator(settings: HytaleAuthSettings, upstream: HytaleUpstream) -> TokenValidator:
    jwks = JwksCache(
        upstream.jwks,
        ttl=settings.hytale_jwks_ttl_seconds,
        min_refetch=settings.hytale_jwks_min_refetch_seconds,
    )
    validator = TokenValidator(
        jwks,
        issuer=upstream.endpoints.issuer,
        audience=settings.hytale_token_audience,
        leeway=settings.hytale_jwt_leeway_seconds,
        cache_size=settings.hytale_verified_token_cache_size,
    )
    jwks.on_keys_removed = validator.forget_keys
    return validator


def _periodic(
    settings: HytaleAuthSettings,
    pool: Any,
    accounts: Accounts,
    sessions: GameSessions,
    logs: ServerLogCollector,
    flows: DeviceFlows,
) -> PeriodicTasks:
    guard = asyncio.Semaphore(settings.hytale_refresh_concurrency)

    async def refresh() -> dict[str, int]:
        tokens = await accounts.refresh_due(guard)
        return {"tokens": tokens, "sessions": await sessions.refresh_due(guard)}

    async def clean_up() -> dict[str, int]:
        done = await sessions.clean_up()
        return {**done, "device_flows": await flows.clean_up(), "log_lines": await logs.purge()}

    s = settings
    return PeriodicTasks(
        pool,
        [
            PeriodicTask(
                "hytale.refresh",
                refresh,
                s.hytale_fallback_interval_seconds,
                s.hytale_tick_fallback_seconds,
            ),
            PeriodicTask(
                "hytale.server_logs",
                logs.collect,
                s.hytale_server_logs_interval_seconds,
                2 * s.hytale_server_logs_interval_seconds,
            ),
            PeriodicTask(
                "hytale.cleanup",
                clean_up,
                s.hytale_cleanup_interval_seconds,
                s.hytale_cleanup_interval_seconds + 3600,
            ),
        ],
    )


def _renew_on_key_removal(
    validator: TokenValidator, sessions: GameSessions, periodic: PeriodicTasks
) -> None:
    """When keys leave the JWKS, the sessions they signed are renewed at once."""
    renewals: set[asyncio.Task[None]] = set()

    async def renew(kids: set[str]) -> None:
        try:
            if await sessions.renew_signed_by(kids):
                periodic.trigger("hytale.refresh")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The sessions still renew at their usual time.
            log.warning("sessions of a dropped key not renewed early", extra={"error": str(exc)})

    def keys_removed(kids: set[str]) -> None:
        validator.forget_keys(kids)
        task = asyncio.get_running_loop().create_task(renew(kids))
        renewals.add(task)
        task.add_done_callback(renewals.discard)

    validator.jwks.on_keys_removed = keys_removed


def build_app(settings: HytaleAuthSettings | None = None) -> Litestar:
    settings = settings or load_settings(HytaleAuthSettings)
    sealer = required_sealer(settings)
    runtime = Runtime(
        service=SERVICE,
        schema="hytale_auth",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )

    def pool() -> asyncpg.Pool:
        return runtime.pool

    upstream = HytaleUpstream(
        endpoints(settings),
        client_id=settings.hytale_client_id,
        scope=settings.hytale_scope,
        timeout=settings.hytale_upstream_timeout_seconds,
    )
    panel = PanelClient(
        settings.pterodactyl_url,
        application_key=settings.pterodactyl_api_key,
        client_key=settings.pterodactyl_client_api_key,
        timeout=settings.panel_timeout_seconds,
        retry_base_delay=settings.panel_retry_base_delay,
    )
    reader = PanelFileReader(
        settings.pterodactyl_url,
        settings.pterodactyl_client_api_key,
        settings.panel_timeout_seconds,
    )
    validator = _validator(settings, upstream)
    audit = AuditWriter(pool)
    accounts = Accounts(pool, upstream, sealer, audit, settings)
    account_pool = AccountPool(pool, settings.hytale_session_limit_cooldown_seconds)
    names = VariableNames(settings.hytale_session_variable, settings.hytale_identity_variable)
    directory = ServerDirectory(pool, panel, names)
    pusher = SessionPusher(
        pool,
        directory,
        sealer,
        retry_base=settings.hytale_push_retry_base_seconds,
        retry_max=settings.hytale_push_retry_max_seconds,
    )
    sessions = GameSessions(
        pool,
        upstream=upstream,
        accounts=accounts,
        account_pool=account_pool,
        validator=validator,
        sealer=sealer,
        audit=audit,
        pusher=pusher,
        settings=settings,
    )
    logs = ServerLogCollector(
        pool,
        directory,
        reader,
        log_dir=settings.hytale_server_log_file_dir,
        retention_days=settings.hytale_server_log_retention_days,
    )
    flows = DeviceFlows(pool, upstream, accounts, audit, settings)
    periodic = _periodic(settings, pool, accounts, sessions, logs, flows)
    _renew_on_key_removal(validator, sessions, periodic)

    async def publish_metrics() -> None:
        while True:
            await account_pool.publish_metrics()
            await asyncio.sleep(settings.hytale_pool_metrics_interval_seconds)

    runtime.loop("audit-writer", audit.run)
    runtime.loop("panel-push", pusher.run)
    runtime.loop("periodic-fallback", periodic.run_fallbacks)
    runtime.loop("pool-metrics", publish_metrics)
    for close in (
        periodic.stop,
        upstream.aclose,
        panel.aclose,
        reader.aclose,
        validator.jwks.aclose,
    ):
        runtime.on_stop(close)
    consumers.register(runtime, periodic, sessions, directory)
    services = Services(flows, accounts, account_pool, sessions, validator, logs, audit, pool)
    return runtime.create_app([internal_router(settings.service_token, internal_routes(services))])


def main() -> None:
    settings = load_settings(HytaleAuthSettings)
    serve(build_app(settings), settings, SERVICE)
