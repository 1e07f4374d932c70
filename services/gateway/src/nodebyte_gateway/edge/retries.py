"""A caller's `Idempotency-Key` made into the id of the one thing it asked for.

A client that got no clear answer (the gateway died after accepting, a timeout)
asks again with the same key; the request's id is derived from the key, so the
retry finds the first request by its primary key instead of queueing a second.
Keys are the caller's own: two callers' equal keys name different requests.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from litestar import Request

from nodebyte_common import idempotency
from nodebyte_gateway.accounts.auth import caller

RETRY_NAMESPACE = UUID("6f1c2a4e-3b5d-4e8f-9a7c-1d2e3f4a5b6c")


def retry_key(request: Request) -> str | None:
    """The caller's Idempotency-Key, made the caller's own (two callers never share one)."""
    key = idempotency.key_of(request.headers)
    return None if key is None else f"{caller(request).id}:{key}"


def retry_id(key: str, *scope: object) -> UUID:
    """The id a request named by `key` always gets, within `scope` (route, target...)."""
    return uuid5(RETRY_NAMESPACE, ":".join([key, *map(str, scope)]))
