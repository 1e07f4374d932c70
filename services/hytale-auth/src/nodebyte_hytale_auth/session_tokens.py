"""Validation of Hytale session and identity tokens: EdDSA JWTs signed by the session service.

A token is refused unless: it has three base64url parts; its header says EdDSA;
its key id is in the JWKS (one refetch for an unknown one, see `jwks`); the
Ed25519 signature verifies; `iss` is the session service; `aud` names us (when
an audience is configured); `sub` is a profile uuid; `iat`/`nbf` are not in the
future and `exp` not in the past, each with `leeway` seconds of clock skew;
`scope` includes `hytale:server`; and it is of the kind asked for (an identity
token carries a `profile` claim, a session token does not).

Cheap checks run before the signature, so garbage costs no verification. A
bounded cache of verified tokens, keyed by the whole token, answers a token seen
before without verifying it again, until its `exp`.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nodebyte_hytale_auth.jwks import JwksCache
from nodebyte_hytale_auth.metrics import TOKEN_VALIDATIONS

TokenKind = Literal["session", "identity"]
MAX_TOKEN_LENGTH = 8192
REQUIRED_SCOPE = "hytale:server"


class TokenRefused(Exception):
    code = "INVALID_TOKEN"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(TokenRefused):
    code = "EXPIRED_TOKEN"


class _Header(msgspec.Struct, gc=False):
    alg: str
    kid: str = ""
    typ: str = "JWT"


class _Claims(msgspec.Struct, gc=False):
    iss: str = ""
    sub: str = ""
    aud: str | list[str] | None = None
    exp: float | None = None
    iat: float | None = None
    nbf: float | None = None
    scope: str = ""
    profile: dict[str, Any] | None = None


class VerifiedToken(msgspec.Struct, frozen=True, gc=False):
    """What a valid token proved (a Struct: ten times cheaper to make than a frozen dataclass)."""

    kind: TokenKind
    subject: UUID
    issued_at: int
    expires_at: int
    kid: str
    username: str | None = None


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(_Claims)
_URLSAFE = bytes.maketrans(b"-_", b"+/")
HEADER_MEMO_SIZE = 64  # distinct headers are few: one per signing key


def _b64(part: bytes) -> bytes:
    """base64url without padding, strictly (binascii is twice as fast as the base64 module)."""
    return binascii.a2b_base64(part.translate(_URLSAFE) + b"=" * (-len(part) % 4), strict_mode=True)


def signing_kid(token: str) -> str:
    """The `kid` a token's header names, unverified ("" when it names none or is malformed)."""
    encoded = token.partition(".")[0].encode()
    try:
        return _header_decoder.decode(_b64(encoded)).kid
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        return ""


class TokenValidator:
    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: str = "",
        leeway: int = 60,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache_size = cache_size
        self._clock = clock
        self._verified: dict[str, VerifiedToken] = {}
        self._headers: dict[bytes, _Header] = {}  # every token of a key shares its header
        self._cached_hit = {
            k: TOKEN_VALIDATIONS.labels(k, "cached") for k in ("session", "identity")
        }
        self._valid = {k: TOKEN_VALIDATIONS.labels(k, "valid") for k in ("session", "identity")}

    async def validate(
        self, token: str, kind: TokenKind, *, subject: UUID | None = None
    ) -> VerifiedToken:
        """The token's verified facts, or TokenRefused (TokenExpired when only time failed)."""
        try:
            verified = self._verified.get(token)
            if verified is not None and verified.kind == kind:
                if self._clock() > verified.expires_at + self.leeway:
                    del self._verified[token]
                    raise TokenExpired("the token has expired")
                self._cached_hit[kind].inc()
            else:
                verified = await self._verify(token, kind)
                self._remember(token, verified)
                self._valid[kind].inc()
            if subject is not None and verified.subject != subject:
                raise TokenRefused("the token is for another profile")
            return verified
        except TokenRefused as exc:
            TOKEN_VALIDATIONS.labels(kind, exc.code.lower()).inc()
            raise

    def forget_keys(self, kids: Iterable[str]) -> None:
        """Drop verified tokens signed by keys the JWKS no longer lists."""
        gone = set(kids)
        self._verified = {t: v for t, v in self._verified.items() if v.kid not in gone}

    def _remember(self, token: str, verified: VerifiedToken) -> None:
        if self.cache_size <= 0:
            return
        if len(self._verified) >= self.cache_size:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = verified

    async def _verify(self, token: str, kind: TokenKind) -> VerifiedToken:
        header, claims, signing_input, signature = self._parse(token)
        subject = self._check_claims(claims, kind)
        key = self.jwks.cached(header.kid) or await self.jwks.key(header.kid)
        if key is None:
            raise TokenRefused("the token is signed by an unknown key")
        if not _signature_ok(key, signature, signing_input):
            # The key behind a kid may have changed: one (rate-limited) refetch.
            if not await self.jwks.refetch_if_allowed("bad_signature"):
                raise TokenRefused("the signature does not verify")
            key = self.jwks.cached(header.kid)
            if key is None or not _signature_ok(key, signature, signing_input):
                raise TokenRefused("the signature does not verify")
        username = (claims.profile or {}).get("username")
        return VerifiedToken(
            kind, subject, int(claims.iat or 0), int(claims.exp or 0), header.kid, username
        )

    def _parse(self, token: str) -> tuple[_Header, _Claims, bytes, bytes]:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2 or not token.isascii():
            raise TokenRefused("the token is not a JWT")
        raw = token.encode()
        first = raw.index(b".")
        second = raw.index(b".", first + 1)
        try:
            header = self._header(raw[:first])
            claims = _claims_decoder.decode(_b64(raw[first + 1 : second]))
            signature = _b64(raw[second + 1 :])
        except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
            raise TokenRefused("the token is malformed") from None
        if len(signature) != 64:
            raise TokenRefused("the token is not an EdDSA JWT")
        return header, claims, raw[:second], signature

    def _header(self, encoded: bytes) -> _Header:
        header = self._headers.get(encoded)
        if header is None:
            header = _header_decoder.decode(_b64(encoded))
            if header.alg != "EdDSA" or header.typ.upper() != "JWT":
                raise TokenRefused("the token is not an EdDSA JWT")
            if len(self._headers) >= HEADER_MEMO_SIZE:
                self._headers.clear()
            self._headers[encoded] = header
        return header

    def _check_claims(self, claims: _Claims, kind: TokenKind) -> UUID:
        if claims.iss != self.issuer:
            raise TokenRefused("the token was issued by someone else")
        if self.audience and not _names(claims.aud, self.audience):
            raise TokenRefused("the token is meant for another audience")
        if REQUIRED_SCOPE not in claims.scope.split():
            raise TokenRefused("the token lacks the hytale:server scope")
        if (claims.profile is not None) != (kind == "identity"):
            raise TokenRefused(f"the token is not a {kind} token")
        if claims.exp is None or claims.iat is None:
            raise TokenRefused("the token lacks exp or iat")
        now = self._clock()
        if claims.iat > now + self.leeway or (claims.nbf or 0) > now + self.leeway:
            raise TokenRefused("the token is not valid yet")
        if now > claims.exp + self.leeway:
            raise TokenExpired("the token has expired")
        try:
            return UUID(claims.sub)
        except ValueError:
            raise TokenRefused("the token's subject is not a profile id") from None


def _names(aud: str | list[str] | None, wanted: str) -> bool:
    return aud == wanted if isinstance(aud, str) else bool(aud) and wanted in aud  # type: ignore[operator]


def _signature_ok(key: Ed25519PublicKey, signature: bytes, signing_input: bytes) -> bool:
    try:
        key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True
