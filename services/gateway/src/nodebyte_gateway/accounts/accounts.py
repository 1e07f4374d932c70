"""Account flows: registration, email verification and change, password reset and
change, magic links.

Where an answer could tell a stranger whether an address is registered
(register, forgot-password, magic-link, change-email), every case answers the
same and only the mailbox's owner learns more, by email.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg
from litestar import Request

from nodebyte_common.envelope import ApiError
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.accounts import (
    account_tokens,
    accounts_store,
    audit,
    sessions,
    sign_in_lockout,
)
from nodebyte_gateway.accounts import sign_in_lockout_store as lockout_store
from nodebyte_gateway.accounts.account_emails import AccountEmails
from nodebyte_gateway.accounts.audit import Actor
from nodebyte_gateway.accounts.auth import Authenticator, Principal
from nodebyte_gateway.accounts.sign_in import SignedIn, SignIn
from nodebyte_gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None


def invalid_link() -> ApiError:
    return ApiError(400, "The link is invalid, used or expired", "INVALID_TOKEN")


def _self_actor(user: asyncpg.Record) -> Actor:
    return Actor("user", str(user["id"]), user["email"])


class AccountFlows:
    def __init__(
        self, runtime: Runtime, auth: Authenticator, settings: GatewaySettings, sign_in: SignIn
    ) -> None:
        self.runtime = runtime
        self.auth = auth
        self.sign_in = sign_in
        self.emails = AccountEmails(
            settings.app_url, settings.sealing_keys, settings.encryption_key_id
        )

    async def register(self, form: Registration) -> None:
        """Create the account and mail a verification link; an address already
        registered changes nothing and answers the same."""
        password_hash = await self.auth.passwords.hash_async(form.password)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if await accounts_store.email_taken(conn, form.email):
                return
            if form.username and await accounts_store.username_taken(conn, form.username):
                raise ApiError(409, "This username is taken", "USERNAME_TAKEN")
            try:
                async with conn.transaction():
                    user = await accounts_store.insert(
                        conn,
                        accounts_store.NewUser(
                            email=form.email,
                            password_hash=password_hash,
                            username=form.username,
                            first_name=form.first_name,
                            last_name=form.last_name,
                        ),
                    )
            except asyncpg.UniqueViolationError:
                return  # registered a moment ago by a concurrent request
            issued = await account_tokens.issue(conn, user["id"], "verify_email")
            await self.emails.verify_email(conn, user, issued)

    async def verify_email(self, token: str, expected_user: UUID | None) -> asyncpg.Record:
        """Use a verification or email-change link; return the user as now."""
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            used = await account_tokens.consume(conn, token, ("verify_email", "email_change"))
            if used is None or (expected_user is not None and used.user_id != expected_user):
                raise invalid_link()  # rolls back: a mismatched id does not burn the token
            if used.purpose == "email_change" and used.new_email:
                return await self._switch_email(conn, used.user_id, used.new_email)
            user = await accounts_store.mark_verified(conn, used.user_id)
            if not user["was_verified"]:
                await self.emails.welcome(conn, user)
            return user

    async def _switch_email(
        self, conn: asyncpg.Connection, user_id: UUID, new_email: str
    ) -> asyncpg.Record:
        before = await accounts_store.by_id(conn, user_id)
        try:
            async with conn.transaction():
                user = await accounts_store.change_email(conn, user_id, new_email)
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "This address is in use by another account", "EMAIL_IN_USE"
            ) from None
        await audit.record(
            conn,
            _self_actor(user),
            "account.email_changed",
            ("user", user_id),
            {"email": before["email"]},
            {"email": new_email},
        )
        return user

    async def forgot_password(self, email: str) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            user = await accounts_store.by_email(conn, email)
            if user is None or not user["is_active"]:
                return
            issued = await account_tokens.issue(conn, user["id"], "password_reset")
            await self.emails.password_reset(conn, user, issued)

    async def reset_password(
        self, token: str, new_password: str, expected_user: UUID | None, request: Request
    ) -> None:
        password_hash = await self.auth.passwords.hash_async(new_password)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            used = await account_tokens.consume(conn, token, ("password_reset",))
            if used is None or (expected_user is not None and used.user_id != expected_user):
                raise invalid_link()
            await accounts_store.set_password(conn, used.user_id, password_hash)
            # The link reached the mailbox: that verifies the address too.
            user = await accounts_store.mark_verified(conn, used.user_id)
            await lockout_store.forget(conn, sign_in_lockout.digest(user["email"].lower()))
            ended = await sessions.revoke_all(conn, used.user_id, "password reset")
            await audit.record(
                conn,
                _self_actor(user),
                "account.password_reset",
                ("user", used.user_id),
                None,
                {"sessionsRevoked": ended},
                request,
            )
        self.auth.sessions.forget()

    async def request_magic_link(self, email: str) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            user = await accounts_store.by_email(conn, email)
            if user is None or not user["is_active"]:
                return
            issued = await account_tokens.issue(conn, user["id"], "magic_link")
            await self.emails.magic_link(conn, user, issued)

    async def magic_link_sign_in(self, token: str, request: Request) -> SignedIn:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            used = await account_tokens.consume(conn, token, ("magic_link",))
            if used is None:
                raise ApiError(401, "The sign-in link is invalid, used or expired", "INVALID_TOKEN")
            user = await accounts_store.mark_verified(conn, used.user_id)
            if not user["is_active"]:
                raise ApiError(403, "This account is disabled", "ACCOUNT_DISABLED")
            if not user["was_verified"]:
                await self.emails.welcome(conn, user)
            await accounts_store.record_login(conn, user["id"])
            return await self.sign_in.open_session(conn, user, request)

    async def resend_verification(self, user_id: UUID) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            user = await self._existing(conn, user_id)
            if user["email_verified_at"] is not None:
                raise ApiError(400, "Your email is already verified", "ALREADY_VERIFIED")
            issued = await account_tokens.issue(conn, user_id, "verify_email")
            await self.emails.verify_email(conn, user, issued)

    async def request_email_change(
        self, principal: Principal, new_email: str, current_password: str
    ) -> None:
        """Mail a confirmation link to the new address; the address changes when
        it is used. A taken address gets no mail, and the answer is the same."""
        user_id = _user_id(principal)
        async with self.runtime.pool.acquire() as conn:
            user = await self._existing(conn, user_id)
        await self._check_current_password(user, current_password)
        if new_email == user["email"].lower():
            raise ApiError(400, "This is already your email address", "SAME_EMAIL")
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if await accounts_store.email_taken(conn, new_email):
                return
            issued = await account_tokens.issue(conn, user_id, "email_change", new_email)
            await self.emails.email_change(conn, user, new_email, issued)

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str, request: Request
    ) -> int:
        """Set a new password; end every other session; return how many ended."""
        user_id = _user_id(principal)
        async with self.runtime.pool.acquire() as conn:
            user = await self._existing(conn, user_id)
        await self._check_current_password(user, current_password)
        password_hash = await self.auth.passwords.hash_async(new_password)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await accounts_store.set_password(conn, user_id, password_hash)
            ended = await sessions.revoke_all(
                conn, user_id, "password changed", keep=principal.session_id
            )
            await audit.record(
                conn,
                principal,
                "account.password_changed",
                ("user", user_id),
                None,
                {"sessionsRevoked": ended},
                request,
            )
        self.auth.sessions.forget()
        return ended

    async def _check_current_password(self, user: asyncpg.Record, candidate: str) -> None:
        verdict = await self.auth.passwords.verify_async(user["password_hash"], candidate)
        if not verdict.ok:
            raise ApiError(400, "The current password is incorrect", "INVALID_CURRENT_PASSWORD")

    @staticmethod
    async def _existing(conn: asyncpg.Connection, user_id: UUID) -> asyncpg.Record:
        user = await accounts_store.by_id(conn, user_id)
        if user is None:  # deleted while a token was still live
            raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
        return user


def _user_id(principal: Principal) -> UUID:
    return UUID(principal.id)
