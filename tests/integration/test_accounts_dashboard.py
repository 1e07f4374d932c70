"""`/api/v1/dashboard/account*`: a signed-in user's own profile and password."""

from __future__ import annotations

import asyncpg
import httpx

from nodebyte_devstack.accounts import SignedInUser, new_password


async def test_get_account(anonymous: httpx.AsyncClient, member_user: SignedInUser) -> None:
    response = await anonymous.get("/api/v1/dashboard/account", headers=member_user.headers)
    assert response.status_code == 200, response.text
    account = response.json()["data"]
    assert account["id"] == member_user.id
    assert account["email"] == member_user.email
    assert account["emailVerified"] is True
    assert account["roles"] == ["MEMBER"]
    assert account["lastLoginAt"]
    assert account["username"] is None  # nullable columns answer null, never 500
    assert "password" not in str(account).lower()


async def test_update_profile_changes_only_the_given_fields(
    anonymous: httpx.AsyncClient, member_user: SignedInUser, admin_conn: asyncpg.Connection
) -> None:
    headers = member_user.headers
    first = await anonymous.put(
        "/api/v1/dashboard/account",
        json={"firstName": "Grace", "companyName": "NodeByte", "phoneNumber": "+44 20 1234"},
        headers=headers,
    )
    assert first.status_code == 200, first.text
    second = await anonymous.put(
        "/api/v1/dashboard/account", json={"companyName": None}, headers=headers
    )
    account = second.json()["data"]
    assert account["firstName"] == "Grace"
    assert account["phoneNumber"] == "+44 20 1234"
    assert account["companyName"] is None
    entry = await admin_conn.fetchrow(
        """SELECT * FROM gateway.audit_logs WHERE action = 'account.updated'
           AND target_id = $1 ORDER BY occurred_at DESC LIMIT 1""",
        member_user.id,
    )
    assert entry["actor_id"] == member_user.id
    assert entry["actor_type"] == "user"


async def test_update_profile_refuses_bad_input(
    anonymous: httpx.AsyncClient, user_factory, member_user: SignedInUser
) -> None:
    other = await user_factory()
    taken = "taken_" + other.id[-8:]
    assert (
        await anonymous.put(
            "/api/v1/dashboard/account", json={"username": taken}, headers=other.headers
        )
    ).status_code == 200
    cases = [
        ({}, 400),
        ({"email": "new@example.com"}, 400),  # only change-email changes the address
        ({"username": "a"}, 400),
        ({"billingEmail": "not-an-email"}, 400),
        ({"avatarUrl": "javascript:alert(1)"}, 400),
        ({"phoneNumber": "call me maybe"}, 400),
        ({"firstName": "x" * 101}, 400),
        ({"username": taken.upper()}, 409),
    ]
    for payload, status in cases:
        response = await anonymous.put(
            "/api/v1/dashboard/account", json=payload, headers=member_user.headers
        )
        assert response.status_code == status, (payload, response.text)
        assert response.json()["success"] is False


async def test_change_password_keeps_this_session_and_ends_the_others(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    other_session = await anonymous.post(
        "/api/v1/auth/login", json={"email": member_user.email, "password": member_user.password}
    )
    other_refresh = other_session.json()["data"]["refreshToken"]
    wrong = await anonymous.put(
        "/api/v1/dashboard/account/password",
        json={"currentPassword": "Wrong-pass-1", "newPassword": new_password()},
        headers=member_user.headers,
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "INVALID_CURRENT_PASSWORD"
    weak = await anonymous.put(
        "/api/v1/dashboard/account/password",
        json={"currentPassword": member_user.password, "newPassword": "weak"},
        headers=member_user.headers,
    )
    assert weak.status_code == 400
    new = new_password()
    changed = await anonymous.put(
        "/api/v1/dashboard/account/password",
        json={"currentPassword": member_user.password, "newPassword": new},
        headers=member_user.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["sessionsRevoked"] == 1
    dead = await anonymous.post("/api/v1/auth/refresh", json={"refreshToken": other_refresh})
    assert dead.status_code == 401
    alive = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert alive.status_code == 200
    login = await anonymous.post(
        "/api/v1/auth/login", json={"email": member_user.email, "password": new}
    )
    assert login.status_code == 200


async def test_dashboard_is_for_users_not_keys(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/dashboard/account")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
