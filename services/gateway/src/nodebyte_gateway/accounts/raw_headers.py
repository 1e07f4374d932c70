"""A request header or query value read straight from the ASGI scope.

Admission reads one or two of them for every request; building Litestar's
`Headers` or query parameters for that costs more than the scan. The credential
headers are asked for by the guard, admission and the rate limiter in turn, so
they are found in one pass and kept on the request's scope.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from litestar.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case, as ASGI gives names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


_CREDENTIALS = "nodebyte_credentials"  # the scope key (ASGI lets an app add its own)


def credential_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The request's first Authorization and X-API-Key headers (each None when absent)."""
    found: tuple[str | None, str | None] | None = scope.get(_CREDENTIALS)  # type: ignore[assignment]
    if found is None:
        authorization = key = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-api-key" and key is None:
                key = value.decode("latin-1")
        found = scope[_CREDENTIALS] = (authorization, key)  # type: ignore[typeddict-unknown-key]
    return found


def query_value(scope: Scope, name: str) -> str | None:
    """The first value of query parameter `name`, decoded, or None."""
    prefix = f"{name}="
    if prefix.encode() not in scope.get("query_string", b""):
        return None  # most requests: no need to split the query
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        if part.startswith(prefix):
            return unquote_plus(part[len(prefix) :])
    return None
