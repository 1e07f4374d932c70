from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from nodebyte_gateway.accounts.tokens import (
    CLOCK_SKEW_SECONDS,
    JwtKeys,
    KeyConfigError,
    TokenError,
    digest,
    generate_private_key_pem,
    load_private_key,
    load_public_keys,
    new_secret,
    thumbprint,
)


def keys(pem: str | None = None, *, ttl: int = 900, previous: list | None = None) -> JwtKeys:
    return JwtKeys(
        private_key=load_private_key(pem or generate_private_key_pem()),
        issuer="nodebyte",
        audience="nodebyte-api",
        access_ttl_seconds=ttl,
        previous=previous or [],
    )


def issue(k: JwtKeys) -> str:
    token, _ = k.issue_access(
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        email="a@b.co",
        roles=["ADMINISTRATOR"],
        permissions=["admin.*"],
    )
    return token


def test_issued_token_verifies_with_its_claims() -> None:
    k = keys()
    claims = k.verify_access(issue(k))
    assert claims.roles == ("ADMINISTRATOR",)
    assert claims.permissions == ("admin.*",)
    assert jwt.get_unverified_header(issue(k))["kid"] == k.kid


def test_another_key_signature_is_refused() -> None:
    with pytest.raises(TokenError):
        keys().verify_access(issue(keys()))


def test_same_key_elsewhere_verifies_same_kid() -> None:
    pem = generate_private_key_pem()
    assert keys(pem).verify_access(issue(keys(pem)))
    assert keys(pem).kid == keys(pem).kid


def test_expired_token_is_refused() -> None:
    k = keys(ttl=-120)  # already past the clock-skew allowance
    with pytest.raises(TokenError):
        k.verify_access(issue(k))


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    k = keys(ttl=60)
    token = issue(k)
    assert k.verify_access(token)  # verified, then remembered
    later = time.time() + 60 + CLOCK_SKEW_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError):
        k.verify_access(token)


def test_a_token_differing_from_a_remembered_one_is_verified_afresh() -> None:
    k = keys()
    token = issue(k)
    assert k.verify_access(token)
    head, body, signature = token.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged_claims["perms"] = ["*"]
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode()
    # A changed signature character in the middle (the last one may only carry padding bits).
    flipped = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]
    for forged in (f"{head}.{forged_body.rstrip('=')}.{signature}", f"{head}.{body}.{flipped}"):
        with pytest.raises(TokenError):
            k.verify_access(forged)


def _unsigned(claims: dict, header: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(claims)}."


def test_alg_none_and_hmac_confusion_are_refused() -> None:
    k = keys()
    claims = jwt.decode(issue(k), options={"verify_signature": False})
    with pytest.raises(TokenError):
        k.verify_access(_unsigned(claims, {"alg": "none", "kid": k.kid}))
    public_pem = (
        k.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    header = {"alg": "HS256", "kid": k.kid, "typ": "JWT"}
    body = _unsigned(claims, header)[:-1]
    signature = hmac.new(public_pem.encode(), body.encode(), hashlib.sha256).digest()
    forged = body + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    with pytest.raises(TokenError):
        k.verify_access(forged)


@pytest.mark.parametrize("field", ["aud", "iss"])
def test_wrong_audience_or_issuer_is_refused(field: str) -> None:
    pem = generate_private_key_pem()
    k = keys(pem)
    claims = jwt.decode(issue(k), options={"verify_signature": False})
    claims[field] = "someone-else"
    forged = jwt.encode(claims, load_private_key(pem), algorithm="EdDSA", headers={"kid": k.kid})
    with pytest.raises(TokenError):
        k.verify_access(forged)


def test_non_access_token_type_is_refused() -> None:
    pem = generate_private_key_pem()
    k = keys(pem)
    claims = jwt.decode(issue(k), options={"verify_signature": False})
    claims["typ"] = "refresh"
    forged = jwt.encode(claims, load_private_key(pem), algorithm="EdDSA", headers={"kid": k.kid})
    with pytest.raises(TokenError):
        k.verify_access(forged)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 9000])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(TokenError):
        keys().verify_access(token)


def test_rotation_keeps_verifying_the_previous_key_and_publishes_both() -> None:
    old_pem = generate_private_key_pem()
    old = keys(old_pem)
    old_public = (
        old.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    new = keys(previous=load_public_keys(old_public))
    assert new.verify_access(issue(old))
    assert {key["kid"] for key in new.jwks()["keys"]} == {new.kid, old.kid}
    assert all(set(key) == {"kty", "crv", "x", "kid", "alg", "use"} for key in new.jwks()["keys"])


def test_thumbprint_is_rfc7638() -> None:
    # RFC 8037 appendix A.3: the Ed25519 example key's thumbprint
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    key = jwt.PyJWK({**jwk, "alg": "EdDSA"}).key
    assert thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_key_configuration_errors_are_clear() -> None:
    with pytest.raises(KeyConfigError):
        load_private_key("not a pem")
    with pytest.raises(KeyConfigError):
        load_public_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
    escaped = generate_private_key_pem().replace("\n", "\\n")
    assert load_private_key(escaped)


def test_secrets_are_random_and_digested() -> None:
    a, b = new_secret("nbr_"), new_secret("nbr_")
    assert a != b
    assert a.startswith("nbr_")
    assert len(a) > 40
    assert digest(a) == digest(a)
    assert len(digest(a)) == 32
