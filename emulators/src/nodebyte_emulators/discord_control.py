"""`/_emulator/...` for the Discord emulator: faults, messages, stats, counters, states."""

from typing import Annotated

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.params import FromPath

from .discord_http import BadControlRequest, decode_struct, hub_of, json_response


class StateRequest(msgspec.Struct, forbid_unknown_fields=True):
    status: Annotated[int, msgspec.Meta(ge=200, le=599)]


class SettingsRequest(msgspec.Struct, forbid_unknown_fields=True):
    rate_limit: bool | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None
    window: Annotated[float, msgspec.Meta(gt=0)] | None = None
    global_limit: Annotated[int, msgspec.Meta(ge=0)] | None = None  # per window; 0: none
    global_window: Annotated[float, msgspec.Meta(gt=0)] | None = None


@post("/faults", status_code=200)
async def set_faults(request: Request) -> Response:
    faults = hub_of(request).faults
    try:
        faults.configure(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadControlRequest(str(exc)) from exc
    return json_response(faults.snapshot())


@get("/faults")
async def get_faults(request: Request) -> Response:
    return json_response(hub_of(request).faults.snapshot())


@delete("/faults")
async def clear_faults(request: Request) -> None:
    hub_of(request).faults.clear()


@get("/messages")
async def list_messages(request: Request) -> Response:
    """Received messages in arrival order, optionally for one webhook id."""
    webhook_id = request.query_params.get("webhook_id")
    messages = hub_of(request).messages
    if webhook_id:
        messages = [m for m in messages if m["webhook_id"] == webhook_id]
    return json_response(messages)


@delete("/messages")
async def clear_messages(request: Request) -> None:
    hub_of(request).messages.clear()


@get("/stats")
async def get_stats(request: Request) -> Response:
    hub = hub_of(request)
    return json_response({**hub.stats.snapshot(), "messages": len(hub.messages)})


@delete("/stats")
async def clear_stats(request: Request) -> None:
    hub_of(request).stats.clear()


@post("/webhooks/{webhook_id:str}/{token:str}/state", status_code=200)
async def set_webhook_state(
    request: Request, webhook_id: FromPath[str], token: FromPath[str]
) -> Response:
    """404 or 401 makes the webhook refuse messages; any other status restores it."""
    wanted = decode_struct(await request.body(), StateRequest).status
    states = hub_of(request).states
    if wanted in (401, 404):
        states[(webhook_id, token)] = wanted
    else:
        states.pop((webhook_id, token), None)
    return json_response({"webhook_id": webhook_id, "token": token, "status": wanted})


@post("/settings", status_code=200)
async def update_settings(request: Request) -> Response:
    settings = decode_struct(await request.body(), SettingsRequest)
    hub = hub_of(request)
    limiter = hub.limiter
    limiter.reconfigure(settings.limit, settings.window, settings.rate_limit)
    if settings.global_limit is not None or settings.global_window is not None:
        on = settings.global_limit > 0 if settings.global_limit is not None else None
        limit = settings.global_limit or None
        hub.global_limiter.reconfigure(limit, settings.global_window, on)
    glob = hub.global_limiter
    return json_response(
        {
            "rate_limit": limiter.enabled,
            "limit": limiter.limit,
            "window": limiter.period,
            "global_limit": glob.limit if glob.enabled else 0,
            "global_window": glob.period,
        }
    )


@get("/counters")
async def get_counters(request: Request) -> Response:
    """What a strict Discord holds against the client: requests sent while told to wait
    (a bucket known empty, a 429's retry_after, the global limit), and messages whose
    content (webhook and body) arrived more than once."""
    hub = hub_of(request)
    return json_response({**hub.counters.snapshot(), "messages": len(hub.messages)})


@delete("/counters")
async def clear_counters(request: Request) -> None:
    hub_of(request).counters.clear()


control_router = Router(
    path="/_emulator",
    route_handlers=[
        set_faults,
        get_faults,
        clear_faults,
        list_messages,
        clear_messages,
        get_stats,
        clear_stats,
        set_webhook_state,
        update_settings,
        get_counters,
        clear_counters,
    ],
)
