"""Composition root of the gateway: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import SettingsError, csv, load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_gateway.accounts import audit, expired_rows, panel_links, sftp_access, tokens
from nodebyte_gateway.accounts.audit_trail import audit_trail
from nodebyte_gateway.accounts.auth import SECURITY_SCHEMES, Authenticator, document_security
from nodebyte_gateway.accounts.passwords import Passwords
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge import rate_bucket_store
from nodebyte_gateway.edge.admission import admission, lift_guards
from nodebyte_gateway.edge.openapi_errors import document_error_envelope
from nodebyte_gateway.edge.openapi_links import document_links
from nodebyte_gateway.edge.progress_hub import ProgressHub
from nodebyte_gateway.edge.rate_limit import RateLimiter, parse_limits
from nodebyte_gateway.routes import (
    account_dashboard_routes,
    account_routes,
    admin_health_routes,
    admin_user_routes,
    alert_routes,
    allocation_routes,
    api_key_routes,
    audit_routes,
    bus_routes,
    console_routes,
    dashboard_routes,
    deploy_routes,
    docs_routes,
    file_routes,
    game_database_routes,
    hytale_routes,
    node_routes,
    notify_routes,
    panel_link_routes,
    panel_mirror_routes,
    repo_routes,
    role_routes,
    server_resource_routes,
    server_routes,
    settings_routes,
    ssh_key_routes,
    stream_routes,
    sync_routes,
    task_routes,
    template_routes,
    ws_ticket_routes,
)
from nodebyte_gateway.settings import GatewaySettings

SERVICE = "gateway"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="NodeByte API",
        version="0.1.0",
        path="/schema",
        render_plugins=docs_routes.render_plugins(),
        components=Components(security_schemes=SECURITY_SCHEMES),
    )


# Each module contributes `routes(ctx)`; the order is the order of the OpenAPI document.
ROUTE_MODULES = (
    sync_routes,
    panel_mirror_routes,
    task_routes,
    notify_routes,
    hytale_routes,
    account_routes,
    account_dashboard_routes,
    ssh_key_routes,
    dashboard_routes,
    admin_user_routes,
    panel_link_routes,
    role_routes,
    admin_health_routes,
    api_key_routes,
    audit_routes,
    bus_routes,
    docs_routes,
    node_routes,
    deploy_routes,
    server_routes,
    server_resource_routes,
    game_database_routes,
    file_routes,
    allocation_routes,
    template_routes,
    console_routes,
    alert_routes,
    settings_routes,
    repo_routes,
    stream_routes,
    ws_ticket_routes,
)

SERVICE_URLS = {
    "sync": "sync_url",
    "hytale-auth": "hytale_auth_url",
    "notifier": "notifier_url",
    "scheduler": "scheduler_url",
    "node-agent-gateway": "node_agent_gateway_url",
}


def jwt_keys(settings: GatewaySettings) -> tokens.JwtKeys:
    try:
        return tokens.JwtKeys(
            private_key=tokens.load_private_key(settings.jwt_private_key),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl_seconds=settings.access_token_ttl_seconds,
            previous=tokens.load_public_keys(settings.jwt_previous_public_keys),
        )
    except tokens.KeyConfigError as exc:
        raise SettingsError(str(exc)) from None


def build_app(settings: GatewaySettings | None = None) -> Litestar:
    settings = settings or load_settings(GatewaySettings)
    runtime = Runtime(
        service=SERVICE,
        schema="gateway",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    clients = {
        name: ServiceClient(
            name,
            getattr(settings, attribute),
            settings.service_token,
            timeout=settings.internal_timeout_seconds,
        )
        for name, attribute in SERVICE_URLS.items()
    }
    for client in clients.values():
        runtime.on_stop(client.aclose)
    auth = Authenticator(
        keys=jwt_keys(settings),
        passwords=Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        bootstrap_key=settings.backend_api_key,
        pool_of=lambda: runtime.pool,
    )
    panel_links.consume(runtime)
    hub = ProgressHub(settings.amqp_url, settings.amqp_prefix)
    runtime.loop("sync-progress-hub", hub.run)
    limiter = rate_limiter(settings, runtime)
    runtime.loop("idle-rate-buckets", rate_bucket_store.purge_loop(lambda: runtime.pool))
    ctx = GatewayContext(
        runtime, settings, auth.require, clients, auth=auth, hub=hub, limiter=limiter
    )
    runtime.loop(
        "expired-account-rows",
        expired_rows.purge_loop(lambda: runtime.pool, settings.refresh_token_ttl_seconds),
    )
    handlers = [handler for module in ROUTE_MODULES for handler in module.routes(ctx)]
    # Asked by other services only: SFTP sign-ins (the node-agent-gateway).
    handlers.append(internal_router(settings.service_token, sftp_access.routes(ctx)))
    audit.check_declared(handlers)
    document_security(handlers)
    lift_guards(handlers)
    app = runtime.create_app(
        handlers,
        openapi_config=openapi_config(),
        # The audit trail wraps admission, so it records the guards' refusals too.
        middleware=[audit_trail(lambda: runtime.pool), admission(limiter, auth.authenticate)],
        request_timeout_seconds=settings.request_timeout_seconds,
        outbox_status=False,  # the gateway reads its own outbox
    )
    app.on_startup.append(document_error_envelope)
    app.on_startup.append(document_links)
    return app


def rate_limiter(settings: GatewaySettings, runtime: Runtime) -> RateLimiter:
    try:
        limits = {**hytale_routes.RATE_LIMITS, **parse_limits(settings.rate_limits)}
    except ValueError as exc:
        raise SettingsError(f"environment variable RATE_LIMITS is invalid: {exc}") from None
    return RateLimiter(lambda: runtime.pool, csv(settings.trusted_proxies), limits)


def main() -> None:
    settings = load_settings(GatewaySettings)
    serve(build_app(settings), settings, SERVICE)
