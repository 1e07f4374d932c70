"""Dot permissions (`admin.read`, `sync.write`) and what grants them.

A granted permission grants a wanted one when it is the same, when it is `*`,
or when it ends in `.*` and the wanted one lies under it (`admin.*` grants
`admin.read` and `admin.users.write`, never `administrator.read`). Which names
exist is the catalogue's to say (`nodebyte_common.permission_catalogue`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.permission_catalogue import WILDCARD

_SEGMENT = r"[a-z][a-z0-9_-]*"
_PATTERN = re.compile(rf"^(\*|{_SEGMENT}(\.{_SEGMENT})*(\.\*)?)$")
MAX_LENGTH = 100


def is_valid(permission: str) -> bool:
    """Well-formed: dot segments, optionally ending in `.*`, or `*`."""
    return len(permission) <= MAX_LENGTH and bool(_PATTERN.match(permission))


def is_grantable(permission: str) -> bool:
    """Well-formed and granting catalogue permissions (what a role or key may hold)."""
    return is_valid(permission) and catalogue.is_grantable(permission)


def grants_one(granted: str, wanted: str) -> bool:
    if granted in (WILDCARD, wanted):
        return True
    if granted.endswith(".*"):
        return wanted.startswith(granted[:-1])
    return False


def grants(granted: Iterable[str], wanted: str) -> bool:
    if isinstance(granted, tuple) and (wanted in granted or WILDCARD in granted):
        return True  # the usual case, asked on every request: no generator to run
    return any(grants_one(g, wanted) for g in granted)


def covers(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Whether a holder of `granted` may hand out every permission of `requested`.

    A pattern (`admin.*`) is covered only by itself, a wider pattern or `*`:
    holding `admin.read` does not let anyone mint `admin.*`.
    """
    held = list(granted)
    return all(grants(held, wanted) for wanted in requested)
