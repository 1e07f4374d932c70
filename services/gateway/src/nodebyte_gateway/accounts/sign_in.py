"""Signing in (password, magic link), refreshing, signing out.

A sign-in opens a session: an access JWT (minutes) whose permissions are
resolved from the user's roles now, and a refresh token (rotating, stored as a
digest) that gets the next access token, with the roles as they are then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from litestar import Request

from nodebyte_common.envelope import ApiError
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.accounts import account_tokens, accounts_store, sessions
from nodebyte_gateway.accounts.account_emails import AccountEmails
from nodebyte_gateway.accounts.audit import client_ip, user_agent
from nodebyte_gateway.accounts.auth import Authenticator
from nodebyte_gateway.accounts.sign_in_lockout import Lockout
from nodebyte_gateway.schemas import AuthUser, Tokens
from nodebyte_gateway.settings import GatewaySettings


@dataclass(frozen=True)
class SignedIn:
    user: asyncpg.Record
    permissions: list[str]
    session_id: Any
    access_token: str
    refresh_token: str
    expires_in: int

    def view(self) -> Tokens:
        return Tokens(
            user=AuthUser.of(self.user, self.permissions),
            accessToken=self.access_token,
            refreshToken=self.refresh_token,
            tokenType="Bearer",
            expiresIn=self.expires_in,
        )


def invalid_credentials() -> ApiError:
    return ApiError(401, "Invalid email or password", "INVALID_CREDENTIALS")


class SignIn:
    def __init__(self, runtime: Runtime, auth: Authenticator, settings: GatewaySettings) -> None:
        self.runtime = runtime
        self.auth = auth
        self.settings = settings
        self.emails = AccountEmails(
            settings.app_url, settings.sealing_keys, settings.encryption_key_id
        )
        self.lockout = Lockout(runtime, self.emails)

    async def check_password(self, email: str, password: str) -> asyncpg.Record:
        """The user these credentials prove, allowed to sign in; 401/403 otherwise.

        An unknown email costs the same hashing time as a wrong password, and
        both answer the same, so neither reveals whether an account exists.
        Repeated failures lock the address (423, see `sign_in_lockout`).
        """
        await self.lockout.ensure_unlocked(email)
        async with self.runtime.pool.acquire() as conn:
            user = await accounts_store.by_email(conn, email)
        verdict = await self.auth.passwords.verify_async(
            user["password_hash"] if user else None, password
        )
        if user is None or not verdict.ok:
            await self.lockout.failed(email)
            raise invalid_credentials()
        await self.lockout.succeeded(email)
        await self._ensure_may_sign_in(user)
        if verdict.needs_rehash:  # bcrypt from the old stack, or weaker argon2 parameters
            upgraded = await self.auth.passwords.hash_async(password)
            async with self.runtime.pool.acquire() as conn:
                await accounts_store.upgrade_password_hash(conn, user["id"], upgraded)
        return user

    async def _ensure_may_sign_in(self, user: asyncpg.Record) -> None:
        if not user["is_active"]:
            raise ApiError(403, "This account is disabled", "ACCOUNT_DISABLED")
        if user["email_verified_at"] is None:
            # Unverified users cannot reach the dashboard's resend: send a fresh link now.
            async with self.runtime.pool.acquire() as conn, conn.transaction():
                issued = await account_tokens.issue(conn, user["id"], "verify_email")
                await self.emails.verify_email(conn, user, issued)
            raise ApiError(
                403,
                "Verify your email first: we sent you a new verification link",
                "EMAIL_NOT_VERIFIED",
            )

    async def with_password(self, email: str, password: str, request: Request) -> SignedIn:
        user = await self.check_password(email, password)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await accounts_store.record_login(conn, user["id"])
            return await self.open_session(conn, user, request)

    async def open_session(
        self, conn: asyncpg.Connection, user: asyncpg.Record, request: Request
    ) -> SignedIn:
        session_id, refresh_token = await sessions.start(
            conn,
            user["id"],
            ttl_seconds=self.settings.refresh_token_ttl_seconds,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        return await self._access(conn, user, session_id, refresh_token)

    async def _access(
        self, conn: asyncpg.Connection, user: asyncpg.Record, session_id: Any, refresh_token: str
    ) -> SignedIn:
        granted = await accounts_store.permissions_of(conn, list(user["roles"]))
        token, expires_in = self.auth.keys.issue_access(
            user_id=user["id"],
            session_id=session_id,
            email=user["email"],
            roles=list(user["roles"]),
            permissions=granted,
        )
        return SignedIn(user, granted, session_id, token, refresh_token, expires_in)

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Rotate the refresh token; 401 when it is unknown, expired or reused."""
        signed_in: SignedIn | None = None
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            rotation = await sessions.rotate(
                conn, refresh_token, self.settings.refresh_token_ttl_seconds
            )
            if rotation.outcome is sessions.Outcome.ROTATED:
                user = await accounts_store.by_id(conn, rotation.user_id)
                if user is not None and user["is_active"]:
                    signed_in = await self._access(
                        conn, user, rotation.session_id, rotation.refresh_token or ""
                    )
                else:
                    await sessions.revoke(conn, rotation.session_id, "account disabled")
        # raised after commit: a detected reuse must stay revoked
        if rotation.outcome is sessions.Outcome.REUSED:
            raise ApiError(
                401,
                "This refresh token was already used; the session has been revoked",
                "REFRESH_TOKEN_REUSED",
            )
        if signed_in is None:
            raise ApiError(401, "The refresh token is invalid or expired", "INVALID_REFRESH_TOKEN")
        return signed_in

    async def sign_out(self, refresh_token: str) -> None:
        async with self.runtime.pool.acquire() as conn:
            await sessions.revoke_by_token(conn, refresh_token, "signed out")
