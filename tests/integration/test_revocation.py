"""A revoked session, a password change or a demotion takes effect within
seconds on every gateway replica, and an API key never holds more than its
creator holds now. Each change is made through one replica and the old
credential is tried on another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser, sign_in
from nodebyte_devstack.processes import Stack

WITHIN_SECONDS = 6.0  # the gateway remembers a session's state for 2 s


@pytest.fixture(scope="module")
def replica_port(stack: Stack) -> AsyncIterator[int]:
    port = stack.start_extra_replica("gateway")
    yield port
    stack.kill(f"gateway-replica-{port}")


@pytest.fixture
async def replica(replica_port: int) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{replica_port}", timeout=20) as c:
        yield c


async def refused_within(ask: Callable[[], Awaitable[httpx.Response]], status: int = 401) -> float:
    """Seconds until `ask` answers `status` (fails past WITHIN_SECONDS)."""
    started = time.monotonic()
    while True:
        response = await ask()
        if response.status_code == status:
            return time.monotonic() - started
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < WITHIN_SECONDS, "the old credential still works"
        await asyncio.sleep(0.25)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_ends_the_access_token(
    anonymous: httpx.AsyncClient, replica: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    me = lambda: replica.get("/api/v1/auth/me", headers=member_user.headers)  # noqa: E731
    assert (await me()).status_code == 200
    out = await anonymous.post(
        "/api/v1/auth/logout", json={"refreshToken": member_user.refresh_token}
    )
    assert out.status_code == 200
    await refused_within(me)


async def test_refresh_token_reuse_ends_every_access_token_of_the_session(
    anonymous: httpx.AsyncClient, replica: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    rotated = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    newer = rotated.json()["data"]["accessToken"]
    assert (await replica.get("/api/v1/auth/me", headers=bearer(newer))).status_code == 200
    reused = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert reused.status_code == 401
    for token in (member_user.access_token, newer):
        await refused_within(lambda t=token: replica.get("/api/v1/auth/me", headers=bearer(t)))


async def test_a_password_change_ends_the_other_sessions(
    anonymous: httpx.AsyncClient, replica: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    elsewhere = await sign_in(anonymous, member_user.email, member_user.password)
    other = bearer(elsewhere["accessToken"])
    changed = await anonymous.put(
        "/api/v1/dashboard/account/password",
        json={
            "currentPassword": member_user.password,
            "newPassword": member_user.password + "-new",
            "confirmPassword": member_user.password + "-new",
        },
        headers=member_user.headers,
    )
    assert changed.status_code == 200, changed.text
    await refused_within(lambda: replica.get("/api/v1/auth/me", headers=other))
    # the session that changed the password goes on
    assert (await replica.get("/api/v1/auth/me", headers=member_user.headers)).status_code == 200


async def test_a_demoted_user_loses_the_permissions_at_once(
    gateway: httpx.AsyncClient, replica: httpx.AsyncClient, user_factory
) -> None:
    administrator = await user_factory(["ADMINISTRATOR"])
    servers = lambda: replica.get("/api/servers", headers=administrator.headers)  # noqa: E731
    assert (await servers()).status_code == 200
    demoted = await gateway.post(
        "/api/admin/users/roles", json={"userId": administrator.id, "roles": ["MEMBER"]}
    )
    assert demoted.status_code == 200, demoted.text
    await refused_within(servers, status=403)
    me = await replica.get("/api/v1/auth/me", headers=administrator.headers)
    assert me.json()["data"]["user"]["permissions"] == []


async def test_an_api_key_never_holds_more_than_its_creator_now(
    gateway: httpx.AsyncClient, replica: httpx.AsyncClient, user_factory
) -> None:
    administrator = await user_factory(["ADMINISTRATOR"])
    created = await gateway.post(
        "/api/admin/api-keys",
        json={"name": "creator-bound", "scopes": ["admin.read", "sync.read"]},
        headers=administrator.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["creatorUserId"] == administrator.id
    key = {"X-API-Key": created.json()["data"]["key"]}
    settings = lambda: replica.get("/api/admin/settings", headers=key)  # noqa: E731
    assert (await settings()).status_code == 200
    # TECH_TEAM keeps sync.read but not admin.read: the key keeps only what both hold
    demoted = await gateway.post(
        "/api/admin/users/roles", json={"userId": administrator.id, "roles": ["TECH_TEAM"]}
    )
    assert demoted.status_code == 200, demoted.text
    await refused_within(settings, status=403)
    assert (await replica.get("/api/v1/sync/logs", headers=key)).status_code == 200
    # nor can the key mint one wider than its creator now holds
    minted = await replica.post(
        "/api/admin/api-keys", json={"name": "wider", "scopes": ["admin.read"]}, headers=key
    )
    assert minted.status_code == 403
