"""Session and identity token validation through the gateway, against the emulator's JWKS."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from nodebyte_devstack.waiting import eventually

VALIDATE = "/api/v1/hytale/tokens/validate"


async def mint(hytale: httpx.AsyncClient, **bent: Any) -> str:
    response = await hytale.post("/_emulator/tokens", json=bent)
    assert response.status_code == 201, response.text
    return response.json()["token"]


async def check(gateway: httpx.AsyncClient, token: str, kind: str = "session") -> httpx.Response:
    return await gateway.post(VALIDATE, json={"token": token, "type": kind})


async def jwks_fetches(hytale: httpx.AsyncClient) -> int:
    return (await hytale.get("/_emulator/stats")).json()["paths"].get("/.well-known/jwks.json", 0)


async def test_a_genuine_token_is_accepted(
    gateway: httpx.AsyncClient, hytale: httpx.AsyncClient
) -> None:
    subject = str(uuid.uuid4())
    accepted = await check(gateway, await mint(hytale, sub=subject))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["subject"] == subject
    identity = await check(gateway, await mint(hytale, type="identity"), "identity")
    assert identity.json()["data"]["username"] == "minted"
    skewed = await check(gateway, await mint(hytale, exp_in=-30))  # within the 60 s leeway
    assert skewed.status_code == 200, skewed.text


REFUSED = [
    ("forged signature", {"forged": True}, "INVALID_TOKEN"),
    ("expired", {"exp_in": -120}, "EXPIRED_TOKEN"),
    ("wrong audience", {"aud": "another-client"}, "INVALID_TOKEN"),
    ("unknown kid", {"kid": "sess-unknown"}, "INVALID_TOKEN"),
    ("wrong issuer", {"iss": "https://sessions.example.org"}, "INVALID_TOKEN"),
    ("issued in the future", {"iat_in": 600}, "INVALID_TOKEN"),
    ("without the server scope", {"scope": "openid"}, "INVALID_TOKEN"),
    ("subject not a profile id", {"sub": "admin"}, "INVALID_TOKEN"),
    ("identity token used as a session token", {"type": "identity"}, "INVALID_TOKEN"),
]


@pytest.mark.parametrize(("name", "bent", "code"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_a_bent_token_is_refused(
    gateway: httpx.AsyncClient, hytale: httpx.AsyncClient, name: str, bent: dict, code: str
) -> None:
    refused = await check(gateway, await mint(hytale, **bent))
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == code


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "e30.e30.", "x" * 9000])
async def test_garbage_is_refused_not_crashed_on(gateway: httpx.AsyncClient, garbage: str) -> None:
    response = await check(gateway, garbage)
    assert response.status_code in (400, 401), response.text
    assert response.json()["success"] is False


async def test_rotated_keys_are_picked_up_and_unknown_kids_cannot_hammer_the_jwks(
    gateway: httpx.AsyncClient, hytale: httpx.AsyncClient
) -> None:
    old = await mint(hytale)
    assert (await check(gateway, old)).status_code == 200
    await hytale.post("/_emulator/keys/rotate", json={"keep_old": True})
    new = await mint(hytale)

    async def accepted(token: str) -> bool:
        return (await check(gateway, token)).status_code == 200

    await eventually(lambda: accepted(new), timeout=15, interval=0.5)
    assert await accepted(old)  # the old key is still published

    await asyncio.sleep(2.5)  # past the refetch interval of the stack (2 s)
    before = await jwks_fetches(hytale)
    flood = [await mint(hytale, kid=f"sess-{uuid.uuid4().hex[:12]}") for _ in range(20)]
    answers = await asyncio.gather(*(check(gateway, token) for token in flood))
    assert {a.status_code for a in answers} == {401}
    assert await jwks_fetches(hytale) - before <= 2

    await hytale.post("/_emulator/keys/rotate", json={"keep_old": False})
    newest = await mint(hytale)
    await eventually(lambda: accepted(newest), timeout=15, interval=0.5)
    refused = await check(gateway, old)  # its key left the JWKS: no longer valid, cached or not
    assert refused.status_code == 401
