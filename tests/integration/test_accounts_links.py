"""Emailed links: password reset, magic link, email change, resend; single-use,
expiring, hashed at rest; and the bcrypt hashes of migrated users."""

from __future__ import annotations

import json

import asyncpg
import bcrypt
import httpx

from nodebyte_devstack.accounts import Mailbox, SignedInUser, new_email, new_password
from nodebyte_gateway.accounts import expired_rows


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_forgot_and_reset_password(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    response = await anonymous.post(
        "/api/v1/auth/forgot-password", json={"email": member_user.email.upper()}
    )
    assert response.status_code == 200
    message = await mailbox.latest(member_user.email, "password-reset")
    assert "resetUrl" not in message["data"]
    assert "/auth/reset-password?token=" in mailbox.secrets(message)["resetUrl"]
    token = await mailbox.link_token(member_user.email, "password-reset")
    stored = await admin_conn.fetchval(
        "SELECT count(*) FROM gateway.account_tokens WHERE token_hash = sha256($1::text::bytea)",
        token,
    )
    assert stored == 1  # only the digest is stored, never the token
    lifetime = await admin_conn.fetchval(
        """SELECT extract(epoch FROM expires_at - created_at) FROM gateway.account_tokens
           WHERE token_hash = sha256($1::text::bytea)""",
        token,
    )
    assert 3500 < lifetime <= 3600

    weak = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "weak"}
    )
    assert weak.status_code == 400
    new = new_password()
    reset = await anonymous.post(
        "/api/v1/auth/reset-password",
        json={"token": token, "password": new, "confirmPassword": new, "id": member_user.id},
    )
    assert reset.status_code == 200, reset.text
    assert (await login(anonymous, member_user.email, member_user.password)).status_code == 401
    assert (await login(anonymous, member_user.email, new)).status_code == 200
    # the reset ended the sessions opened with the old password
    refresh = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert refresh.status_code == 401
    reuse = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": new_password()}
    )
    assert reuse.status_code == 400
    assert reuse.json()["code"] == "INVALID_TOKEN"


async def test_forgot_password_answers_the_same_for_unknown_addresses(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, member_user: SignedInUser
) -> None:
    stranger = new_email("nobody")
    known = await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    unknown = await anonymous.post("/api/v1/auth/forgot-password", json={"email": stranger})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert await mailbox.messages(stranger) == []
    bad = await anonymous.post("/api/v1/auth/forgot-password", json={"email": "nope"})
    assert bad.status_code == 400


async def test_a_second_reset_link_replaces_the_first(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, member_user: SignedInUser
) -> None:
    for _ in range(2):
        await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    first, second = (await mailbox.at_least(member_user.email, "password-reset", 2))[-2:]
    first_url = mailbox.secrets(first)["resetUrl"]
    assert first_url != mailbox.secrets(second)["resetUrl"]
    old_token = first_url.split("token=")[1]
    response = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": old_token, "password": new_password()}
    )
    assert response.status_code == 400


async def test_expired_link_is_refused(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    token = await mailbox.link_token(member_user.email, "password-reset")
    await admin_conn.execute(
        """UPDATE gateway.account_tokens SET expires_at = now() - interval '1 second'
           WHERE token_hash = sha256($1::text::bytea)""",
        token,
    )
    response = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": new_password()}
    )
    assert response.status_code == 400
    assert (await login(anonymous, member_user.email, member_user.password)).status_code == 200


async def test_reset_with_the_wrong_user_id_does_not_burn_the_link(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, member_user: SignedInUser
) -> None:
    await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    token = await mailbox.link_token(member_user.email, "password-reset")
    wrong = await anonymous.post(
        "/api/v1/auth/reset-password",
        json={
            "token": token,
            "password": new_password(),
            "id": "0190aaaa-0000-7000-8000-000000000000",
        },
    )
    assert wrong.status_code == 400
    right = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": new_password()}
    )
    assert right.status_code == 200


async def test_magic_link_signs_in_once(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    stranger = new_email("nobody")
    known = await anonymous.post("/api/v1/auth/magic-link", json={"email": member_user.email})
    unknown = await anonymous.post("/api/v1/auth/magic-link", json={"email": stranger})
    assert known.json() == unknown.json()
    assert await mailbox.messages(stranger) == []
    message = await mailbox.latest(member_user.email, "magic-link")
    assert set(mailbox.secrets(message)) == {"loginUrl"}
    token = await mailbox.link_token(member_user.email, "magic-link")
    lifetime = await admin_conn.fetchval(
        """SELECT extract(epoch FROM expires_at - created_at) FROM gateway.account_tokens
           WHERE token_hash = sha256($1::text::bytea)""",
        token,
    )
    assert 800 < lifetime <= 900

    signed_in = await anonymous.post("/api/v1/auth/magic-link/verify", json={"token": token})
    assert signed_in.status_code == 200, signed_in.text
    data = signed_in.json()["data"]
    assert data["user"]["id"] == member_user.id
    me = await anonymous.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {data['accessToken']}"}
    )
    assert me.status_code == 200
    again = await anonymous.post("/api/v1/auth/magic-link/verify", json={"token": token})
    assert again.status_code == 401
    assert again.json()["code"] == "INVALID_TOKEN"


async def test_a_reset_link_is_not_a_magic_link(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, member_user: SignedInUser
) -> None:
    await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    token = await mailbox.link_token(member_user.email, "password-reset")
    response = await anonymous.post("/api/v1/auth/magic-link/verify", json={"token": token})
    assert response.status_code == 401


async def test_email_change_takes_effect_when_the_new_address_confirms(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    new_address = new_email("moved")
    headers = member_user.headers
    wrong = await anonymous.post(
        "/api/v1/dashboard/account/change-email",
        json={"newEmail": new_address, "currentPassword": "Not-it-1"},
        headers=headers,
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "INVALID_CURRENT_PASSWORD"
    response = await anonymous.post(
        "/api/v1/dashboard/account/change-email",
        json={"newEmail": new_address, "currentPassword": member_user.password},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    message = await mailbox.latest(new_address, "email-change")
    assert message["data"]["previousEmail"] == member_user.email
    assert set(mailbox.secrets(message)) == {"verifyUrl"}
    # nothing changes until the new address confirms
    assert (await login(anonymous, member_user.email, member_user.password)).status_code == 200
    token = await mailbox.link_token(new_address, "email-change")
    confirmed = await anonymous.post("/api/v1/auth/verify-email", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["data"]["email"] == new_address
    assert (await login(anonymous, new_address, member_user.password)).status_code == 200
    assert (await login(anonymous, member_user.email, member_user.password)).status_code == 401
    logged = await admin_conn.fetchrow(
        """SELECT * FROM gateway.audit_logs
           WHERE action = 'account.email_changed' AND target_id = $1""",
        member_user.id,
    )
    assert json.loads(logged["before"]) == {"email": member_user.email}


async def test_email_change_to_a_taken_address_mails_nothing(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    user_factory,
) -> None:
    first, second = await user_factory(), await user_factory()
    response = await anonymous.post(
        "/api/v1/dashboard/account/change-email",
        json={"newEmail": second.email, "currentPassword": first.password},
        headers=first.headers,
    )
    assert response.status_code == 200
    assert await mailbox.messages(second.email, "email-change") == []
    same = await anonymous.post(
        "/api/v1/dashboard/account/change-email",
        json={"newEmail": first.email, "currentPassword": first.password},
        headers=first.headers,
    )
    assert same.status_code == 400


async def test_resend_verification(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    verified = await anonymous.post(
        "/api/v1/dashboard/account/resend-verification", headers=member_user.headers
    )
    assert verified.status_code == 400
    assert verified.json()["code"] == "ALREADY_VERIFIED"
    await admin_conn.execute(
        "UPDATE gateway.users SET email_verified_at = NULL WHERE id = $1::uuid", member_user.id
    )
    sent = await anonymous.post(
        "/api/v1/dashboard/account/resend-verification", headers=member_user.headers
    )
    assert sent.status_code == 200
    token = await mailbox.link_token(member_user.email, "verify-email")
    assert (
        await anonymous.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 200


async def test_migrated_bcrypt_user_signs_in_and_is_upgraded_to_argon2id(
    anonymous: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    email, password = new_email("migrated"), "Legacy-pass-1"
    for prefix in ("$2a$", "$2b$"):
        address = prefix[1:3] + email
        legacy = prefix + bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()[4:]
        await admin_conn.execute(
            """INSERT INTO gateway.users (id, email, password_hash, is_migrated, email_verified_at)
               VALUES (gen_random_uuid(), $1, $2, true, now())""",
            address,
            legacy,
        )
        assert (await login(anonymous, address, "legacy-pass-1")).status_code == 401
        assert (await login(anonymous, address, password)).status_code == 200
        upgraded = await admin_conn.fetchval(
            "SELECT password_hash FROM gateway.users WHERE email = $1", address
        )
        assert upgraded.startswith("$argon2id$")
        assert (await login(anonymous, address, password)).status_code == 200


async def test_login_of_an_unverified_user_sends_a_fresh_link(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    user_factory,
    admin_conn: asyncpg.Connection,
) -> None:
    user = await user_factory()
    await admin_conn.execute(
        "UPDATE gateway.users SET email_verified_at = NULL WHERE id = $1::uuid", user.id
    )
    response = await login(anonymous, user.email, user.password)
    assert response.status_code == 403
    assert response.json()["code"] == "EMAIL_NOT_VERIFIED"
    token = await mailbox.link_token(user.email, "verify-email")
    assert (
        await anonymous.post("/api/v1/auth/verify-email", json={"token": token})
    ).status_code == 200
    assert (await login(anonymous, user.email, user.password)).status_code == 200


async def test_expired_rows_are_purged(
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    member_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    await anonymous.post("/api/v1/auth/forgot-password", json={"email": member_user.email})
    token = await mailbox.link_token(member_user.email, "password-reset")
    await admin_conn.execute(
        """UPDATE gateway.account_tokens SET expires_at = now() - interval '8 days'
           WHERE token_hash = sha256($1::text::bytea)""",
        token,
    )
    await admin_conn.execute(
        """UPDATE gateway.auth_sessions SET revoked_at = now() - interval '31 days'
           WHERE user_id = $1::uuid""",
        member_user.id,
    )
    await admin_conn.execute("SET search_path TO gateway")
    try:
        counts = await expired_rows.purge(admin_conn, refresh_ttl_seconds=30 * 24 * 3600)
    finally:
        await admin_conn.execute("RESET search_path")
    assert counts["account_tokens"] >= 1
    assert counts["auth_sessions"] >= 1
    left = await admin_conn.fetchval(
        "SELECT count(*) FROM gateway.auth_sessions WHERE user_id = $1::uuid", member_user.id
    )
    assert left == 0
