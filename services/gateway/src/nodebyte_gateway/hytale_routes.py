"""Hytale routes of the public API: the reference's OAuth and session table, logs, admin.

Each route checks the caller and the body's shape here, then asks hytale-auth's
internal API (`/internal/v1/hytale/...`), adding who asked (IP, user agent) for
its audit trail. hytale-auth answers failures of the Hytale upstream with 424
and the public status in `details.status` (so they do not trip the circuit
breaker that guards hytale-auth itself); this module turns them back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, patch, post, put
from litestar.params import FromPath

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.dependency_failure import DEPENDENCY_STATUS
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.rate_limit import Limit

PREFIX = "/api/v1/hytale"
ADMIN_PREFIX = "/api/admin/hytale"

# The reference's per-endpoint limits, as route classes of the gateway's limiter (each
# spent per caller credential and, at three times the size, per client address;
# RATE_LIMITS overrides them by class name). Token polling is the exception: the
# reference's 10 per 5 min would cut a client polling at RFC 8628's 5 s interval off
# after a minute, so the class holds a whole 15-minute flow's polls at 5 s and refills
# at that pace; polls faster than a flow's interval are answered `slow_down` by
# hytale-auth from its own state.
RATE_LIMITS: dict[str, Limit] = {
    "hytale-device-code": Limit(5, 900),
    "hytale-token": Limit(180, 900),
    "hytale-refresh": Limit(6, 3600),
    "hytale-profiles": Limit(20, 3600),
    "hytale-select-profile": Limit(20, 3600),
    "hytale-session-new": Limit(20, 3600),
    "hytale-session-refresh": Limit(20, 3600),
    "hytale-session-delete": Limit(20, 3600),
}

ServerId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
VariableName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]{0,190}$")]


class NoBody(msgspec.Struct, forbid_unknown_fields=True):
    pass


class TokenPoll(msgspec.Struct, forbid_unknown_fields=True):
    device_code: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class AccountBody(msgspec.Struct, forbid_unknown_fields=True):
    account_id: UUID


class SelectProfile(msgspec.Struct, forbid_unknown_fields=True):
    account_id: UUID
    profile_uuid: UUID


class NewSession(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    account_id: UUID | None = None
    profile_uuid: UUID | None = None
    server_id: ServerId | None = None


class SessionBody(msgspec.Struct, forbid_unknown_fields=True):
    session_id: UUID


class ValidateBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    type: Literal["session", "identity"] = "session"


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    in_pool: bool | None = None
    session_limit: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None


class EggVariables(msgspec.Struct, forbid_unknown_fields=True):
    session_variable: VariableName
    identity_variable: VariableName


def relay(answer: tuple[int, Any]) -> Response[Any]:
    """hytale-auth's answer as the public one."""
    status, body = answer
    if not isinstance(body, dict):
        raise ApiError(502, "The hytale-auth service answered without a body")
    if status < 400:
        return ok(
            body.get("data"),
            message=body.get("message"),
            status=status,
            pagination=body.get("pagination"),
        )
    details = body.get("details")
    if status == DEPENDENCY_STATUS and isinstance(details, dict):
        details = dict(details)
        status = int(details.pop("status", 502))
        details = details or None
    headers = {}
    if status == 429 and isinstance(details, dict) and "retry_after" in details:
        headers["Retry-After"] = str(details["retry_after"])
    raise ApiError(status, body.get("error", "Request failed"), body.get("code"), details, headers)


def _decode(raw: bytes, type_: type[Any]) -> Any:
    try:
        return decode_body(raw, type_)
    except ApiError as exc:
        raise ApiError(400, exc.message, "INVALID_REQUEST") from None


def _caller(request: Request) -> dict[str, str | None]:
    """Who asked, for the audit trail."""
    agent = request.headers.get("user-agent")
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": agent[:512] if agent else None,
    }


def _forwarding_post(
    hytale: ServiceClient,
    path: str,
    body_type: type[Any],
    guard: Any,
    summary: str,
    rate_limit: str = "default",
) -> Any:
    """A POST route whose checked body goes to hytale-auth with the caller attached."""

    async def forward(request: Request) -> Response[Any]:
        body = _decode(await request.body(), body_type)
        payload = {**msgspec.to_builtins(body), "audit": _caller(request)}
        return relay(await hytale.call("POST", f"/hytale{path}", json=payload))

    forward.__name__ = "hytale_" + path.strip("/").replace("/", "_").replace("-", "_")
    return post(
        f"{PREFIX}{path}",
        guards=[guard],
        status_code=200,
        summary=summary,
        tags=["hytale"],
        opt={"rate_limit": rate_limit},
    )(forward)


OAUTH_ROUTES = (  # path, body, summary, rate-limit class
    (
        "/oauth/device-code",
        NoBody,
        "Request a device code for browser authorisation",
        "hytale-device-code",
    ),
    ("/oauth/token", TokenPoll, "Poll for the authorisation of a device code", "hytale-token"),
    ("/oauth/refresh", AccountBody, "Refresh an account's OAuth tokens", "hytale-refresh"),
    ("/oauth/profiles", AccountBody, "List an account's game profiles", "hytale-profiles"),
    (
        "/oauth/select-profile",
        SelectProfile,
        "Bind a profile to the account's sessions",
        "hytale-select-profile",
    ),
    (
        "/oauth/game-session/new",
        NewSession,
        "Create a game session (optionally for a server)",
        "hytale-session-new",
    ),
    (
        "/oauth/game-session/refresh",
        SessionBody,
        "Extend a game session",
        "hytale-session-refresh",
    ),
    (
        "/oauth/game-session/delete",
        SessionBody,
        "Terminate a game session",
        "hytale-session-delete",
    ),
)


def routes(ctx: GatewayContext) -> list[Any]:
    hytale = ctx.client("hytale-auth")
    write, read = ctx.require(catalogue.HYTALE_WRITE), ctx.require(catalogue.HYTALE_READ)
    handlers = [
        _forwarding_post(hytale, path, body, write, summary, limit)
        for path, body, summary, limit in OAUTH_ROUTES
    ]
    handlers.append(
        _forwarding_post(
            hytale, "/tokens/validate", ValidateBody, read, "Validate a session or identity token"
        )
    )
    return [*handlers, *_query_routes(hytale, read), *_admin_routes(hytale, ctx)]


def _query_routes(hytale: ServiceClient, read: Any) -> list[Any]:
    def params(request: Request, *names: str) -> dict[str, str]:
        return {n: request.query_params[n] for n in names if n in request.query_params}

    @get(f"{PREFIX}/logs", guards=[read], tags=["hytale"], summary="Hytale audit log")
    async def audit_logs(request: Request) -> Response[Any]:
        query = params(request, "account_id", "limit", "event_type")
        return relay(await hytale.call("GET", "/hytale/logs", params=query))

    @get(f"{PREFIX}/server-logs", guards=[read], tags=["hytale"], summary="Server console log")
    async def server_logs(request: Request) -> Response[Any]:
        query = params(request, "server_id", "limit", "offset")
        return relay(await hytale.call("GET", "/hytale/server-logs", params=query))

    @get(
        f"{PREFIX}/server-logs/count", guards=[read], tags=["hytale"], summary="Console line count"
    )
    async def server_log_count(request: Request) -> Response[Any]:
        query = params(request, "server_id")
        return relay(await hytale.call("GET", "/hytale/server-logs/count", params=query))

    @get(f"{PREFIX}/sessions", guards=[read], tags=["hytale"], summary="Game sessions")
    async def sessions(request: Request) -> Response[Any]:
        query = params(request, "server_id", "status")
        return relay(await hytale.call("GET", "/hytale/sessions", params=query))

    @get(f"{PREFIX}/sessions/{{session_id:uuid}}", guards=[read], tags=["hytale"])
    async def session(session_id: FromPath[UUID]) -> Response[Any]:
        return relay(await hytale.call("GET", f"/hytale/sessions/{session_id}"))

    return [audit_logs, server_logs, server_log_count, sessions, session]


def _admin_routes(hytale: ServiceClient, ctx: GatewayContext) -> list[Any]:
    read, write = ctx.require(catalogue.ADMIN_READ), ctx.require(catalogue.ADMIN_WRITE)

    @get(
        f"{ADMIN_PREFIX}/accounts",
        guards=[read],
        tags=["hytale admin"],
        summary="The account pool with each account's session capacity",
    )
    async def accounts() -> Response[Any]:
        return relay(await hytale.call("GET", "/hytale/accounts"))

    @patch(f"{ADMIN_PREFIX}/accounts/{{account_id:uuid}}", guards=[write], tags=["hytale admin"])
    async def update_account(account_id: FromPath[UUID], request: Request) -> Response[Any]:
        body = _decode(await request.body(), AccountPatch)
        path = f"/hytale/accounts/{account_id}"
        return relay(await hytale.call("PATCH", path, json=msgspec.to_builtins(body)))

    @delete(
        f"{ADMIN_PREFIX}/accounts/{{account_id:uuid}}",
        guards=[write],
        tags=["hytale admin"],
        status_code=200,
    )
    async def remove_account(account_id: FromPath[UUID]) -> Response[Any]:
        return relay(await hytale.call("DELETE", f"/hytale/accounts/{account_id}"))

    @get(f"{ADMIN_PREFIX}/eggs", guards=[read], tags=["hytale admin"])
    async def eggs() -> Response[Any]:
        return relay(await hytale.call("GET", "/hytale/eggs"))

    @put(f"{ADMIN_PREFIX}/eggs/{{egg_id:int}}", guards=[write], tags=["hytale admin"])
    async def set_egg(egg_id: FromPath[int], request: Request) -> Response[Any]:
        body = _decode(await request.body(), EggVariables)
        path = f"/hytale/eggs/{egg_id}"
        return relay(await hytale.call("PUT", path, json=msgspec.to_builtins(body)))

    @delete(
        f"{ADMIN_PREFIX}/eggs/{{egg_id:int}}",
        guards=[write],
        tags=["hytale admin"],
        status_code=200,
    )
    async def reset_egg(egg_id: FromPath[int]) -> Response[Any]:
        return relay(await hytale.call("DELETE", f"/hytale/eggs/{egg_id}"))

    return [accounts, update_account, remove_account, eggs, set_egg, reset_egg]
