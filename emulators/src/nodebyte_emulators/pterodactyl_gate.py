"""What the panel does before a controller runs: faults, API key auth, throttling, headers."""

import secrets
import time

from .asgi import (
    ASGIApp,
    Headers,
    Receive,
    Scope,
    Send,
    add_headers,
    base_url,
    encode,
    header,
    send_body,
)
from .faults import Failure, apply_faults
from .pterodactyl_state import Panel
from .pterodactyl_wire import GENERIC_DETAIL, error_document
from .ratelimit import Verdict, whole_seconds

_AREAS = (("/api/application", "application"), ("/api/client", "client"))
_APPLICATION_KEY_ON_CLIENT = (
    "You are attempting to use an application API key on an endpoint "
    "that requires a client API key."
)
_NOT_PERMITTED = "This account does not have permission to access the API."


def area_of(path: str) -> str | None:
    for prefix, area in _AREAS:
        if path == prefix or path.startswith(prefix + "/"):
            return area
    return None


def _limit_headers(verdict: Verdict) -> Headers:
    return [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
    ]


def _expects_json(scope: Scope) -> bool:
    """Laravel's expectsJson(): an XHR, or an Accept whose first type is JSON."""
    if header(scope, b"x-requested-with") == "XMLHttpRequest":
        return True
    accept = (header(scope, b"accept") or "").split(",")[0].lower()
    return "/json" in accept or "+json" in accept


def _bearer(scope: Scope) -> str | None:
    value = header(scope, b"authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class PterodactylGate:
    """ASGI middleware in front of the API routes; control routes pass straight through."""

    def __init__(self, app: ASGIApp, panel: Panel) -> None:
        self.app = app
        self.panel = panel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        area = area_of(scope["path"]) if scope["type"] == "http" else None
        if area is None:
            await self.app(scope, receive, send)
            return
        panel = self.panel
        panel.stats.record_path(scope["path"])
        send = add_headers(send, [], panel.stats.record_status)

        async def respond(failure: Failure) -> None:
            await self._fail(failure, send, area)

        resumed = await apply_faults(panel.faults, receive, respond)
        if resumed is None:
            return
        key = await self._authenticate(scope, send, area)
        if key is None:
            return
        verdict = panel.limiters[area].hit(key)
        if not verdict.allowed:
            await self._throttled(send, verdict.limit, verdict.reset_after)
            return
        await self.app(scope, resumed, add_headers(send, _limit_headers(verdict)))

    async def _authenticate(self, scope: Scope, send: Send, area: str) -> str | None:
        """The key on success; otherwise the refusal has been sent and None is returned."""
        config = self.panel.config
        token = _bearer(scope) or ""
        is_app = secrets.compare_digest(token, config.application_key)
        is_client = secrets.compare_digest(token, config.client_key)
        user = self.panel.store.get("users", config.client_user_id)
        if not (is_app or (is_client and user is not None)):
            await self._unauthenticated(scope, send, area)
            return None
        if area == "client" and is_app:
            await self._deny(send, area, _APPLICATION_KEY_ON_CLIENT)
            return None
        if area == "application" and is_client and not self._client_key_allowed(user):
            await self._deny(send, area, _NOT_PERMITTED)
            return None
        return token

    def _client_key_allowed(self, user: dict | None) -> bool:
        return self.panel.config.client_key_on_application and bool(user and user["root_admin"])

    def _idle_headers(self, area: str) -> Headers:
        limiter = self.panel.limiters[area]
        return _limit_headers(Verdict(True, limiter.limit, limiter.limit, time.time()))

    async def _unauthenticated(self, scope: Scope, send: Send, area: str) -> None:
        headers = self._idle_headers(area)
        if not _expects_json(scope):
            # Laravel's redirect()->guest('/auth/login') for a browser-style request.
            location = f"{base_url(scope)}/auth/login"
            body = f'<html><body>Redirecting to <a href="{location}">{location}</a>.</body></html>'
            redirect = [(b"location", location.encode()), *headers]
            await send_body(send, 302, body.encode(), redirect, b"text/html; charset=UTF-8")
            return
        document = error_document(401, "Unauthenticated.", "AuthenticationException")
        await send_body(send, 401, encode(document), headers)

    async def _deny(self, send: Send, area: str, detail: str) -> None:
        await send_body(send, 403, encode(error_document(403, detail)), self._idle_headers(area))

    async def _fail(self, failure: Failure, send: Send, area: str) -> None:
        faults = self.panel.faults
        if failure is Failure.RATE_LIMIT:
            await self._throttled(send, self.panel.limiters[area].limit, faults.retry_after)
            return
        status = faults.error_status
        document = error_document(status, GENERIC_DETAIL)
        await send_body(send, status, encode(document), self._idle_headers(area))

    async def _throttled(self, send: Send, limit: int, retry_after: float) -> None:
        seconds = whole_seconds(retry_after)
        headers: Headers = [
            (b"x-ratelimit-limit", str(limit).encode()),
            (b"x-ratelimit-remaining", b"0"),
            (b"retry-after", str(seconds).encode()),
            (b"x-ratelimit-reset", str(int(time.time()) + seconds).encode()),
        ]
        document = error_document(429, "Too Many Attempts.")
        await send_body(send, 429, encode(document), headers)
