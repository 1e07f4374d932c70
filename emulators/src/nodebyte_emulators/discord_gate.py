"""Stats and injected faults in front of the Discord webhook API (not `/_emulator`)."""

import http
import time

from .asgi import ASGIApp, Receive, Scope, Send, add_headers, encode, send_body
from .discord_state import Hub, bucket_of, throttled
from .faults import Failure, apply_faults
from .ratelimit import Verdict


def _webhook_of(path: str) -> str:
    """The webhook id in an API path, for the bucket header of gate-made answers."""
    parts = path.strip("/").split("/")
    return parts[parts.index("webhooks") + 1] if "webhooks" in parts[:-1] else "global"


class DiscordGate:
    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        self.hub.stats.record_path(scope["path"])
        send = add_headers(send, [], self.hub.stats.record_status)

        async def respond(failure: Failure) -> None:
            await self._fail(failure, scope["path"], send)

        resumed = await apply_faults(self.hub.faults, receive, respond)
        if resumed is not None:
            await self.app(scope, resumed, send)

    async def _fail(self, failure: Failure, path: str, send: Send) -> None:
        faults = self.hub.faults
        if failure is Failure.RATE_LIMIT:
            reset_at = time.time() + faults.retry_after
            verdict = Verdict(False, self.hub.limiter.limit, 0, reset_at)
            body, headers = throttled(verdict, bucket_of(_webhook_of(path)), faults.retry_after)
            pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
            await send_body(send, 429, encode(body), pairs)
            return
        status = faults.error_status
        body = {"message": f"{status}: {http.HTTPStatus(status).phrase}", "code": 0}
        await send_body(send, status, encode(body), [])
