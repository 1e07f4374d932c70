"""AES-256-GCM sealing of secrets at rest, with key ids so keys can rotate.

A sealed value is `nbs1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. New
values are sealed with the current key; any configured key opens old ones, so
rotating is: add the new key, make it current, re-seal at leisure, drop the old.

Keys come from `ENCRYPTION_KEYS` = "kid1:<64 hex chars>,kid2:<64 hex>" and
`ENCRYPTION_KEY_ID` names the current one (default: the first listed).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nodebyte_common.settings import CommonSettings, SettingsError

PREFIX = "nbs1"
NONCE_BYTES = 12


class SealingError(ValueError):
    """A key is malformed, unknown, or a sealed value does not open."""


def parse_keys(spec: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, _, hex_key = item.partition(":")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            raise SealingError(f"encryption key {kid!r} is not hex") from None
        if len(key) != 32 or not kid or "." in kid:
            raise SealingError(
                f"encryption key {kid!r} must be 32 bytes (64 hex) with a dot-free id"
            )
        keys[kid] = key
    if not keys:
        raise SealingError("no encryption key configured (ENCRYPTION_KEYS)")
    return keys


class Sealer:
    def __init__(self, keys: dict[str, bytes], current: str | None = None) -> None:
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current or next(iter(keys))
        if self.current not in self._ciphers:
            raise SealingError(f"current encryption key {self.current!r} is not configured")

    @classmethod
    def from_settings(cls, keys_spec: str, current: str = "") -> Sealer:
        return cls(parse_keys(keys_spec), current or None)

    def seal(self, plaintext: str, context: str = "") -> str:
        """Encrypt; `context` (e.g. "webhook:<id>") is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, plaintext.encode(), context.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}.{self.current}.{blob}"

    def open(self, sealed: str, context: str = "") -> str:
        try:
            prefix, kid, blob = sealed.split(".", 2)
        except ValueError:
            raise SealingError("not a sealed value") from None
        cipher = self._ciphers.get(kid)
        if prefix != PREFIX or cipher is None:
            raise SealingError(f"sealed with an unknown key {kid!r}")
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise SealingError("sealed value does not open (wrong key or context)") from None

    def key_id_of(self, sealed: str) -> str:
        return sealed.split(".", 2)[1]


def optional_sealer(settings: CommonSettings) -> Sealer | None:
    """The sealer of ENCRYPTION_KEYS and ENCRYPTION_KEY (current key ENCRYPTION_KEY_ID);
    None when neither is set.

    A malformed value is a SettingsError naming the variable, raised at start.
    """
    if not settings.sealing_keys:
        return None
    try:
        return Sealer.from_settings(settings.sealing_keys, settings.encryption_key_id)
    except SealingError as exc:
        raise SettingsError(
            f"environment variable ENCRYPTION_KEYS or ENCRYPTION_KEY is invalid: {exc}"
        ) from None


def required_sealer(settings: CommonSettings) -> Sealer:
    """As `optional_sealer`, for a service that cannot run without the keys."""
    sealer = optional_sealer(settings)
    if sealer is None:
        raise SettingsError("environment variable ENCRYPTION_KEYS is required but not set")
    return sealer


def mask(secret: str | None, visible: int = 4) -> str | None:
    """What a response may show of a secret: its last few characters at most."""
    if not secret:
        return secret
    if len(secret) <= visible * 2:
        return "••••"
    return "••••" + secret[-visible:]
