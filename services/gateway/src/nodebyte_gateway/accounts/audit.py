"""The admin audit log: who did what to which thing, when, from where, and the outcome.

Two ways in:

1. A route that forwards an action to the service owning it (servers, nodes,
   templates, allocations, databases, transfers …) names its audit action in
   one line, in its decorator:

       @post("/api/servers/{server_id:uuid}/transfer", guards=[...],
             opt=audit.action("server.transfer"))

   and `audit_trail.audit_trail` (the gateway's middleware) records every
   request to it once its answer is known: the caller, the target, the
   outcome, whatever the handler did or raised. `accepted` for a 2xx,
   `refused` for a 4xx (the guard's 403, bad input, the owner's 404/409/423),
   `failed` for a 5xx or a timeout. The target is `server` + the `server_id`
   path parameter (the action's first word + `_id`; `target=` / `param=` say
   otherwise); a route without it (a create) takes the id from its answer's
   `data.id`. Every path parameter, the answer's ids (`requestId`, …) and the
   request-body fields named in `keep=` are kept in `after`. A request without
   an identified caller (401) is not recorded: there is no actor to name.
   `check_declared` refuses to start the gateway when a route that changes
   something under AUDITED_PREFIXES names no action.

   An action taken another way (a console line typed on the `/ws` socket)
   records the same entry with `record_action(pool, principal, "server.command",
   ("server", id), status, detail, connection)`.

2. A route that makes the change itself calls, inside the transaction that
   makes it:

    await audit.record(conn, principal, "user.roles_updated", ("user", user_id),
                       before, after, request)

`actor` is a Principal (None: the request's principal), or an Actor for callers
that are not HTTP requests (the CLI, background work). `before`/`after` are
JSON-able snapshots; any value under a secret-looking key (password, token,
secret, key, webhook URL, …) is masked before it is stored, at any depth.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg
import uuid6
from litestar.connection import ASGIConnection

from nodebyte_common.observability import request_id_var
from nodebyte_common.sealing import mask
from nodebyte_gateway.accounts.auth import Principal, principal_of

log = logging.getLogger(__name__)

SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|api_?key|key_hash|private|credential|authorization|cookie"
    r"|webhook_?url|dsn",
    re.IGNORECASE,
)
MASKED = "••••"

Target = tuple[str, Any] | str | None
Outcome = Literal["accepted", "refused", "failed"]

OPT = "audit"  # the route's `opt` key holding its AuditedAction
# A route changing something under these paths must name its audit action.
AUDITED_PREFIXES = ("/api/servers", "/api/nodes", "/api/templates")
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class AuditedAction:
    name: str  # e.g. server.start
    target_type: str  # server
    param: str  # the path parameter holding the target's id (server_id)
    keep: tuple[str, ...] = ()  # request-body fields kept in the entry


def action(
    name: str, *, target: str | None = None, param: str | None = None, keep: tuple[str, ...] = ()
) -> dict[str, AuditedAction]:
    """A route's `opt` naming its audit action: `opt=audit.action("server.start")`."""
    target_type = target or name.split(".", 1)[0]
    return {OPT: AuditedAction(name, target_type, param or f"{target_type}_id", keep)}


IN_HANDLER = "audit_in_handler"


def in_handler() -> dict[str, bool]:
    """A route's `opt` saying its handler records its own audit entries (audit.record)."""
    return {IN_HANDLER: True}


def declared(opt: dict[str, Any] | None) -> AuditedAction | None:
    found = (opt or {}).get(OPT)
    return found if isinstance(found, AuditedAction) else None


def outcome_of(status: int) -> Outcome:
    if status < 400:
        return "accepted"
    return "refused" if status < 500 else "failed"


def check_declared(handlers: list[Any]) -> None:
    """Refuse to start when a route changing servers/nodes/templates names no audit action."""
    missing = [
        f"{method} {path}"
        for handler in handlers
        for method in sorted(getattr(handler, "http_methods", ()) or ())
        if method in CHANGING_METHODS
        and not declared(getattr(handler, "opt", None))
        and not (getattr(handler, "opt", None) or {}).get(IN_HANDLER)
        for path in sorted(getattr(handler, "paths", ()) or ())
        if path.startswith(AUDITED_PREFIXES)
    ]
    if missing:
        raise RuntimeError(
            "These routes change servers or nodes but name no audit action; add "
            '`opt=audit.action("<resource>.<verb>")` to their decorators: ' + ", ".join(missing)
        )


@dataclass(frozen=True)
class Actor:
    type: str  # user, api_key, cli, system
    id: str | None
    label: str | None


SYSTEM = Actor("system", None, None)


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.kind, principal.id, principal.label)


def masked(value: Any) -> Any:
    """`value` with every secret-looking key's value masked, recursively."""
    if isinstance(value, dict):
        return {
            key: _mask_leaf(item) if SECRET_KEY.search(str(key)) else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    return value


def _mask_leaf(value: Any) -> str | None:
    if value is None or value == "":
        return value
    if isinstance(value, str):
        return mask(value)
    return MASKED


def _split_target(target: Target) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    if isinstance(target, tuple):
        kind, ident = target
        return kind, None if ident is None else str(ident)
    kind, _, ident = target.partition(":")
    return kind, ident or None


def client_ip(request: ASGIConnection | None) -> str | None:
    if request is None or request.client is None:
        return None
    return request.client.host


def user_agent(request: ASGIConnection | None) -> str | None:
    if request is None:
        return None
    return request.headers.get("user-agent", "")[:512] or None


async def record(
    conn: asyncpg.Connection,
    actor: Principal | Actor | None,
    action: str,
    target: Target = None,
    before: Any = None,
    after: Any = None,
    request: ASGIConnection | None = None,
    *,
    outcome: Outcome = "accepted",
) -> UUID:
    """Append an audit entry in the caller's transaction; return its id."""
    if actor is None and request is not None:
        actor = principal_of(request)
    who = actor_of(actor) if isinstance(actor, Principal) else (actor or SYSTEM)
    target_type, target_id = _split_target(target)
    entry_id = uuid6.uuid7()
    await conn.execute(
        """INSERT INTO audit_logs (id, actor_type, actor_id, actor_label, action,
                                   target_type, target_id, before, after,
                                   ip, user_agent, request_id, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        entry_id,
        who.type,
        who.id,
        who.label,
        action,
        target_type,
        target_id,
        masked(before),
        masked(after),
        client_ip(request),
        user_agent(request),
        request_id_var.get(),
        outcome,
    )
    return entry_id


async def record_action(
    pool: asyncpg.Pool,
    principal: Principal,
    name: str,
    target: Target,
    status: int,
    detail: dict[str, Any],
    connection: ASGIConnection | None = None,
) -> None:
    """Record an action's outcome in its own transaction (the owner made the change);
    the HTTP status it was answered with decides the outcome. A failed write is
    logged, never turned into a failure of the action, which has happened."""
    try:
        async with pool.acquire() as conn:
            await record(
                conn,
                principal,
                name,
                target,
                None,
                {"status": status, **detail},
                connection,
                outcome=outcome_of(status),
            )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        log.exception("audit entry not written", extra={"action": name})
