"""Admission of every gateway request: its rate limit, then its route's guards.

Guards are declared on handlers as usual (`guards=[ctx.require(...)]`, which
the OpenAPI security and the route-auth test read), but `lift_guards` moves
those of HTTP handlers here: Litestar copies the handler for every guard call,
which costs more than the guard. A refusal is answered in the envelope with
the rate-limit headers, as every other answer is.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from nodebyte_common.envelope import ApiError, error_body
from nodebyte_gateway.rate_limit import RateLimiter

LIFTED = "admission_guards"


def lift_guards(handlers: list[Any]) -> None:
    """Move the guards of HTTP handlers into `opt`, where `admission` runs them."""
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler) and handler.guards:
            handler.opt[LIFTED] = tuple(handler.guards)
            handler.guards = None


def admission(limiter: RateLimiter) -> Any:
    """ASGI middleware: spend from the route's buckets (429 when empty), run its guards."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            handler = scope.get("route_handler")
            opt = getattr(handler, "opt", None) or {}
            route_class = opt.get("rate_limit", "default")
            verdict = None if route_class == "none" else await limiter.check(route_class, scope)
            headers = verdict.headers() if verdict else []
            if verdict and not verdict.allowed:
                message = f"Too many requests. Try again in {verdict.retry_after} seconds."
                details = {"retryAfter": verdict.retry_after}
                await _refuse(send, 429, error_body(message, "RATE_LIMITED", details), headers)
                return
            try:
                if guards := opt.get(LIFTED):
                    connection = ASGIConnection(scope, receive, send)
                    for guard in guards:
                        await guard(connection, handler)
            except ApiError as exc:
                extra = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
                body = error_body(exc.message, exc.code, exc.details)
                await _refuse(send, exc.status, body, [*headers, *extra])
                return
            if not headers:
                await app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *headers]
                await send(message)

            await app(scope, receive, send_with_headers)

        return wrapped

    return middleware


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
