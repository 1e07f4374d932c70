"""The admin audit log: who did what to which thing, when, from where.

Route modules call, inside the transaction that makes the change:

    await audit.record(conn, principal, "user.roles_updated", ("user", user_id),
                       before, after, request)

`actor` is a Principal (None: the request's principal), or an Actor for callers
that are not HTTP requests (the CLI, background work). `before`/`after` are
JSON-able snapshots; any value under a secret-looking key (password, token,
secret, key, webhook URL, …) is masked before it is stored, at any depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import uuid6
from litestar import Request

from nodebyte_common.observability import request_id_var
from nodebyte_common.sealing import mask
from nodebyte_gateway.auth import Principal, principal_of

SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|api_?key|key_hash|private|credential|authorization|cookie"
    r"|webhook_?url|dsn",
    re.IGNORECASE,
)
MASKED = "••••"

Target = tuple[str, Any] | str | None


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


def _mask_leaf(value: Any) -> Any:
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


def client_ip(request: Request | None) -> str | None:
    if request is None or request.client is None:
        return None
    return request.client.host


def user_agent(request: Request | None) -> str | None:
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
    request: Request | None = None,
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
                                   ip, user_agent, request_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
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
    )
    return entry_id
