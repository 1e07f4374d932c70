"""Admission of every gateway request: its route's guards, then its rate limit.

Guards run first because they tell whether a presented credential checks out
(a guard remembers the caller it authenticated, even one it then refuses 403).
One that does not is limited as an anonymous caller from its address, and so is
any credential on an unguarded route unless it checks out: a junk key never
buys a larger limit. The guards' refusal (401) is answered once the request has
been counted, so it is a 429 when the address has spent its share.

Guards are declared on handlers as usual (`guards=[ctx.require(...)]`, which
the OpenAPI security and the route-auth test read), but `lift_guards` moves
those of HTTP handlers here: Litestar copies the handler for every guard call,
which costs more than the guard. A refusal is answered in the envelope with
the rate-limit headers, as every other answer is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from nodebyte_common.envelope import ApiError, error_body
from nodebyte_common.webapp import with_headers
from nodebyte_gateway.accounts.auth import PRINCIPAL_STATE, Principal, presented_key
from nodebyte_gateway.accounts.raw_headers import credential_headers
from nodebyte_gateway.edge.rate_limit import RateLimiter, Verdict

LIFTED = "admission_guards"


def lift_guards(handlers: list[Any]) -> None:
    """Move the guards of HTTP handlers into `opt`, where `admission` runs them."""
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler) and handler.guards:
            handler.opt[LIFTED] = tuple(handler.guards)
            handler.guards = None


Authenticate = Callable[[ASGIConnection], Awaitable[Principal]]


def admission(limiter: RateLimiter, authenticate: Authenticate) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: run the route's guards, spend from its buckets (429 when
    empty), then answer the guards' refusal or let the request through."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            handler = scope.get("route_handler")
            opt = getattr(handler, "opt", None) or {}
            connection = ASGIConnection(scope, receive, send)
            refusal = await _guards_refusal(opt.get(LIFTED), connection, handler)
            route_class = opt.get("rate_limit", "default")
            verdict = None
            if route_class != "none":
                vouched = await _vouched(scope, connection, authenticate, bool(opt.get(LIFTED)))
                verdict = await limiter.check(route_class, scope, vouched=vouched)
            headers = verdict.headers() if verdict else []
            if verdict and not verdict.allowed:
                await _refuse_limited(send, verdict, headers)
                return
            if refusal is not None:
                extra = [(k.lower().encode(), v.encode()) for k, v in refusal.headers.items()]
                body = error_body(refusal.message, refusal.code, refusal.details)
                await _refuse(send, refusal.status, body, [*headers, *extra])
                return
            await app(scope, receive, with_headers(send, headers) if headers else send)

        return wrapped

    return middleware


async def _guards_refusal(
    guards: tuple[Any, ...] | None, connection: ASGIConnection, handler: Any
) -> ApiError | None:
    try:
        for guard in guards or ():
            await guard(connection, handler)
    except ApiError as exc:
        return exc
    return None


async def _vouched(
    scope: Scope, connection: ASGIConnection, authenticate: Authenticate, guarded: bool
) -> bool:
    """Whether the request's credential checked out (False when it has none)."""
    if scope.get("state", {}).get(PRINCIPAL_STATE) is not None:
        return True
    if guarded or not (credential_headers(scope)[0] or presented_key(scope)):
        return False  # the guards tried it and it failed, or there is none
    try:
        await authenticate(connection)
    except ApiError:
        return False
    return True


async def _refuse_limited(send: Send, verdict: Verdict, headers: list[tuple[bytes, bytes]]) -> None:
    message = f"Too many requests. Try again in {verdict.retry_after} seconds."
    details = {"retryAfter": verdict.retry_after}
    await _refuse(send, 429, error_body(message, "RATE_LIMITED", details), headers)


async def _refuse(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})
