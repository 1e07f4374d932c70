"""Composition root of the gateway: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin

from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_gateway import api
from nodebyte_gateway.auth import ApiKeyGuard
from nodebyte_gateway.settings import GatewaySettings

SERVICE = "gateway"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="NodeByte API",
        version="0.1.0",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
    )


def build_app(settings: GatewaySettings | None = None) -> Litestar:
    settings = settings or load_settings(GatewaySettings)
    runtime = Runtime(
        service=SERVICE,
        schema="gateway",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    sync = ServiceClient(
        "sync",
        settings.sync_url,
        settings.service_token,
        timeout=settings.internal_timeout_seconds,
    )
    runtime.on_stop(sync.aclose)
    api_key = ApiKeyGuard(settings.backend_api_key, lambda: runtime.pool)
    routes = api.sync_routes(runtime, sync, api_key)
    return runtime.create_app(routes, openapi_config=openapi_config())


def main() -> None:
    settings = load_settings(GatewaySettings)
    serve(build_app(settings), settings, SERVICE)
