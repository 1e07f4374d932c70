"""`/api/v1/dashboard/account*`: the signed-in user's own profile, password, email."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, get, post, put
from litestar.params import JSONBody

from nodebyte_common.contracts.envelope import Answer, Empty, Nothing
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import account_input, accounts_store, audit
from nodebyte_gateway.accounts.accounts import AccountFlows
from nodebyte_gateway.accounts.auth import principal_of, signed_in, signed_in_user
from nodebyte_gateway.accounts.sign_in import SignIn
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.schemas import (
    UNSET,
    Account,
    ChangeEmailBody,
    PasswordBody,
    PasswordChanged,
    ProfileBody,
)


async def _profile_changes(
    conn: asyncpg.Connection, user_id: UUID, body: ProfileBody
) -> dict[str, Any]:
    changes = {
        name: (value or None)
        for name, value in msgspec.structs.asdict(body).items()
        if value is not UNSET
    }
    if not changes:
        raise ApiError(400, "No fields to update")
    if changes.get("username"):
        account_input.username(changes["username"])
        if await accounts_store.username_taken(conn, changes["username"], user_id):
            raise ApiError(409, "This username is taken", "USERNAME_TAKEN")
    if changes.get("billingEmail"):
        changes["billingEmail"] = account_input.email(changes["billingEmail"], "billingEmail")
    return changes


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime
    sign_in = SignIn(ctx.runtime, ctx.auth, ctx.settings)
    flows = AccountFlows(ctx.runtime, ctx.auth, ctx.settings, sign_in)
    user_only = [ctx.require_user()]
    tags = ["dashboard"]

    @get("/api/v1/dashboard/account", guards=user_only, tags=tags, summary="Your profile")
    async def get_account(request: Request) -> Answer[Account]:
        async with runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, signed_in_user(request))
        if user is None:
            raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
        return Answer(data=Account.of(user))

    @put(
        "/api/v1/dashboard/account",
        guards=user_only,
        tags=tags,
        summary="Update your profile",
        responses=refusals({409: "Another account has this username (USERNAME_TAKEN)"}),
    )
    async def update_account(data: JSONBody[ProfileBody], request: Request) -> Answer[Account]:
        user_id = signed_in_user(request)
        async with runtime.pool.acquire() as conn, conn.transaction():
            before = await accounts_store.by_id(conn, user_id)
            if before is None:
                raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
            changes = await _profile_changes(conn, user_id, data)
            try:
                async with conn.transaction():
                    user = await accounts_store.update_profile(conn, user_id, changes)
            except asyncpg.UniqueViolationError:  # a concurrent rename took the username
                raise ApiError(409, "This username is taken", "USERNAME_TAKEN") from None
            old = msgspec.to_builtins(Account.of(before))
            await audit.record(
                conn,
                principal_of(request),
                "account.updated",
                ("user", user_id),
                {name: old[name] for name in changes},
                changes,
                request,
            )
        return Answer(data=Account.of(user), message="Account updated successfully")

    @put(
        "/api/v1/dashboard/account/password",
        guards=user_only,
        tags=tags,
        summary="Change your password (ends your other sessions)",
    )
    async def change_password(
        data: JSONBody[PasswordBody], request: Request
    ) -> Answer[PasswordChanged]:
        account_input.new_password(data.newPassword, data.confirmPassword)
        ended = await flows.change_password(
            signed_in(request), data.currentPassword, data.newPassword, request
        )
        changed = PasswordChanged(sessionsRevoked=ended)
        return Answer(data=changed, message="Password changed successfully")

    @post(
        "/api/v1/dashboard/account/resend-verification",
        guards=user_only,
        tags=tags,
        status_code=200,
        summary="Mail a new verification link",
    )
    async def resend_verification(request: Request, data: JSONBody[Empty | None] = None) -> Nothing:
        await flows.resend_verification(signed_in_user(request))
        return Nothing(message="Verification email sent")

    @post(
        "/api/v1/dashboard/account/change-email",
        guards=user_only,
        tags=tags,
        status_code=200,
        summary="Mail a confirmation link to a new address",
    )
    async def change_email(data: JSONBody[ChangeEmailBody], request: Request) -> Nothing:
        new_email = account_input.email(data.newEmail, "newEmail")
        await flows.request_email_change(signed_in(request), new_email, data.currentPassword)
        return Nothing(
            message="If that address can be used, a confirmation link has been sent to it"
        )

    return [get_account, update_account, change_password, resend_verification, change_email]
