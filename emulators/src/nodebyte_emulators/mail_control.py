"""`/_emulator/...` for the mail sink: messages, faults, stats, counters (no auth)."""

import msgspec
from litestar import Request, Response, Router, delete, get, post

from .discord_http import BadControlRequest, decode_struct, json_response
from .mail_state import MailFaultRequest, MailHub


def _hub(request: Request) -> MailHub:
    return request.app.state.hub


@get("/messages")
async def list_messages(request: Request) -> Response:
    """Kept messages in arrival order, optionally those to one address or by one path."""
    to = request.query_params.get("to")
    via = request.query_params.get("via")
    messages = _hub(request).messages
    if to:
        messages = [m for m in messages if to in m["to"]]
    if via:
        messages = [m for m in messages if m["via"] == via]
    return json_response(messages)


@delete("/messages")
async def clear_messages(request: Request) -> None:
    hub = _hub(request)
    hub.messages.clear()
    hub.idempotency.clear()


@post("/faults", status_code=200)
async def set_faults(request: Request) -> Response:
    faults = _hub(request).faults
    try:
        faults.configure(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadControlRequest(str(exc)) from exc
    return json_response(faults.snapshot())


@get("/faults")
async def get_faults(request: Request) -> Response:
    hub = _hub(request)
    return json_response({**hub.faults.snapshot(), **hub.mail_faults.snapshot()})


@delete("/faults")
async def clear_faults(request: Request) -> None:
    hub = _hub(request)
    hub.faults.clear()
    hub.mail_faults.clear()


@post("/mail-faults", status_code=200)
async def set_mail_faults(request: Request) -> Response:
    faults = _hub(request).mail_faults
    faults.configure(decode_struct(await request.body(), MailFaultRequest))
    return json_response(faults.snapshot())


@get("/stats")
async def get_stats(request: Request) -> Response:
    hub = _hub(request)
    server = hub.smtp_server
    smtp_port = server.sockets[0].getsockname()[1] if server and server.sockets else None
    return json_response(
        {**hub.stats.snapshot(), "messages": len(hub.messages), "smtp_port": smtp_port}
    )


@delete("/stats")
async def clear_stats(request: Request) -> None:
    _hub(request).stats.clear()


@get("/counters")
async def get_counters(request: Request) -> Response:
    """What a strict provider holds against the client: Resend requests sent before an
    earlier 429's Retry-After ran out, and emails (sender, recipients, subject, bodies)
    kept more than once."""
    hub = _hub(request)
    return json_response({**hub.counters.snapshot(), "messages": len(hub.messages)})


@delete("/counters")
async def clear_counters(request: Request) -> None:
    _hub(request).counters.clear()


control_router = Router(
    path="/_emulator",
    route_handlers=[
        list_messages,
        clear_messages,
        set_faults,
        get_faults,
        clear_faults,
        set_mail_faults,
        get_stats,
        clear_stats,
        get_counters,
        clear_counters,
    ],
)
