"""A local Hytale server-provider upstream: OAuth device flow, account data, game sessions.

One app serves the three production hosts' paths (`oauth.accounts.hytale.com`,
`account-data.hytale.com`, `sessions.hytale.com`), so a client points all three
base URLs at it. Session tokens are really signed (Ed25519, published as a JWKS
that can rotate); refresh tokens rotate; sessions count against a per-account
limit; lifetimes shrink for tests through `/_emulator/settings`.

Usage: `create_hytale_app(HytaleConfig(...))`; see `python -m nodebyte_emulators hytale --help`.
"""

import logging
import time

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware

from .asgi import ASGIApp, Receive, Scope, Send, add_headers, encode, send_body
from .faults import Failure, apply_faults
from .hytale_control import BadControlRequest, control_router
from .hytale_oauth import OAUTH_ROUTES, json_response
from .hytale_sessions import SESSION_ROUTES
from .hytale_state import HytaleConfig, World
from .ratelimit import whole_seconds

__all__ = ["HytaleConfig", "create_hytale_app"]
log = logging.getLogger(__name__)


class HytaleGate:
    """Request stats and injected faults in front of the upstream routes (not `/_emulator`)."""

    def __init__(self, app: ASGIApp, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        self.world.stats.record_path(scope["path"])
        send = add_headers(send, [], self.world.stats.record_status)

        async def respond(failure: Failure) -> None:
            faults = self.world.faults
            if failure is Failure.RATE_LIMIT:
                retry = whole_seconds(faults.retry_after)
                reset = str(int(time.time()) + retry).encode()
                headers = [(b"retry-after", str(retry).encode()), (b"x-ratelimit-reset", reset)]
                body = {"error": "rate_limited", "error_description": "Too many requests."}
                await send_body(send, 429, encode(body), headers)
                return
            body = {"error": "server_error", "error_description": "The server failed."}
            await send_body(send, faults.error_status, encode(body), [])

        resumed = await apply_faults(self.world.faults, receive, respond)
        if resumed is not None:
            await self.app(scope, resumed, send)


def _bad_control(_: Request, exc: BadControlRequest) -> Response:
    return json_response({"error": "invalid_request", "message": str(exc)}, 400)


def _http_error(_: Request, exc: HTTPException) -> Response:
    return json_response({"error": "http_error", "message": str(exc.detail)}, exc.status_code)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("emulator error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response({"error": "server_error", "message": "Internal error"}, 500)


def create_hytale_app(config: HytaleConfig | None = None) -> Litestar:
    """A fresh Hytale upstream (its own keys, accounts and sessions) as a Litestar app."""
    world = World(config or HytaleConfig())
    return Litestar(
        route_handlers=[*OAUTH_ROUTES, *SESSION_ROUTES, control_router],
        middleware=[DefineMiddleware(HytaleGate, world=world)],
        exception_handlers={
            BadControlRequest: _bad_control,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        state=State({"world": world}),
        openapi_config=None,
        logging_config=None,
    )
