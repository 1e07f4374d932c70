"""Composition root of the gateway: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin

from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_gateway import alert_routes, console_routes, node_routes, server_routes, sync_routes
from nodebyte_gateway.auth import ApiKeyGuard, permission_guard
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.settings import GatewaySettings

SERVICE = "gateway"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="NodeByte API",
        version="0.1.0",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
    )


# Each module contributes `routes(ctx)`; the order is the order of the OpenAPI document.
ROUTE_MODULES = (
    sync_routes,
    node_routes,
    server_routes,
    console_routes,
    alert_routes,
)

SERVICE_URLS = {
    "sync": "sync_url",
    "hytale-auth": "hytale_auth_url",
    "notifier": "notifier_url",
    "scheduler": "scheduler_url",
    "node-agent-gateway": "node_agent_gateway_url",
}


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
    api_key = ApiKeyGuard(settings.backend_api_key, lambda: runtime.pool)
    ctx = GatewayContext(runtime, settings, permission_guard(api_key), clients)
    handlers = [handler for module in ROUTE_MODULES for handler in module.routes(ctx)]
    return runtime.create_app(handlers, openapi_config=openapi_config())


def main() -> None:
    settings = load_settings(GatewaySettings)
    serve(build_app(settings), settings, SERVICE)
