"""Abuse limits of the account flows: per address and per account, a junk
credential buys nothing, a progressive lockout with an emailed unlock link, and
forgot-password / magic-link mail a few times an hour and answer alike."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser, new_email
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

AUTH_ROUTES = {
    "/api/v1/auth/login": lambda: {"email": new_email(), "password": "Wrong-pass-1"},
    "/api/v1/auth/validate": lambda: {"email": new_email(), "password": "Wrong-pass-1"},
    "/api/v1/auth/register": lambda: {"email": new_email(), "password": "x"},
    "/api/v1/auth/forgot-password": lambda: {"email": new_email()},
    "/api/v1/auth/magic-link": lambda: {"email": new_email()},
    "/api/v1/auth/reset-password": lambda: {"token": "t" * 40, "password": "Str0ng-pass!x"},
    "/api/v1/auth/verify-email": lambda: {"token": "t" * 40},
}


_ADDRESSES = itertools.count()  # 198.51.100.0/24 is for documentation: no host has it


def address() -> str:
    """A client address of its own behind the trusted proxy (only ever a header)."""
    n = next(_ADDRESSES)
    assert n < 250, "the tests of this module ran out of addresses"
    return f"198.51.100.{n + 1}"


@pytest.fixture(scope="module")
def limited_gateway(stack: Stack) -> Any:
    """A gateway replica with the production limits of the account flows."""
    # The production counts over a longer window, so no token refills during a test.
    limits = "auth=10/600,account=10/600,mail=3/3600"
    env = {"RATE_LIMITS": limits, "TRUSTED_PROXIES": "127.0.0.1/32"}
    port = stack.start_extra_replica("gateway", env)
    yield f"http://127.0.0.1:{port}"
    stack.kill(f"gateway-replica-{port}")


@pytest.fixture
async def limited(limited_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_gateway, timeout=20) as client:
        yield client


@pytest.fixture
async def mail(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.url("mail"), timeout=10) as client:
        yield client


async def until_limited(
    client: httpx.AsyncClient, path: str, body: Callable[[], dict], headers: dict[str, str]
) -> list[int]:
    statuses = []
    for _ in range(13):
        response = await client.post(path, json=body(), headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == "RATE_LIMITED"
            assert int(response.headers["retry-after"]) >= 1
    return statuses


@pytest.mark.parametrize("path", list(AUTH_ROUTES))
async def test_each_account_flow_is_limited_per_address(
    limited: httpx.AsyncClient, path: str
) -> None:
    statuses = await until_limited(limited, path, AUTH_ROUTES[path], {"X-Forwarded-For": address()})
    assert 429 not in statuses[:10], statuses
    assert statuses[10:] == [429, 429, 429], statuses


@pytest.mark.parametrize(
    "key",
    [lambda: "nbk_junk_key_for_limits", lambda: "nbk_" + secrets.token_hex(8)],
    ids=["one junk key", "a new junk key each time"],
)
async def test_a_junk_key_never_raises_the_anonymous_limit(
    limited: httpx.AsyncClient, key: Callable[[], str]
) -> None:
    path = "/api/v1/auth/login"
    client_address = address()
    statuses = []
    for _ in range(13):
        headers = {"X-Forwarded-For": client_address, "X-API-Key": key()}
        response = await limited.post(path, json=AUTH_ROUTES[path](), headers=headers)
        statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429] * 3, statuses


async def test_an_account_is_limited_across_addresses(limited: httpx.AsyncClient) -> None:
    email = new_email("target")
    statuses = []
    for _ in range(12):  # a botnet: every request from another address
        headers = {"X-Forwarded-For": f"203.0.113.{secrets.randbelow(250) + 1}"}
        response = await limited.post(
            "/api/v1/auth/forgot-password", json={"email": email}, headers=headers
        )
        statuses.append(response.status_code)
    assert statuses == [200] * 10 + [429] * 2, statuses


async def unlock_link(mail: httpx.AsyncClient, to: str, count: int) -> str:
    async def arrived() -> list[dict] | None:
        found = (await mail.get("/_emulator/messages", params={"to": to})).json()
        unlocks = [m for m in found if "unlock" in m["text"]]
        return unlocks if len(unlocks) >= count else None

    messages = await eventually(arrived, timeout=30)
    match = re.search(r"https?://\S+/auth/unlock\?token=(\S+)", messages[-1]["text"])
    assert match, messages[-1]["text"]
    return match.group(1)


async def fail_until_locked(client: httpx.AsyncClient, email: str) -> httpx.Response:
    wrong = {"email": email, "password": "Not-the-password-1"}
    for _ in range(4):
        response = await client.post("/api/v1/auth/login", json=wrong)
        assert response.status_code == 401, response.text
    response = await client.post("/api/v1/auth/login", json=wrong)
    assert response.status_code == 423, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "ACCOUNT_LOCKED"
    assert body["details"]["lockedUntil"]
    assert int(response.headers["retry-after"]) == body["details"]["retryAfter"]
    return response


async def test_failed_logins_lock_the_account_until_its_owner_unlocks_it(
    user_factory: Callable[..., Awaitable[SignedInUser]],
    anonymous: httpx.AsyncClient,
    mail: httpx.AsyncClient,
) -> None:
    user = await user_factory(["MEMBER"])
    right = {"email": user.email, "password": user.password}
    first = await fail_until_locked(anonymous, user.email)
    assert 50 <= first.json()["details"]["retryAfter"] <= 60

    # Locked: the right password is refused too, and so is the credentials check.
    assert (await anonymous.post("/api/v1/auth/login", json=right)).status_code == 423
    assert (await anonymous.post("/api/v1/auth/validate", json=right)).status_code == 423

    token = await unlock_link(mail, user.email, 1)
    unlocked = await anonymous.post("/api/v1/auth/unlock", json={"token": token})
    assert unlocked.status_code == 200, unlocked.text
    assert (await anonymous.post("/api/v1/auth/unlock", json={"token": token})).status_code == 400
    assert (await anonymous.post("/api/v1/auth/login", json=right)).status_code == 200

    # A correct sign-in starts the count afresh; the next lockout after an unlock is longer.
    for _ in range(4):
        await anonymous.post("/api/v1/auth/login", json={**right, "password": "Wrong-1-pass"})
    assert (await anonymous.post("/api/v1/auth/login", json=right)).status_code == 200
    await fail_until_locked(anonymous, user.email)
    token = await unlock_link(mail, user.email, 2)
    await anonymous.post("/api/v1/auth/unlock", json={"token": token})
    longer = await fail_until_locked(anonymous, user.email)
    assert longer.json()["details"]["retryAfter"] > 90


async def test_an_unknown_address_locks_alike_and_nobody_is_mailed(
    anonymous: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    email = new_email("nobody")
    await fail_until_locked(anonymous, email)
    assert (await mail.get("/_emulator/messages", params={"to": email})).json() == []


async def test_reset_and_magic_links_mail_an_address_a_few_times_an_hour(
    user_factory: Callable[..., Awaitable[SignedInUser]],
    limited: httpx.AsyncClient,
    mail: httpx.AsyncClient,
) -> None:
    user = await user_factory(["MEMBER"])
    for path in ["/api/v1/auth/forgot-password", "/api/v1/auth/magic-link"] * 4:
        headers = {"X-Forwarded-For": address()}
        response = await limited.post(path, json={"email": user.email}, headers=headers)
        assert response.status_code == 200, response.text

    async def inbox() -> list[dict]:
        return (await mail.get("/_emulator/messages", params={"to": user.email})).json()

    await eventually(lambda: _at_least(inbox, 3), timeout=30)
    await asyncio.sleep(2)  # what would come late has come
    subjects = [m["subject"] for m in await inbox()]
    assert len(subjects) == 3, subjects
    assert any("sign-in" in s for s in subjects) or any("password" in s for s in subjects)


async def _at_least(inbox: Callable[[], Awaitable[list[dict]]], count: int) -> bool:
    return len(await inbox()) >= count


@pytest.mark.parametrize("path", ["/api/v1/auth/forgot-password", "/api/v1/auth/magic-link"])
async def test_known_and_unknown_addresses_answer_alike_and_as_fast(
    member_user: SignedInUser, anonymous: httpx.AsyncClient, path: str
) -> None:
    unknown = new_email("nobody")
    answers: dict[str, list[bytes]] = {"known": [], "unknown": []}
    seconds: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(25):
        for kind, email in (("known", member_user.email), ("unknown", unknown)):
            started = time.perf_counter()
            response = await anonymous.post(path, json={"email": email})
            seconds[kind].append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            answers[kind].append(response.content)
    assert set(answers["known"]) == set(answers["unknown"])
    assert len(set(answers["known"])) == 1
    known, unknown_ = (statistics.median(seconds[k]) for k in ("known", "unknown"))
    assert abs(known - unknown_) < 0.002 + 0.1 * min(known, unknown_), (known, unknown_)
