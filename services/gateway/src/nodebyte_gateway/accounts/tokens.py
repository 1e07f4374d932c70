"""Access JWTs (EdDSA, Ed25519) and opaque one-time secrets.

Access tokens are short-lived and carry the user's roles and resolved
permissions; they are always verified: signature (EdDSA only, by `kid`),
issuer, audience, expiry. The signing key comes from `JWT_PRIVATE_KEY` (PEM);
public keys of retired signing keys (`JWT_PREVIOUS_PUBLIC_KEYS`) keep verifying
during a rotation and are published in the JWKS. A key's `kid` is its RFC 7638
thumbprint, so every replica names the same key the same way.

A token that verified is remembered (its exact bytes, signature included) with
its claims until it expires, so a client's next requests with it cost a dict
look-up instead of an Ed25519 verification and two base64/JSON parses: that
was a third of the gateway's CPU on the Bearer path. Only the expiry is
checked again; whether the session is still live is never cached here (see
`live_sessions`). The verifying keys never change in a running process.

Opaque secrets (refresh tokens, email links, API keys) are 256-bit random
strings; only their SHA-256 is stored, which suffices for secrets that cannot
be guessed from a dictionary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
MAX_TOKEN_LENGTH = 8192
CLOCK_SKEW_SECONDS = 30
VERIFIED_TOKENS_KEPT = 10_000  # ~1 KB each; the oldest goes first
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


class TokenError(ValueError):
    """A token that is malformed, forged, expired or not meant for us."""


class KeyConfigError(ValueError):
    """The configured signing key cannot be used."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members, sorted, no spaces."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _pem_text(value: str) -> str:
    # .env files often hold a PEM on one line with literal "\n"
    return value.replace("\\n", "\n").strip()


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem_text(pem).encode(), password=None)
    except (ValueError, TypeError):
        raise KeyConfigError("JWT_PRIVATE_KEY is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigError("JWT_PRIVATE_KEY must be an Ed25519 key")
    return key


def load_public_keys(pems: str) -> list[Ed25519PublicKey]:
    keys: list[Ed25519PublicKey] = []
    for block in _PEM_BLOCK.findall(_pem_text(pems)):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError:
            raise KeyConfigError("JWT_PREVIOUS_PUBLIC_KEYS holds a malformed key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyConfigError("JWT_PREVIOUS_PUBLIC_KEYS must hold Ed25519 keys")
        keys.append(key)
    return keys


def generate_private_key_pem() -> str:
    """A new Ed25519 signing key as PKCS#8 PEM (dev stacks, tests, key rotation)."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    email: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    expires_at: int


@dataclass
class JwtKeys:
    private_key: Ed25519PrivateKey
    issuer: str
    audience: str
    access_ttl_seconds: int
    previous: list[Ed25519PublicKey] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kid = thumbprint(self.private_key.public_key())
        self._verifying = {self.kid: self.private_key.public_key()}
        for key in self.previous:
            self._verifying.setdefault(thumbprint(key), key)
        self._verified: dict[str, AccessClaims] = {}

    def issue_access(
        self,
        *,
        user_id: UUID,
        session_id: UUID,
        email: str,
        roles: list[str],
        permissions: list[str],
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl_seconds,
            "jti": secrets.token_hex(12),
            "typ": "access",
            "email": email,
            "roles": roles,
            "perms": permissions,
        }
        token = jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, self.access_ttl_seconds

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims.expires_at <= time.time() - CLOCK_SKEW_SECONDS:  # as pyjwt judges `exp`
            self._verified.pop(token, None)
            raise TokenError("Signature has expired")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token too long")
        try:
            kid = jwt.get_unverified_header(token).get("kid")  # only to pick the key
            key = self._verifying.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenError("unknown signing key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "sid"]},
            )
            return _access_claims(claims)
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk(kid, key) for kid, key in self._verifying.items()]}


def _access_claims(claims: dict[str, Any]) -> AccessClaims:
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    try:
        return AccessClaims(
            user_id=UUID(claims["sub"]),
            session_id=UUID(claims["sid"]),
            email=str(claims.get("email", "")),
            roles=tuple(str(r) for r in claims.get("roles", [])),
            permissions=tuple(str(p) for p in claims.get("perms", [])),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError, KeyError):
        raise TokenError("malformed claims") from None


def _jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(key)),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
