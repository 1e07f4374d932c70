"""The middleware that audits every request to a route naming an audit action.

A route declares `opt=audit.action("server.start")` (see audit.py); this layer,
outside admission, sees each of its requests end, whoever ended it: the guard's
403, bad input, the handler's answer, the owner's refusal relayed as an
ApiError, a 5xx, the request deadline. The answer is held until its entry is
written, so a client that reads the audit log right after its answer finds it.
Writing the entry never changes the answer: a failed write is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import msgspec
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import PRINCIPAL_STATE, Principal

MAX_KEPT_BODY = 65_536  # bytes of request body read for `keep=` fields
_background: set[asyncio.Task[None]] = set()


class _Exchange:
    """What the audit entry is made of: the request's body (when fields are kept)
    and the answer, held until its last chunk."""

    def __init__(self, declared: audit.AuditedAction) -> None:
        self.declared = declared
        self.request_body = bytearray()
        self.status: int | None = None
        self.held: list[Message] = []

    @property
    def answer(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.held if m["type"] == "http.response.body")


def audit_trail(pool_of: Callable[[], asyncpg.Pool]) -> Callable[[ASGIApp], ASGIApp]:
    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler") if scope["type"] == "http" else None
            declared = audit.declared(getattr(handler, "opt", None))
            if declared is None:
                await app(scope, receive, send)
                return
            exchange = _Exchange(declared)

            async def teed() -> Message:
                message = await receive()
                if declared.keep and len(exchange.request_body) < MAX_KEPT_BODY:
                    exchange.request_body += message.get("body", b"")
                return message

            async def hold(message: Message) -> None:
                if message["type"] == "http.response.start":
                    exchange.status = message["status"]
                exchange.held.append(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await _write(pool_of, scope, exchange)
                    for held in exchange.held:
                        await send(held)

            try:
                await app(scope, teed, hold)
            except asyncio.CancelledError:  # the request deadline: written in the background
                exchange.status = exchange.status or 504
                task = asyncio.create_task(_write(pool_of, scope, exchange))
                _background.add(task)
                task.add_done_callback(_background.discard)
                raise
            except Exception as exc:
                if exchange.status is None:
                    exchange.status = _status_of(exc)
                    await _write(pool_of, scope, exchange, error=exc)
                raise

        return wrapped

    return middleware


def _status_of(exc: Exception) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


async def _write(
    pool_of: Callable[[], asyncpg.Pool],
    scope: Scope,
    exchange: _Exchange,
    error: Exception | None = None,
) -> None:
    principal = scope.get("state", {}).get(PRINCIPAL_STATE)
    if not isinstance(principal, Principal):
        return  # no identified caller (401): nobody to name as the actor
    declared, status = exchange.declared, exchange.status or 500
    params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
    answer = _decoded(exchange.answer)
    ids = _answer_ids(answer) if status < 400 else {}
    detail: dict[str, Any] = {"path": params}
    if declared.keep:
        detail["request"] = _kept(bytes(exchange.request_body), scope, declared.keep)
    if ids:
        detail["answer"] = ids
    if status >= 400:
        detail.update(_refusal(answer, error))
    target = (declared.target_type, params.get(declared.param) or ids.get("id"))
    await audit.record_action(
        pool_of(), principal, declared.name, target, status, detail, Request(scope)
    )


def _decoded(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        return None


def _answer_ids(answer: Any) -> dict[str, str]:
    """The ids in the answer's `data` (`id`, `requestId`, `backupId` …), never other fields."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        return {}
    return {
        key: value
        for key, value in data.items()
        if (key == "id" or key.endswith("Id")) and isinstance(value, str)
    }


def _kept(raw: bytes, scope: Scope, keep: tuple[str, ...]) -> dict[str, Any]:
    """The kept fields from the body, else from the query (`?path=a&path=b`: a list)."""
    body = _decoded(raw)
    body = body if isinstance(body, dict) else {}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    kept = {name: body[name] for name in keep if name in body}
    for name in keep:
        if name not in kept and name in query:
            kept[name] = query[name] if len(query[name]) > 1 else query[name][0]
    return kept


def _refusal(answer: Any, error: Exception | None) -> dict[str, Any]:
    if isinstance(answer, dict) and answer.get("success") is False:
        return {"code": answer.get("code"), "error": answer.get("error")}
    if isinstance(error, ApiError):
        return {"code": error.code, "error": error.message}
    return {"code": None, "error": type(error).__name__ if error else None}
