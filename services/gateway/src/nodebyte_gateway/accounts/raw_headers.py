"""A request header or query value read straight from the ASGI scope.

Admission reads one or two of them for every request; building Litestar's
`Headers` or query parameters for that costs more than the scan.
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


def query_value(scope: Scope, name: str) -> str | None:
    """The first value of query parameter `name`, decoded, or None."""
    prefix = f"{name}="
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        if part.startswith(prefix):
            return unquote_plus(part[len(prefix) :])
    return None
