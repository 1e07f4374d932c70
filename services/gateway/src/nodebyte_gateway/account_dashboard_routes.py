"""`/api/v1/dashboard/account*`: the signed-in user's own profile, password, email."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, get, post, put

from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_gateway import account_input, accounts_store, audit, user_views
from nodebyte_gateway.accounts import AccountFlows
from nodebyte_gateway.auth import principal_of, signed_in, signed_in_user
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.sign_in import SignIn

Secret = Annotated[str, msgspec.Meta(max_length=1024)]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET
Username = Annotated[str, msgspec.Meta(max_length=64)]
Name = Annotated[str, msgspec.Meta(max_length=100)]
Company = Annotated[str, msgspec.Meta(max_length=200)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^[0-9+() .-]{0,32}$")]
EmailText = Annotated[str, msgspec.Meta(max_length=320)]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^(https://\S+)?$")]


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; null or "" clears one. The email changes
    only through change-email (a confirmed link), never here."""

    username: Username | Unset | None = UNSET
    firstName: Name | Unset | None = UNSET
    lastName: Name | Unset | None = UNSET
    phoneNumber: Phone | Unset | None = UNSET
    companyName: Company | Unset | None = UNSET
    billingEmail: EmailText | Unset | None = UNSET
    avatarUrl: HttpsUrl | Unset | None = UNSET


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    currentPassword: Secret
    newPassword: Secret
    confirmPassword: Secret | None = None


class ChangeEmailBody(msgspec.Struct, forbid_unknown_fields=True):
    newEmail: EmailText
    currentPassword: Secret


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
    async def get_account(request: Request) -> Any:
        async with runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, signed_in_user(request))
        if user is None:
            raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
        return ok(user_views.account(user))

    @put("/api/v1/dashboard/account", guards=user_only, tags=tags, summary="Update your profile")
    async def update_account(request: Request) -> Any:
        body = decode_body(await request.body(), ProfileBody, empty_ok=False)
        user_id = signed_in_user(request)
        async with runtime.pool.acquire() as conn, conn.transaction():
            before = await accounts_store.by_id(conn, user_id)
            if before is None:
                raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
            changes = await _profile_changes(conn, user_id, body)
            try:
                async with conn.transaction():
                    user = await accounts_store.update_profile(conn, user_id, changes)
            except asyncpg.UniqueViolationError:  # a concurrent rename took the username
                raise ApiError(409, "This username is taken", "USERNAME_TAKEN") from None
            old = user_views.account(before)
            await audit.record(
                conn,
                principal_of(request),
                "account.updated",
                ("user", user_id),
                {name: old[name] for name in changes},
                changes,
                request,
            )
        return ok(user_views.account(user), message="Account updated successfully")

    @put(
        "/api/v1/dashboard/account/password",
        guards=user_only,
        tags=tags,
        summary="Change your password (ends your other sessions)",
    )
    async def change_password(request: Request) -> Any:
        body = decode_body(await request.body(), PasswordBody, empty_ok=False)
        account_input.new_password(body.newPassword, body.confirmPassword)
        ended = await flows.change_password(
            signed_in(request), body.currentPassword, body.newPassword, request
        )
        return ok({"sessionsRevoked": ended}, message="Password changed successfully")

    @post(
        "/api/v1/dashboard/account/resend-verification",
        guards=user_only,
        tags=tags,
        status_code=200,
        summary="Mail a new verification link",
    )
    async def resend_verification(request: Request) -> Any:
        await flows.resend_verification(signed_in_user(request))
        return ok(None, message="Verification email sent")

    @post(
        "/api/v1/dashboard/account/change-email",
        guards=user_only,
        tags=tags,
        status_code=200,
        summary="Mail a confirmation link to a new address",
    )
    async def change_email(request: Request) -> Any:
        body = decode_body(await request.body(), ChangeEmailBody, empty_ok=False)
        new_email = account_input.email(body.newEmail, "newEmail")
        await flows.request_email_change(signed_in(request), new_email, body.currentPassword)
        return ok(
            None,
            message="If that address can be used, a confirmation link has been sent to it",
        )

    return [get_account, update_account, change_password, resend_verification, change_email]
