"""Hytale routes of the public API: the reference's OAuth and session table, logs, admin.

Each route checks the caller and the body's shape here, then asks hytale-auth's
internal API (`/internal/v1/hytale/...`), adding who asked (IP, user agent) for
its audit trail. hytale-auth answers failures of the Hytale upstream with 424
and the public status in `details.status` (so they do not trip the circuit
breaker that guards hytale-auth itself); this module turns them back.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args

import msgspec
from litestar import Request, Response, route
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import hytale as contract
from nodebyte_common.contracts.envelope import Answer, Empty, WindowAnswer
from nodebyte_common.contracts.query import query_parameter
from nodebyte_common.envelope import ApiError, decode_body, error_response
from nodebyte_common.internal_client import ServiceClient, refusal
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import PATH_PARAMETER, PATH_TYPES
from nodebyte_gateway.edge.rate_limit import Limit

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


@dataclass(frozen=True)
class Relay:
    """A public Hytale route: hytale-auth's internal path, the contract's body, query
    and answer; `audited` bodies carry who asked to hytale-auth's audit trail."""

    method: str
    path: str  # public, Litestar's syntax
    internal: str  # `{name}` for each path parameter
    answer: Any  # the envelope hytale-auth answers, e.g. Answer[contract.Session]
    summary: str
    body: Any = None
    query: type[msgspec.Struct] | None = None
    status: int = 200
    rate_limit: str = "default"
    audited: bool = False


def _invalid(_: Request, exc: ValidationException) -> Response[Any]:
    """Input the Hytale flow cannot use is its own INVALID_REQUEST (as hytale-auth's)."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    first = problems[0] if problems and isinstance(problems[0], dict) else {}
    message = str(first.get("message") or exc.detail)
    if message == "'data'":  # Litestar's word for a body that is missing
        message = "A JSON body is required"
    elif first.get("key") and first.get("key") != "data":
        message = f"{message} (`{first['key']}`)"
    return error_response(ApiError(400, message, "INVALID_REQUEST"))


def relay(answer_type: Any, answer: tuple[int, Any]) -> Response[Any]:
    """hytale-auth's answer as the public one: its success decoded into the contract
    (with its status: a device-code poll answers 202 while waiting), its refusal in its
    own words, an upstream failure (424) with the public status it carries."""
    status, body = answer
    if not isinstance(body, dict):
        raise ApiError(502, "The hytale-auth service answered without a body")
    if status < 400:
        try:
            return Response(msgspec.convert(body, answer_type), status_code=status)
        except msgspec.ValidationError as exc:
            raise ApiError(
                502, f"The hytale-auth service answered outside its contract: {exc}"
            ) from None
    raise refusal(status, body)


async def _strictly(request: Request, body_type: Any) -> Any:
    """The body decoded strictly (Litestar's own parse, which documents it, converts
    "1" to 1; the Hytale flow refuses a string where the reference wants a number)."""
    try:
        return decode_body(await request.body(), body_type)
    except ApiError as exc:
        raise ApiError(400, exc.message, "INVALID_REQUEST") from None


def _caller(request: Request) -> dict[str, str | None]:
    """Who asked, for the audit trail."""
    agent = request.headers.get("user-agent")
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": agent[:512] if agent else None,
    }


def _route(hytale: ServiceClient, guard: Any, tags: list[str], spec: Relay) -> HTTPRouteHandler:
    handler = route(
        spec.path,
        http_method=[spec.method],
        guards=[guard],
        tags=tags,
        summary=spec.summary,
        status_code=spec.status,
        opt={"rate_limit": spec.rate_limit},
        exception_handlers={ValidationException: _invalid},
        name=f"{spec.method} {spec.path}",
    )
    return handler(_endpoint(hytale, spec))


def _endpoint(hytale: ServiceClient, spec: Relay) -> Callable[..., Awaitable[Any]]:
    path_names = [name for name, _ in PATH_PARAMETER.findall(spec.path)]
    query_fields = msgspec.structs.fields(spec.query) if spec.query else ()

    async def endpoint(request: Request, **given: Any) -> Response[Any]:
        path = spec.internal.format(**{name: given[name] for name in path_names})
        params = {f.encode_name: given[f.name] for f in query_fields if given[f.name] is not None}
        payload = None
        if spec.body is not None:
            payload = msgspec.to_builtins(await _strictly(request, spec.body)) or {}
            if spec.audited:
                payload = {**payload, "audit": _caller(request)}
        answer = await hytale.call(spec.method, path, params=params or None, json=payload)
        return relay(spec.answer, answer)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=Request)]  # fmt: skip
    parameters += [
        inspect.Parameter(name, keyword, annotation=FromPath[PATH_TYPES[kind]])
        for name, kind in PATH_PARAMETER.findall(spec.path)
    ]
    if spec.body is not None:
        optional = type(None) in get_args(spec.body)
        default = None if optional else inspect.Parameter.empty
        parameters.append(
            inspect.Parameter("data", keyword, annotation=JSONBody[spec.body], default=default)
        )
    parameters += [query_parameter(f) for f in query_fields]
    returned = Response[spec.answer]  # type: ignore[name-defined]
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=returned)  # type: ignore[attr-defined]
    endpoint.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returned}
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{spec.method}_{spec.path}").strip("_").lower()
    endpoint.__name__ = endpoint.__qualname__ = words
    return endpoint


def _oauth_table() -> list[Relay]:
    c = contract
    return [
        Relay("POST", f"{PREFIX}/oauth/device-code", "/hytale/oauth/device-code",
              Answer[c.DeviceCode], "Request a device code for browser authorisation",
              body=Empty | None, rate_limit="hytale-device-code", audited=True),
        Relay("POST", f"{PREFIX}/oauth/token", "/hytale/oauth/token",
              Answer[c.TokenPollAnswer],
              "Poll for the authorisation of a device code (202 while waiting)",
              body=c.TokenPoll, rate_limit="hytale-token", audited=True),
        Relay("POST", f"{PREFIX}/oauth/refresh", "/hytale/oauth/refresh", Answer[c.PoolAccount],
              "Refresh an account's OAuth tokens", body=c.AccountBody,
              rate_limit="hytale-refresh", audited=True),
        Relay("POST", f"{PREFIX}/oauth/profiles", "/hytale/oauth/profiles", Answer[c.Profiles],
              "List an account's game profiles", body=c.AccountBody,
              rate_limit="hytale-profiles", audited=True),
        Relay("POST", f"{PREFIX}/oauth/select-profile", "/hytale/oauth/select-profile",
              Answer[c.ProfileSelected], "Bind a profile to the account's sessions",
              body=c.SelectProfile, rate_limit="hytale-select-profile", audited=True),
        Relay("POST", f"{PREFIX}/oauth/game-session/new", "/hytale/oauth/game-session/new",
              Answer[c.Session], "Create a game session (optionally for a server)",
              body=c.NewSession, rate_limit="hytale-session-new", audited=True),
        Relay("POST", f"{PREFIX}/oauth/game-session/refresh",
              "/hytale/oauth/game-session/refresh", Answer[c.Session], "Extend a game session",
              body=c.SessionBody, rate_limit="hytale-session-refresh", audited=True),
        Relay("POST", f"{PREFIX}/oauth/game-session/delete", "/hytale/oauth/game-session/delete",
              Answer[c.SessionDeleted], "Terminate a game session", body=c.SessionBody,
              rate_limit="hytale-session-delete", audited=True),
    ]  # fmt: skip


def _read_table() -> list[Relay]:
    c = contract
    return [
        Relay("POST", f"{PREFIX}/tokens/validate", "/hytale/tokens/validate",
              Answer[c.TokenValidity], "Validate a session or identity token",
              body=c.ValidateBody, audited=True),
        Relay("GET", f"{PREFIX}/logs", "/hytale/logs", Answer[list[c.AuditLog]],
              "Hytale audit log", query=c.AuditLogQuery),
        Relay("GET", f"{PREFIX}/server-logs", "/hytale/server-logs",
              WindowAnswer[c.ServerLogLine], "Server console log", query=c.ServerLogQuery),
        Relay("GET", f"{PREFIX}/server-logs/count", "/hytale/server-logs/count",
              Answer[c.ServerLogCount], "Console line count", query=c.ServerQuery),
        Relay("GET", f"{PREFIX}/sessions", "/hytale/sessions", Answer[list[c.Session]],
              "Game sessions", query=c.SessionQuery),
        Relay("GET", f"{PREFIX}/sessions/{{session_id:uuid}}", "/hytale/sessions/{session_id}",
              Answer[c.Session], "A game session"),
    ]  # fmt: skip


def _admin_table() -> tuple[list[Relay], list[Relay]]:
    c = contract
    account, egg = (
        f"{ADMIN_PREFIX}/accounts/{{account_id:uuid}}",
        f"{ADMIN_PREFIX}/eggs/{{egg_id:int}}",
    )
    reads = [
        Relay(
            "GET",
            f"{ADMIN_PREFIX}/accounts",
            "/hytale/accounts",
            Answer[c.AccountPool],
            "The account pool with each account's session capacity",
        ),
        Relay(
            "GET",
            f"{ADMIN_PREFIX}/eggs",
            "/hytale/eggs",
            Answer[c.Eggs],
            "Per-egg names of the token variables, and the defaults",
        ),
    ]
    writes = [
        Relay("PATCH", account, "/hytale/accounts/{account_id}", Answer[c.PoolAccount],
              "Take an account in or out of the pool, or change its session limit",
              body=c.AccountPatch),
        Relay("DELETE", account, "/hytale/accounts/{account_id}", Answer[c.AccountRemoved],
              "Remove an account (ending its sessions)"),
        Relay("PUT", egg, "/hytale/eggs/{egg_id}", Answer[c.Egg],
              "Set an egg's token variable names", body=c.EggVariables),
        Relay("DELETE", egg, "/hytale/eggs/{egg_id}", Answer[c.EggReset],
              "Reset an egg to the default variable names"),
    ]  # fmt: skip
    return reads, writes


def routes(ctx: GatewayContext) -> list[Any]:
    hytale = ctx.client("hytale-auth")
    write, read = ctx.require(catalogue.HYTALE_WRITE), ctx.require(catalogue.HYTALE_READ)
    admin_read, admin_write = ctx.require(catalogue.ADMIN_READ), ctx.require(catalogue.ADMIN_WRITE)
    admin_reads, admin_writes = _admin_table()
    return [
        *(_route(hytale, write, ["hytale"], spec) for spec in _oauth_table()),
        *(_route(hytale, read, ["hytale"], spec) for spec in _read_table()),
        *(_route(hytale, admin_read, ["hytale admin"], spec) for spec in admin_reads),
        *(_route(hytale, admin_write, ["hytale admin"], spec) for spec in admin_writes),
    ]
