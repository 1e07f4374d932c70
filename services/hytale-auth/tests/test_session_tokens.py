"""The session token validator and its JWKS cache, with a controlled clock and key server."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nodebyte_hytale_auth.jwks import JwksCache, parse_jwks
from nodebyte_hytale_auth.session_tokens import TokenExpired, TokenRefused, TokenValidator

ISSUER = "https://sessions.hytale.com"
AUDIENCE = "hytale-server"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class KeyServer:
    """A JWKS endpoint stand-in: counts fetches, can rotate and fail."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {"k1": Ed25519PrivateKey.generate()}
        self.fetches = 0
        self.failing = False

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.failing:
            raise ConnectionError("down")
        return {"keys": [_jwk(kid, key) for kid, key in self.keys.items()]}

    def sign(self, kid: str = "k1", key: Ed25519PrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 3600,
            "scope": "hytale:server",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.keys[kid], algorithm="EdDSA", headers={"kid": kid})


def _jwk(kid: str, key: Ed25519PrivateKey) -> dict[str, str]:
    x = base64.urlsafe_b64encode(key.public_key().public_bytes_raw()).decode().rstrip("=")
    return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": x}


@pytest.fixture
def server() -> KeyServer:
    return KeyServer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def validator(server: KeyServer, clock: Clock) -> TokenValidator:
    jwks = JwksCache(server.fetch, ttl=3600, min_refetch=30, clock=clock)
    made = TokenValidator(jwks, issuer=ISSUER, audience=AUDIENCE, leeway=60, clock=clock)
    jwks.on_keys_removed = made.forget_keys
    return made


async def test_a_genuine_token_is_verified_once_then_served_from_the_cache(
    validator: TokenValidator, server: KeyServer
) -> None:
    subject = uuid.uuid4()
    token = server.sign(sub=str(subject))
    first = await validator.validate(token, "session", subject=subject)
    assert first.subject == subject
    assert first.kind == "session"
    assert await validator.validate(token, "session") is first  # the cache answered
    assert server.fetches == 1
    with pytest.raises(TokenRefused, match="another profile"):
        await validator.validate(token, "session", subject=uuid.uuid4())


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://sessions.example.org"}, "issued by someone else"),
        ({"aud": "someone"}, "another audience"),
        ({"aud": ["a", "b"]}, "another audience"),
        ({"scope": "openid"}, "hytale:server"),
        ({"sub": "admin"}, "not a profile id"),
        ({"exp": None}, "lacks exp"),
        ({"iat": int(time.time()) + 600}, "not valid yet"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"profile": {"username": "x"}}, "not a session token"),
    ],
)
async def test_claims_are_checked(
    validator: TokenValidator, server: KeyServer, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenRefused, match=reason):
        await validator.validate(server.sign(**claims), "session")


async def test_an_audience_list_naming_us_is_accepted(
    validator: TokenValidator, server: KeyServer
) -> None:
    await validator.validate(server.sign(aud=["other", AUDIENCE]), "session")


async def test_identity_tokens_are_told_apart(validator: TokenValidator, server: KeyServer) -> None:
    token = server.sign(profile={"username": "Steve", "entitlements": []})
    assert (await validator.validate(token, "identity")).username == "Steve"
    with pytest.raises(TokenRefused, match="not a session token"):
        await validator.validate(token, "session")
    with pytest.raises(TokenRefused, match="not a identity token"):
        await validator.validate(server.sign(), "identity")


async def test_expiry_honours_the_leeway_and_the_cache_honours_expiry(
    validator: TokenValidator, server: KeyServer, clock: Clock
) -> None:
    now = int(clock.now)
    await validator.validate(server.sign(exp=now - 30), "session")  # within 60 s of skew
    with pytest.raises(TokenExpired):
        await validator.validate(server.sign(exp=now - 90), "session")
    token = server.sign(exp=now + 10)
    await validator.validate(token, "session")
    clock.now += 71
    with pytest.raises(TokenExpired):
        await validator.validate(token, "session")  # cached, but no longer valid


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "e30.e30.", "a.b.c.d", "x" * 9000, "eyJhbGciOiJub25lIn0.e30."],
)
async def test_malformed_tokens_are_refused(validator: TokenValidator, token: str) -> None:
    with pytest.raises(TokenRefused):
        await validator.validate(token, "session")


async def test_other_algorithms_are_refused(validator: TokenValidator) -> None:
    hs = jwt.encode({"iss": ISSUER, "sub": str(uuid.uuid4())}, "k" * 32, algorithm="HS256")
    with pytest.raises(TokenRefused, match="EdDSA"):
        await validator.validate(hs, "session")


async def test_a_forged_signature_is_refused_with_at_most_one_refetch(
    validator: TokenValidator, server: KeyServer, clock: Clock
) -> None:
    await validator.validate(server.sign(), "session")
    forged = [server.sign(key=Ed25519PrivateKey.generate()) for _ in range(5)]
    clock.now += 31
    for token in forged:
        with pytest.raises(TokenRefused, match="signature"):
            await validator.validate(token, "session")
    assert server.fetches == 2  # the first load, then one refetch for all five


async def test_an_unknown_kid_refetches_once_and_finds_a_rotated_key(
    validator: TokenValidator, server: KeyServer, clock: Clock
) -> None:
    await validator.validate(server.sign(), "session")
    server.keys["k2"] = Ed25519PrivateKey.generate()
    clock.now += 31
    assert (await validator.validate(server.sign("k2"), "session")).kid == "k2"
    assert server.fetches == 2
    ghosts = [server.sign("ghost", key=Ed25519PrivateKey.generate()) for _ in range(50)]
    results = await asyncio.gather(
        *(validator.validate(t, "session") for t in ghosts), return_exceptions=True
    )
    assert all(isinstance(r, TokenRefused) for r in results)
    assert server.fetches == 2  # within min_refetch: no fetch for any of them
    clock.now += 31
    concurrent = await asyncio.gather(
        *(validator.validate(t, "session") for t in ghosts), return_exceptions=True
    )
    assert all(isinstance(r, TokenRefused) for r in concurrent)
    assert server.fetches == 3  # one shared refetch


async def test_a_removed_key_invalidates_tokens_it_signed_even_cached(
    validator: TokenValidator, server: KeyServer, clock: Clock
) -> None:
    old = server.sign()
    await validator.validate(old, "session")
    server.keys = {"k2": Ed25519PrivateKey.generate()}
    clock.now += 31
    await validator.validate(server.sign("k2"), "session")
    with pytest.raises(TokenRefused):
        await validator.validate(old, "session")


async def test_keys_refresh_hourly_in_the_background_and_survive_a_failed_fetch(
    validator: TokenValidator, server: KeyServer, clock: Clock
) -> None:
    token = server.sign()
    await validator.validate(token, "session")
    clock.now += 3601
    server.failing = True
    other = server.sign()
    await validator.validate(other, "session")  # stale keys still serve
    await asyncio.sleep(0.01)
    assert server.fetches == 2  # the background refresh was tried
    for _ in range(20):
        await validator.validate(server.sign(), "session")
        await asyncio.sleep(0)
    assert server.fetches == 2  # a failed refresh is not retried in a tight loop
    clock.now += 31
    server.failing = False
    await validator.validate(server.sign(), "session")
    await asyncio.sleep(0.01)
    assert server.fetches == 3


async def test_the_cache_is_bounded(server: KeyServer, clock: Clock) -> None:
    jwks = JwksCache(server.fetch, clock=clock)
    small = TokenValidator(jwks, issuer=ISSUER, audience=AUDIENCE, cache_size=3, clock=clock)
    tokens = [server.sign() for _ in range(5)]
    for token in tokens:
        await small.validate(token, "session")
    assert len(small._verified) == 3


def test_jwks_parsing_keeps_only_ed25519_signing_keys() -> None:
    key = Ed25519PrivateKey.generate()
    document = {
        "keys": [
            _jwk("good", key),
            {**_jwk("enc", key), "use": "enc"},
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "bad", "x": "not-base64-of-32-bytes"},
            "junk",
        ]
    }
    assert list(parse_jwks(document)) == ["good"]
