"""A JSON answer encoded ahead of the request, sent as it is.

The gateway's most-read answers are kept encoded (see `sync_reads`). Litestar's
own response would copy them into mutable header structures on every request;
with no headers, cookies or background work to add, two ASGI messages do.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response
from litestar.types import ASGIApp, Receive, Scope, Send

_CONTENT_TYPE = (b"content-type", MediaType.JSON.value.encode())


class EncodedJson(Response[bytes]):
    """Immutable as long as nobody adds headers, cookies or background work: one
    instance may then answer every request that gets the same bytes."""

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        # Not Response.__init__: it normalises cookies and headers through typing
        # ABC checks that cost more than sending this answer, which has neither.
        self.content = body
        self.status_code = status_code
        self.media_type = MediaType.JSON
        self.headers: dict[str, Any] = {}
        self.cookies = []
        self.background = None
        self.encoding = "utf-8"
        self.response_type_encoders = {}
        self._plain = _SendBody(status_code, body)

    def to_asgi_response(self, app: Any, request: Any, **kwargs: Any) -> ASGIApp:
        extras = (kwargs.get(k) for k in ("background", "cookies", "headers"))
        if self.headers or self.cookies or self.background or any(extras):
            return self._as_litestar_response().to_asgi_response(app, request, **kwargs)
        if self._plain.status != self.status_code:
            self._plain = _SendBody(self.status_code, self.content)
        return self._plain

    def _as_litestar_response(self) -> Response[bytes]:
        return Response(
            self.content,
            status_code=self.status_code,
            media_type=self.media_type,
            headers=self.headers,
            cookies=self.cookies,
            background=self.background,
        )


class _SendBody:
    """The two messages of one answer; stateless, so sent again for every request."""

    __slots__ = ("body", "length", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        self.length = (b"content-length", str(len(body)).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [_CONTENT_TYPE, self.length],
            }
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
