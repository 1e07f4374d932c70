"""Keys of the Hytale emulator: Ed25519 session keys (JWKS, rotation) and the OAuth RS256 key."""

import base64
import secrets
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_kid() -> str:
    return "sess-" + secrets.token_hex(6)


@dataclass
class SessionKey:
    kid: str
    private: Ed25519PrivateKey
    published: bool = True  # listed in the JWKS

    def jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes_raw()
        return {
            "kty": "OKP",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "crv": "Ed25519",
            "x": _b64url(raw),
        }


@dataclass
class SessionKeyring:
    """The keys session tokens are signed with; the newest signs, the published verify."""

    keys: list[SessionKey] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.rotate(keep_old=True)

    @property
    def current(self) -> SessionKey:
        return self.keys[-1]

    def rotate(self, keep_old: bool) -> SessionKey:
        """A new signing key; the old ones stay published unless `keep_old` is False."""
        if not keep_old:
            for key in self.keys:
                key.published = False
        key = SessionKey(new_kid(), Ed25519PrivateKey.generate())
        self.keys.append(key)
        return key

    def find(self, kid: str | None) -> SessionKey | None:
        for key in self.keys:
            if key.published and key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        # A non-OKP key rides along: the JWKS may hold other kinds, clients skip them.
        rsa_decoy = {"kty": "RSA", "kid": "legacy-rsa", "use": "sig", "n": "AQAB", "e": "AQAB"}
        return {"keys": [k.jwk() for k in self.keys if k.published] + [rsa_decoy]}

    def sign(
        self,
        claims: dict,
        *,
        kid: str | None = None,
        key: Ed25519PrivateKey | None = None,
        with_kid: bool = True,
    ) -> str:
        """EdDSA JWT; `key`/`kid` override what a normal token would carry (for forgeries)."""
        signer = key or self.current.private
        headers = {"kid": kid or self.current.kid} if with_kid else {}
        return jwt.encode(claims, signer, algorithm="EdDSA", headers=headers)

    def verify(self, token: str, issuer: str) -> dict | None:
        """Claims of a token this emulator issued and still publishes a key for, else None."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        key = self.find(kid)
        if key is None:
            return None
        try:
            return jwt.decode(
                token,
                key.private.public_key(),
                algorithms=["EdDSA"],
                issuer=issuer,
                options={"verify_aud": False, "require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError:
            return None


class AccessTokenSigner:
    """Hydra-style RS256 access tokens (opaque to clients, verified only here)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.kid = "oauth-" + secrets.token_hex(4)
        self._key: RSAPrivateKey = generate_private_key(public_exponent=65537, key_size=2048)

    def issue(self, account_id: str, client_id: str, scope: str, ttl: int) -> tuple[str, str]:
        """(token, jti)."""
        now = int(time.time())
        jti = secrets.token_hex(16)
        claims = {
            "iss": self.issuer,
            "sub": account_id,
            "client_id": client_id,
            "scp": scope.split(),
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": jti,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        return token, jti

    def claims(self, token: str) -> dict | None:
        try:
            return jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], options={"verify_aud": False}
            )
        except jwt.PyJWTError:
            return None
