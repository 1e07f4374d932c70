"""A local Discord webhook endpoint that records what it is sent.

Usage: `create_discord_app(DiscordConfig(...))` gives a Litestar app to run under
uvicorn; see `python -m nodebyte_emulators discord --help`.
"""

import http
import logging

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath

from . import discord_validation
from .discord_control import control_router
from .discord_gate import DiscordGate
from .discord_http import BadControlRequest, hub_of, json_response
from .discord_state import (
    GLOBAL,
    DiscordConfig,
    Hub,
    bucket_of,
    global_throttled,
    limit_headers,
    message_object,
    throttled,
    webhook_object,
)

__all__ = ["DiscordConfig", "create_discord_app"]
log = logging.getLogger(__name__)


def _snowflake_error(webhook_id: str) -> dict:
    error = {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{webhook_id}" is not snowflake.'}
    errors = {"webhook_id": {"_errors": [error]}}
    return {"code": 50035, "errors": errors, "message": "Invalid Form Body"}


async def _execute(request: Request, webhook_id: str, token: str) -> Response:
    """Execute Webhook: id, existence, bucket, body checks, then record and answer."""
    hub = hub_of(request)
    if not webhook_id.isdigit():
        return json_response(_snowflake_error(webhook_id), status=400)
    refusal = hub.refusal(webhook_id, token)
    if refusal is not None:
        return json_response(refusal[1], status=refusal[0])
    first_over = hub.global_limiter.hit(GLOBAL)
    if not first_over.allowed:  # the client could not know: it is told to wait from now on
        hub.counters.told_to_wait(GLOBAL, first_over.reset_after)
        body, headers = global_throttled(first_over.reset_after)
        return json_response(body, status=429, headers=headers)
    bucket = bucket_of(webhook_id)
    verdict = hub.limiter.hit(webhook_id)
    if not verdict.allowed:  # the answer that emptied the bucket said Remaining: 0
        hub.counters.limited_request()
        body, headers = throttled(verdict, bucket, verdict.reset_after)
        return json_response(body, status=429, headers=headers)
    headers = limit_headers(verdict, bucket)
    payload = discord_validation.parse(await request.body())
    if isinstance(payload, discord_validation.Rejection):
        return json_response(payload.body, status=400, headers=headers)
    params = dict(request.query_params.items())
    meta = {"headers": dict(request.headers.items()), "query": params}
    entry = hub.record(webhook_id, token, payload, meta)
    if params.get("wait", "").lower() in ("true", "1"):
        return json_response(message_object(entry), headers=headers)
    return Response(content=b"", status_code=204, headers=headers)


# Handlers declare 200 because Litestar forbids a body on 204 routes; 204 is set per response.
@post("/api/webhooks/{webhook_id:str}/{token:str}", status_code=200)
async def execute_webhook(
    request: Request, webhook_id: FromPath[str], token: FromPath[str]
) -> Response:
    return await _execute(request, webhook_id, token)


@post("/api/{version:str}/webhooks/{webhook_id:str}/{token:str}", status_code=200)
async def execute_versioned(
    request: Request, version: FromPath[str], webhook_id: FromPath[str], token: FromPath[str]
) -> Response:
    return await _execute(request, webhook_id, token)


def _describe(request: Request, webhook_id: str, token: str) -> Response:
    refusal = hub_of(request).refusal(webhook_id, token)
    if refusal is not None:
        return json_response(refusal[1], status=refusal[0])
    return json_response(webhook_object(webhook_id, token))


@get("/api/webhooks/{webhook_id:str}/{token:str}")
async def get_webhook(
    request: Request, webhook_id: FromPath[str], token: FromPath[str]
) -> Response:
    return _describe(request, webhook_id, token)


@get("/api/{version:str}/webhooks/{webhook_id:str}/{token:str}")
async def get_versioned(
    request: Request, version: FromPath[str], webhook_id: FromPath[str], token: FromPath[str]
) -> Response:
    return _describe(request, webhook_id, token)


def _bad_control(request: Request, exc: BadControlRequest) -> Response:
    return json_response({"message": str(exc), "code": 50035}, status=400)


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    return json_response(
        {"message": f"{status}: {http.HTTPStatus(status).phrase}", "code": 0}, status
    )


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("emulator error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"message": "500: Internal Server Error", "code": 0}, status=500)


def create_discord_app(config: DiscordConfig | None = None) -> Litestar:
    """A fresh webhook receiver (its own messages, faults and counters) as a Litestar app."""
    hub = Hub(config or DiscordConfig())
    return Litestar(
        route_handlers=[
            execute_webhook,
            execute_versioned,
            get_webhook,
            get_versioned,
            control_router,
        ],
        middleware=[DefineMiddleware(DiscordGate, hub=hub)],
        exception_handlers={
            BadControlRequest: _bad_control,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        state=State({"hub": hub}),
        openapi_config=None,
        logging_config=None,  # leave the host process's logging alone
    )
