"""The session service's signing keys, cached.

Keys are refreshed hourly in the background (validation keeps using the keys
it has meanwhile). A token naming an unknown `kid` triggers one refetch, but
at most one per `min_refetch` seconds, shared by every concurrent caller: a
flood of tokens with made-up key ids costs the upstream one request per
interval, never one per token. A failed fetch keeps the old keys.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nodebyte_hytale_auth.metrics import JWKS_FETCHES

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[dict[str, Any]]]


def parse_jwks(document: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 signing keys by kid; keys of other kinds or uses are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in document.get("keys") or []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "EdDSA") != "EdDSA":
            continue
        try:
            raw = base64.urlsafe_b64decode(str(jwk["x"]) + "==")
            keys[str(jwk.get("kid", ""))] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError, binascii.Error):
            log.warning("skipping a malformed JWK", extra={"kid": jwk.get("kid")})
    return keys


class JwksCache:
    def __init__(
        self,
        fetch: Fetch,
        *,
        ttl: float = 3600.0,
        min_refetch: float = 30.0,
        on_keys_removed: Callable[[set[str]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.on_keys_removed = on_keys_removed
        self._clock = clock
        self.keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._inflight: asyncio.Task[bool] | None = None

    def cached(self, kid: str) -> Ed25519PublicKey | None:
        """The key without any I/O; schedules the hourly refresh when it is due."""
        stale = self._fetched_at is not None and self._clock() - self._fetched_at > self.ttl
        if stale and self._may_refetch():
            self._start_fetch("expired")
        return self.keys.get(kid)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The key for `kid`, fetching the JWKS first if it was never fetched or lacks it."""
        found = self.cached(kid)
        if found is not None:
            return found
        if self._may_refetch():
            await self._fetch_once("unknown_kid" if self._fetched_at else "initial")
        return self.keys.get(kid)

    async def refetch_if_allowed(self, reason: str) -> bool:
        """Refetch unless one happened within `min_refetch`; True when the keys changed."""
        if not self._may_refetch():
            return False
        return await self._fetch_once(reason)

    def _may_refetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.min_refetch

    async def _fetch_once(self, reason: str) -> bool:
        task = self._start_fetch(reason)
        return await asyncio.shield(task)

    def _start_fetch(self, reason: str) -> asyncio.Task[bool]:
        if self._inflight is None or self._inflight.done():
            self._attempted_at = self._clock()
            self._inflight = asyncio.get_running_loop().create_task(self._refresh(reason))
        return self._inflight

    async def _refresh(self, reason: str) -> bool:
        try:
            fresh = parse_jwks(await self._fetch())
        except Exception as exc:
            JWKS_FETCHES.labels(reason, "failed").inc()
            log.warning("JWKS fetch failed; keeping the cached keys", extra={"error": str(exc)})
            return False
        JWKS_FETCHES.labels(reason, "ok").inc()
        removed = set(self.keys) - set(fresh)
        changed = _raw(fresh) != _raw(self.keys)
        self.keys = fresh
        self._fetched_at = self._clock()
        if removed and self.on_keys_removed is not None:
            self.on_keys_removed(removed)
        return changed

    async def aclose(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._inflight


def _raw(keys: dict[str, Ed25519PublicKey]) -> dict[str, bytes]:
    return {kid: key.public_bytes_raw() for kid, key in keys.items()}
