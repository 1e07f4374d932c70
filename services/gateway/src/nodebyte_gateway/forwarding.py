"""Answering a public request with what an owning service's internal API said."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.internal_client import ServiceClient, refusal


def relay(status: int, body: Any, *, message: str | None = None) -> Response[Any]:
    """The internal answer in the public envelope (its 4xx become ours)."""
    if 200 <= status < 300 and isinstance(body, dict):
        return ok(
            body.get("data"),
            message=message or body.get("message"),
            pagination=body.get("pagination"),
            status=status,
        )
    raise refusal(status, body)


async def query(
    client: ServiceClient, path: str, params: dict[str, Any] | None = None
) -> Response[Any]:
    """GET from the owning service and relay its answer."""
    status, body = await client.call("GET", path, params=_without_none(params))
    return relay(status, body)


def _without_none(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """The query to send: None left out, booleans as `true`/`false`."""
    if params is None:
        return None
    return {k: _query_value(v) for k, v in params.items() if v is not None}


def _query_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def answer(status: int, body: Any) -> dict[str, Any]:
    """A service's successful envelope, or its refusal raised as ours."""
    relay(status, body)  # raises unless it succeeded
    return body  # type: ignore[no-any-return]


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (the owning service validates its fields)."""
    raw = await request.body()
    body = decode_body(raw, Any, empty_ok=False) if raw.strip() else None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body
