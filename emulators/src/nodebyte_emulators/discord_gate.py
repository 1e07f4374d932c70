"""Stats and injected faults in front of the Discord webhook API (not `/_emulator`)."""

import http
import time

from .asgi import ASGIApp, Receive, Scope, Send, add_headers, encode, send_body
from .discord_state import GLOBAL, Hub, bucket_of, global_throttled, throttled
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
        if await self._still_limited(_webhook_of(scope["path"]), send):
            return

        async def respond(failure: Failure) -> None:
            await self._fail(failure, scope["path"], send)

        resumed = await apply_faults(self.hub.faults, receive, respond)
        if resumed is not None:
            await self.app(scope, resumed, send)

    async def _still_limited(self, webhook_id: str, send: Send) -> bool:
        """A request sent while an earlier 429 said to wait: counted, and refused again."""
        counters = self.hub.counters
        for key in (GLOBAL, webhook_id):
            wait = counters.waiting_for(key)
            if wait > 0:
                counters.limited_request(key)
                if key == GLOBAL:
                    body, headers = global_throttled(wait)
                else:
                    verdict = Verdict(False, self.hub.limiter.limit, 0, time.time() + wait)
                    body, headers = throttled(verdict, bucket_of(webhook_id), wait)
                pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
                await send_body(send, 429, encode(body), pairs)
                return True
        return False

    async def _fail(self, failure: Failure, path: str, send: Send) -> None:
        faults = self.hub.faults
        if failure is Failure.RATE_LIMIT:
            self.hub.counters.told_to_wait(_webhook_of(path), faults.retry_after)
            reset_at = time.time() + faults.retry_after
            verdict = Verdict(False, self.hub.limiter.limit, 0, reset_at)
            body, headers = throttled(verdict, bucket_of(_webhook_of(path)), faults.retry_after)
            pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
            await send_body(send, 429, encode(body), pairs)
            return
        status = faults.error_status
        body = {"message": f"{status}: {http.HTTPStatus(status).phrase}", "code": 0}
        await send_body(send, status, encode(body), [])
