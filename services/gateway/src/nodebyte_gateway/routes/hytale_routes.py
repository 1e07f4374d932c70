"""Hytale routes of the public API: the reference's OAuth and session table, logs, admin.

One forward table (see edge/forward_table): each route checks the caller and the
input against the contract here, refusing what the flow cannot use with the
reference's INVALID_REQUEST, then asks hytale-auth's internal API
(`/internal/v1/hytale/...`), adding who asked (IP, user agent) for its audit
trail. hytale-auth answers failures of the Hytale upstream with 424 and the
public status in `details.status` (so they do not trip the circuit breaker that
guards hytale-auth itself); the internal client turns them back.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import hytale as contract
from nodebyte_common.contracts.envelope import Answer, Empty, WindowAnswer
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.rate_limit import Limit

EggId = Annotated[int, Parameter(ge=1, le=contract.EGG_ID_MAX)]

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

# What the account and session routes refuse: the body names an account (a session)
# hytale-auth does not hold.
NO_ACCOUNT = {404: "No authorised Hytale account is this one (ACCOUNT_NOT_FOUND)"}
NO_SESSION = {404: "No game session is this one (SESSION_NOT_FOUND)"}


def _hytale(method: str, path: str, internal: str, permission: str, answer: Any, summary: str,
            **options: Any) -> Forward:  # fmt: skip
    """A Hytale route: the reference's INVALID_REQUEST for input it cannot use."""
    return Forward(method, path, internal, permission, answer, summary,
                   invalid_code="INVALID_REQUEST", **options)  # fmt: skip


def _oauth(path: str, answer: Any, summary: str, body: type[msgspec.Struct], limit: str,
           **options: Any) -> Forward:  # fmt: skip
    """A step of the OAuth flow: its own rate-limit class, who asked for the audit trail,
    and hytale-auth's status (a poll answers 202 while waiting, a new session 201)."""
    return _hytale("POST", f"{PREFIX}/oauth/{path}", f"/hytale/oauth/{path}",
                   catalogue.HYTALE_WRITE, answer, summary, body=body, rate_limit=limit,
                   with_caller=True, keep_status=True, **options)  # fmt: skip


def _oauth_table() -> list[Forward]:
    c = contract
    return [
        _oauth("device-code", Answer[c.DeviceCode],
               "Request a device code for browser authorisation", Empty, "hytale-device-code"),
        _oauth("token", Answer[c.TokenPollAnswer],
               "Poll for the authorisation of a device code (202 while waiting)", c.TokenPoll,
               "hytale-token"),
        _oauth("refresh", Answer[c.PoolAccount], "Refresh an account's OAuth tokens",
               c.AccountBody, "hytale-refresh",
               refuses={**NO_ACCOUNT, 409: "A refresh of this account is in progress"}),
        _oauth("profiles", Answer[c.Profiles], "List an account's game profiles", c.AccountBody,
               "hytale-profiles", refuses=NO_ACCOUNT),
        _oauth("select-profile", Answer[c.ProfileSelected],
               "Bind a profile to the account's sessions", c.SelectProfile,
               "hytale-select-profile", refuses=NO_ACCOUNT),
        _oauth("game-session/new", Answer[c.Session],
               "Create a game session (optionally for a server)", c.NewSession,
               "hytale-session-new", body_optional=False, refuses=NO_ACCOUNT),
        _oauth("game-session/refresh", Answer[c.Session], "Extend a game session",
               c.SessionBody, "hytale-session-refresh", refuses=NO_SESSION),
        _oauth("game-session/delete", Answer[c.SessionDeleted], "Terminate a game session",
               c.SessionBody, "hytale-session-delete", refuses=NO_SESSION),
    ]  # fmt: skip


def _read_table() -> list[Forward]:
    c, read = contract, catalogue.HYTALE_READ
    return [
        _hytale("POST", f"{PREFIX}/tokens/validate", "/hytale/tokens/validate", read,
                Answer[c.TokenValidity], "Validate a session or identity token",
                body=c.ValidateBody, with_caller=True),
        _hytale("GET", f"{PREFIX}/logs", "/hytale/logs", read, Answer[list[c.AuditLog]],
                "Hytale audit log", query=c.AuditLogQuery),
        _hytale("GET", f"{PREFIX}/server-logs", "/hytale/server-logs", read,
                WindowAnswer[c.ServerLogLine], "Server console log", query=c.ServerLogQuery),
        _hytale("GET", f"{PREFIX}/server-logs/count", "/hytale/server-logs/count", read,
                Answer[c.ServerLogCount], "Console line count", query=c.ServerQuery),
        _hytale("GET", f"{PREFIX}/sessions", "/hytale/sessions", read, Answer[list[c.Session]],
                "Game sessions", query=c.SessionQuery),
        _hytale("GET", f"{PREFIX}/sessions/{{session_id:uuid}}", "/hytale/sessions/{session_id}",
                read, Answer[c.Session], "A game session"),
    ]  # fmt: skip


def _admin_table() -> list[Forward]:
    c, read, write = contract, catalogue.ADMIN_READ, catalogue.ADMIN_WRITE
    account = f"{ADMIN_PREFIX}/accounts/{{account_id:uuid}}"
    egg = f"{ADMIN_PREFIX}/eggs/{{egg_id:int}}"
    return [
        _hytale("GET", f"{ADMIN_PREFIX}/accounts", "/hytale/accounts", read,
                Answer[c.AccountPool], "The account pool with each account's session capacity"),
        _hytale("GET", f"{ADMIN_PREFIX}/eggs", "/hytale/eggs", read, Answer[c.Eggs],
                "Per-egg names of the token variables, and the defaults"),
        _hytale("PATCH", account, "/hytale/accounts/{account_id}", write, Answer[c.PoolAccount],
                "Take an account in or out of the pool, or change its session limit",
                body=c.AccountPatch, body_optional=False),
        _hytale("DELETE", account, "/hytale/accounts/{account_id}", write,
                Answer[c.AccountRemoved], "Remove an account (ending its sessions)"),
        _hytale("PUT", egg, "/hytale/eggs/{egg_id}", write, Answer[c.Egg],
                "Set an egg's token variable names", body=c.EggVariables,
                path_types={"egg_id": EggId}),
        _hytale("DELETE", egg, "/hytale/eggs/{egg_id}", write, Answer[c.EggReset],
                "Reset an egg to the default variable names", path_types={"egg_id": EggId}),
    ]  # fmt: skip


def routes(ctx: GatewayContext) -> list[HTTPRouteHandler]:
    return [
        *forward_routes(ctx, "hytale-auth", ["hytale"], [*_oauth_table(), *_read_table()]),
        *forward_routes(ctx, "hytale-auth", ["hytale admin"], _admin_table()),
    ]
