"""Answering a public request with what an owning service's internal API said."""

from __future__ import annotations

from typing import Any

from litestar import Response

from nodebyte_common.envelope import ok
from nodebyte_common.internal_client import refusal


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


def answer(status: int, body: Any) -> dict[str, Any]:
    """A service's successful envelope, or its refusal raised as ours."""
    relay(status, body)  # raises unless it succeeded
    return body  # type: ignore[no-any-return]
