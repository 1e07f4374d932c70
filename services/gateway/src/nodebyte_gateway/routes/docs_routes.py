"""Machine-readable descriptions and their pages: the AsyncAPI document of the event
catalogue, and the Swagger UI and Redoc pages of the OpenAPI document with their
scripts served from this gateway (docs_assets/), so they render without internet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import get
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from nodebyte_common.asyncapi import asyncapi_document
from nodebyte_gateway.context import GatewayContext

ASSETS_DIR = Path(__file__).parent.parent / "docs_assets"
ASSETS_PATH = "/schema-assets"
SWAGGER = f"{ASSETS_PATH}/swagger-ui"
SWAGGER_FAVICON = f'<link rel="icon" type="image/png" href="{SWAGGER}/favicon-32x32.png">'


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema/swagger and Redoc at /schema/redoc, on our own assets."""
    return [
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            css_url=f"{SWAGGER}/swagger-ui.css",
            standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js",
            favicon=SWAGGER_FAVICON,
        ),
        RedocRenderPlugin(
            path="/redoc",
            js_url=f"{ASSETS_PATH}/redoc/redoc.standalone.js",
            google_fonts=False,
            favicon=SWAGGER_FAVICON,
        ),
    ]


# The AsyncAPI 3.0 document (its own schema: https://www.asyncapi.com/docs/reference).
AsyncApiDocument = dict[str, object]


def routes(ctx: GatewayContext) -> list[Any]:
    document = asyncapi_document(ctx.settings.amqp_prefix)

    @get(
        "/asyncapi",
        tags=["docs"],
        summary="AsyncAPI document of every event",
        opt={"rate_limit": "public"},
        sync_to_thread=False,
    )
    def asyncapi() -> AsyncApiDocument:
        return document

    assets = create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        include_in_schema=False,
        opt={"rate_limit": "public"},
    )
    return [asyncapi, assets]
