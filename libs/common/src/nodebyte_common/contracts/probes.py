"""A connection probe's answer: sync's of the panel, the notifier's of the mail provider.

The admin page's "test connections" asks each owner to try what it is configured
(or asked) to reach; both answer this Struct and the gateway shows both side by side.
"""

from __future__ import annotations

import msgspec

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class ConnectionCheck(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """One probe: did it work, how fast, and if not, why (a category and its words)."""

    ok: bool
    latency_ms: int | None = None
    error: str | None = None
    message: str | Unset = UNSET
    locations: int | Unset = UNSET  # the panel's: how many it lists
    provider: str | Unset = UNSET  # the mail provider's name
