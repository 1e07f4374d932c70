"""Raw ASGI helpers for the gates that answer some requests before Litestar routes them."""

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_encoder = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    """Encode to JSON with one shared msgspec encoder (faster than per-call setup)."""
    return _encoder.encode(value)


def header(scope: Scope, name: bytes) -> str | None:
    """First value of a request header; ASGI header names arrive lower-cased."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def base_url(scope: Scope) -> str:
    """The scheme://host the client used, so generated links point back at this server."""
    host = header(scope, b"host")
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    headers: Headers,
    content_type: bytes = b"application/json",
) -> None:
    """Send a complete response in two ASGI messages."""
    start_headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


def add_headers(send: Send, extra: Headers, on_status: Callable[[int], None] | None = None) -> Send:
    """Wrap `send` so the response start carries `extra` headers and reports its status."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
            if on_status is not None:
                on_status(message["status"])
        await send(message)

    return wrapped


async def hold(receive: Receive, seconds: float) -> tuple[Receive, bool]:
    """Stall a request for `seconds`, ending early if the client goes away.

    The body is drained first so the next receive() reports a disconnect; the
    returned receive replays it for the app. The flag is True when the client left,
    which also lets the server shut down without waiting out a hung request.
    """
    buffered: list[Message] = []
    while True:
        message = await receive()
        buffered.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    disconnected = buffered[-1]["type"] == "http.disconnect"
    if not disconnected:
        try:
            async with asyncio.timeout(seconds):
                disconnected = (await receive())["type"] == "http.disconnect"
        except TimeoutError:
            pass

    async def replay() -> Message:
        return buffered.pop(0) if buffered else await receive()

    return replay, disconnected
