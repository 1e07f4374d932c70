"""`Idempotency-Key`: the client's name for one request that must take effect once.

A client that gets an unclear answer (a timeout, a 5xx after the work was queued)
retries with the same key; the owner records the key with what it did and
answers the repeat with that, instead of doing the work again. The gateway
passes the header through; the owner checks it with `key_of`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nodebyte_common.envelope import ApiError

HEADER = "Idempotency-Key"
_VALID = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as Stripe and the IETF draft use


def key_of(headers: Mapping[str, str]) -> str | None:
    """The request's key, None without one; 400 for a key that is not 1-255 visible ASCII."""
    raw = headers.get(HEADER.lower())
    if raw is None:
        return None
    if not _VALID.fullmatch(raw):
        raise ApiError(
            400,
            f"{HEADER} must be 1 to 255 visible ASCII characters",
            "INVALID_IDEMPOTENCY_KEY",
        )
    return raw


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    """The header to pass on to the owner (validated here first: refused at the edge)."""
    key = key_of(headers)
    return {} if key is None else {HEADER: key}
