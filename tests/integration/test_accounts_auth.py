"""Sign-up, email verification, sign-in, token rotation, sign-out, `me`, JWKS,
through the whole stack; emails are read from the gateway's outbox."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import jwt

from nodebyte_devstack.accounts import Mailbox, SignedInUser, new_email, new_password
from nodebyte_devstack.processes import Stack


async def register(
    client: httpx.AsyncClient, email: str, password: str, **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "confirmPassword": password, **extra},
    )


async def test_register_verify_login_me(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, admin_conn: asyncpg.Connection
) -> None:
    email, password = new_email("Signup").upper(), new_password()
    response = await register(anonymous, email, password, firstName="Ada")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["data"]["verificationRequired"] is True

    refused = await anonymous.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "EMAIL_NOT_VERIFIED"

    message = await mailbox.latest(email.lower(), "verify-email")
    assert message["subject"]
    assert message["data"]["name"] == "Ada"
    assert "verifyUrl" not in message["data"]  # the link travels sealed, never in clear
    assert mailbox.secrets(message)["verifyUrl"].startswith("http")
    token = await mailbox.link_token(email.lower(), "verify-email")
    lifetime = await admin_conn.fetchval(
        """SELECT extract(epoch FROM expires_at - created_at) FROM gateway.account_tokens
           WHERE token_hash = sha256($1::text::bytea) AND purpose = 'verify_email'""",
        token,
    )
    assert 24 * 3600 - 100 < lifetime <= 24 * 3600
    verified = await anonymous.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["data"]["emailVerified"]
    welcome = await mailbox.latest(email.lower(), "welcome")
    assert welcome["sealed_data"] is None
    delivered = await mailbox.delivered(email.lower(), "welcome")
    assert delivered["subject"] == "Welcome to NodeByte"
    assert "Hello Ada," in delivered["text"]
    assert "/dashboard" in delivered["text"]

    again = await anonymous.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["code"] == "INVALID_TOKEN"

    login = await anonymous.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    data = login.json()["data"]
    assert data["tokenType"] == "Bearer"
    assert data["expiresIn"] > 0
    assert data["user"]["email"] == email.lower()
    assert data["user"]["roles"] == ["MEMBER"]
    me = await anonymous.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {data['accessToken']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["data"]["user"]["id"] == data["user"]["id"]
    assert me.json()["data"]["user"]["permissions"] == []


async def test_register_refuses_bad_input_and_changes_nothing(
    anonymous: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    before = await admin_conn.fetchval("SELECT count(*) FROM gateway.users")
    cases = [
        ({"email": "not-an-email", "password": "Secret123"}, "INVALID_EMAIL"),
        ({"email": new_email(), "password": "short1A"}, "WEAK_PASSWORD"),
        ({"email": new_email(), "password": "alllowercase1"}, "WEAK_PASSWORD"),
        (
            {"email": new_email(), "password": "Secret123", "confirmPassword": "Secret124"},
            "PASSWORDS_DO_NOT_MATCH",
        ),
        ({"email": new_email(), "password": "Secret123", "username": "x"}, "INVALID_USERNAME"),
        (
            {"email": new_email(), "password": "Secret123", "role": "SUPER_ADMIN"},
            "VALIDATION_ERROR",
        ),
        ({"email": new_email()}, "VALIDATION_ERROR"),
    ]
    for payload, code in cases:
        response = await anonymous.post("/api/v1/auth/register", json=payload)
        assert response.status_code == 400, (payload, response.text)
        assert response.json()["code"] == code, (payload, response.text)
    assert await admin_conn.fetchval("SELECT count(*) FROM gateway.users") == before


async def test_register_does_not_reveal_a_registered_email(
    anonymous: httpx.AsyncClient, mailbox: Mailbox, member_user: SignedInUser
) -> None:
    before = len(await mailbox.messages(member_user.email))
    taken = await register(anonymous, member_user.email, new_password())
    fresh = await register(anonymous, new_email(), new_password())
    assert taken.status_code == fresh.status_code == 201
    assert taken.json()["message"] == fresh.json()["message"]
    assert taken.json()["data"].keys() == fresh.json()["data"].keys()
    # the existing account is untouched and its owner is not mailed a link for it
    assert len(await mailbox.messages(member_user.email)) == before
    login = await anonymous.post(
        "/api/v1/auth/login", json={"email": member_user.email, "password": member_user.password}
    )
    assert login.status_code == 200


async def test_register_with_a_taken_username_is_409(
    anonymous: httpx.AsyncClient,
) -> None:
    name = "user_" + new_email()[5:11]
    assert (
        await register(anonymous, new_email(), new_password(), username=name)
    ).status_code == 201
    response = await register(anonymous, new_email(), new_password(), username=name.upper())
    assert response.status_code == 409
    assert response.json()["code"] == "USERNAME_TAKEN"


async def test_login_failures_look_alike(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    wrong_password = await anonymous.post(
        "/api/v1/auth/login", json={"email": member_user.email, "password": "Wrong-pass1"}
    )
    no_account = await anonymous.post(
        "/api/v1/auth/login", json={"email": new_email(), "password": "Wrong-pass1"}
    )
    for response in (wrong_password, no_account):
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_CREDENTIALS"
    assert wrong_password.json()["error"] == no_account.json()["error"]
    malformed = await anonymous.post("/api/v1/auth/login", json={"email": member_user.email})
    assert malformed.status_code == 400


async def test_disabled_account_cannot_sign_in_or_refresh(
    anonymous: httpx.AsyncClient, member_user: SignedInUser, admin_conn: asyncpg.Connection
) -> None:
    await admin_conn.execute(
        "UPDATE gateway.users SET is_active = false WHERE id = $1::uuid", member_user.id
    )
    login = await anonymous.post(
        "/api/v1/auth/login", json={"email": member_user.email, "password": member_user.password}
    )
    assert login.status_code == 403
    assert login.json()["code"] == "ACCOUNT_DISABLED"
    refresh = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert refresh.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_session(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    first = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert first.status_code == 200, first.text
    second_token = first.json()["data"]["refreshToken"]
    assert second_token != member_user.refresh_token
    assert first.json()["data"]["user"]["id"] == member_user.id

    reused = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert reused.status_code == 401
    assert reused.json()["code"] == "REFRESH_TOKEN_REUSED"
    # the whole family is gone: the token issued by the rotation is dead too
    after = await anonymous.post("/api/v1/auth/refresh", json={"refreshToken": second_token})
    assert after.status_code == 401
    assert after.json()["code"] == "INVALID_REFRESH_TOKEN"


async def test_refresh_with_unknown_or_malformed_token(anonymous: httpx.AsyncClient) -> None:
    unknown = await anonymous.post("/api/v1/auth/refresh", json={"refreshToken": "nbr_nope"})
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "INVALID_REFRESH_TOKEN"
    empty = await anonymous.post("/api/v1/auth/refresh", json={"refreshToken": ""})
    assert empty.status_code == 400
    missing = await anonymous.post("/api/v1/auth/refresh", json={})
    assert missing.status_code == 400


async def test_logout_ends_the_session(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    response = await anonymous.post(
        "/api/v1/auth/logout", json={"refreshToken": member_user.refresh_token}
    )
    assert response.status_code == 200
    refresh = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": member_user.refresh_token}
    )
    assert refresh.status_code == 401
    # logging out twice, or with an unknown token, reveals nothing
    again = await anonymous.post("/api/v1/auth/logout", json={"refreshToken": "nbr_unknown"})
    assert again.status_code == 200


async def test_validate_checks_credentials_without_a_session(
    anonymous: httpx.AsyncClient, member_user: SignedInUser, admin_conn: asyncpg.Connection
) -> None:
    sessions_before = await admin_conn.fetchval(
        "SELECT count(*) FROM gateway.auth_sessions WHERE user_id = $1::uuid", member_user.id
    )
    ok = await anonymous.post(
        "/api/v1/auth/validate", json={"email": member_user.email, "password": member_user.password}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["user"]["id"] == member_user.id
    assert "accessToken" not in ok.json()["data"]
    wrong = await anonymous.post(
        "/api/v1/auth/validate", json={"email": member_user.email, "password": "Nope-nope1"}
    )
    assert wrong.status_code == 401
    assert sessions_before == await admin_conn.fetchval(
        "SELECT count(*) FROM gateway.auth_sessions WHERE user_id = $1::uuid", member_user.id
    )


async def test_access_token_verifies_against_the_jwks(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    response = await anonymous.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()
    assert jwks["keys"]
    assert all(k["kty"] == "OKP" and k["alg"] == "EdDSA" for k in jwks["keys"])
    header = jwt.get_unverified_header(member_user.access_token)
    assert header["alg"] == "EdDSA"
    (jwk,) = (k for k in jwks["keys"] if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        member_user.access_token, key, algorithms=["EdDSA"], audience="nodebyte-api"
    )
    assert claims["sub"] == member_user.id
    assert claims["roles"] == ["MEMBER"]


async def test_me_refuses_an_api_key_and_bad_tokens(
    gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    by_key = await gateway.get("/api/v1/auth/me")
    assert by_key.status_code == 403
    for header in ("Bearer", "Bearer x.y.z", "Basic dXNlcjpwYXNz", "Token abc"):
        response = await anonymous.get("/api/v1/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers.get("www-authenticate", "").startswith("Bearer")


async def test_concurrent_refreshes_of_one_token_rotate_once(
    anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    body = {"refreshToken": member_user.refresh_token}
    responses = await asyncio.gather(
        *(anonymous.post("/api/v1/auth/refresh", json=body) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401, 401, 401]
    # the losers saw a rotated token: that is reuse, so the session is revoked
    winner = next(r for r in responses if r.status_code == 200)
    after = await anonymous.post(
        "/api/v1/auth/refresh", json={"refreshToken": winner.json()["data"]["refreshToken"]}
    )
    assert after.status_code == 401


async def test_secrets_never_reach_the_gateway_log(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
    admin_user: SignedInUser,
) -> None:
    email, password = new_email("logged"), new_password()
    await anonymous.post("/api/v1/auth/register", json={"email": email, "password": password})
    link = await mailbox.link_token(email, "verify-email")
    await anonymous.post("/api/v1/auth/verify-email", json={"token": link})
    login = await anonymous.post("/api/v1/auth/login", json={"email": email, "password": password})
    tokens = login.json()["data"]
    await anonymous.post("/api/v1/auth/forgot-password", json={"email": email})
    reset = await mailbox.link_token(email, "password-reset")
    key = await anonymous.post(
        "/api/admin/api-keys",
        json={"name": "log", "scopes": ["sync.write"]},
        headers=admin_user.headers,
    )
    await anonymous.post(
        "/api/v1/sync/locations", params={"api_key": key.json()["data"]["key"]}, json={}
    )
    log = (stack.log_dir / "gateway.log").read_text(errors="replace")
    for secret in (
        password,
        link,
        reset,
        tokens["accessToken"],
        tokens["refreshToken"],
        key.json()["data"]["key"],
    ):
        assert secret not in log
