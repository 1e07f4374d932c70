"""A request header read straight from the ASGI scope.

Admission reads one or two headers of every request; building Litestar's
`Headers` for that costs more than the scan.
"""

from __future__ import annotations

from litestar.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case, as ASGI gives names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
