"""`/api/v1/auth/*` and `/.well-known/jwks.json`: sign-up, sign-in, tokens, links.

Public (no credentials): register, login, validate, refresh, logout,
verify-email, forgot-password, reset-password, magic-link(/verify), the JWKS.
`me` needs a user's bearer token; `check-email` and `users/{id}` need
`users.read` (the frontend's server calls them with its API key), so strangers
cannot probe which addresses are registered.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath, JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, Nothing
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import account_input, accounts_store
from nodebyte_gateway.accounts.account_input import EMAIL_PATTERN, MAX_EMAIL_LENGTH
from nodebyte_gateway.accounts.accounts import AccountFlows, Registration
from nodebyte_gateway.accounts.auth import signed_in_user
from nodebyte_gateway.accounts.sign_in import SignIn
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.account_throttle import AccountThrottle
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.schemas import (
    AuthUser,
    CredentialsBody,
    EmailBody,
    EmailRegistered,
    EmailVerified,
    JwkSet,
    RefreshBody,
    RegisterBody,
    Registered,
    ResetPasswordBody,
    TokenBody,
    Tokens,
    UserOnly,
    VerifyEmailBody,
)

# A password sign-in's own refusals (sign_in, sign_in_lockout).
SIGN_IN_REFUSALS = refusals(
    {
        401: "Wrong email or password (INVALID_CREDENTIALS)",
        423: "Too many failed sign-ins: the account is locked for a while (ACCOUNT_LOCKED)",
    }
)
GENERIC_RESET = "If an account exists with that email, you will receive a password reset link"
GENERIC_MAGIC = "If an account exists with that email, a magic link will be sent"
GENERIC_REGISTER = "Registration successful. Please verify your email."
# The `auth` class: a few requests a minute per address (see rate_limit.LIMITS).
AUTH_LIMITED = {"rate_limit": "auth"}


def routes(ctx: GatewayContext) -> list[Any]:
    sign_in = SignIn(ctx.runtime, ctx.auth, ctx.settings)
    flows = AccountFlows(ctx.runtime, ctx.auth, ctx.settings, sign_in)
    runtime = ctx.runtime
    throttle = AccountThrottle(ctx.limiter)
    tags = ["auth"]

    @post(
        "/api/v1/auth/register",
        tags=tags,
        status_code=201,
        summary="Create an account",
        responses=refusals({409: "Another account has this username (USERNAME_TAKEN)"}),
        opt=AUTH_LIMITED,
    )
    async def register(data: JSONBody[RegisterBody], request: Request) -> Answer[Registered]:
        email = account_input.email(data.email)
        await throttle.spend(email)
        account_input.new_password(data.password, data.confirmPassword)
        username = account_input.username(data.username) if data.username else None
        await flows.register(
            Registration(email, data.password, username, data.firstName, data.lastName)
        )
        return Answer(
            data=Registered(email=email, verificationRequired=True), message=GENERIC_REGISTER
        )

    @post(
        "/api/v1/auth/login",
        tags=tags,
        status_code=200,
        summary="Sign in with a password",
        opt=AUTH_LIMITED,
        responses=SIGN_IN_REFUSALS,
    )
    async def login(data: JSONBody[CredentialsBody], request: Request) -> Answer[Tokens]:
        email = account_input.email(data.email)
        await throttle.spend(email)
        signed_in = await sign_in.with_password(email, data.password, request)
        return Answer(data=signed_in.view(), message="Login successful")

    @post(
        "/api/v1/auth/validate",
        tags=tags,
        status_code=200,
        summary="Check credentials without opening a session (NextAuth credentials provider)",
        opt=AUTH_LIMITED,
        responses=SIGN_IN_REFUSALS,
    )
    async def validate(data: JSONBody[CredentialsBody], request: Request) -> Answer[UserOnly]:
        email = account_input.email(data.email)
        await throttle.spend(email)
        user = await sign_in.check_password(email, data.password)
        async with runtime.pool.acquire() as conn:
            await accounts_store.record_login(conn, user["id"])
            granted = await accounts_store.permissions_of(conn, list(user["roles"]))
        return Answer(data=UserOnly(user=AuthUser.of(user, granted)))

    @post(
        "/api/v1/auth/refresh",
        tags=tags,
        status_code=200,
        summary="Rotate a refresh token",
        responses=refusals({401: "The refresh token is invalid or expired"}),
    )
    async def refresh(data: JSONBody[RefreshBody], request: Request) -> Answer[Tokens]:
        signed_in = await sign_in.refresh(data.refreshToken)
        return Answer(data=signed_in.view(), message="Token refreshed")

    @post("/api/v1/auth/logout", tags=tags, status_code=200, summary="End a session")
    async def logout(data: JSONBody[RefreshBody], request: Request) -> Nothing:
        await sign_in.sign_out(data.refreshToken)
        return Nothing(message="Logged out successfully")

    @get(
        "/api/v1/auth/me",
        guards=[ctx.require_user()],
        tags=tags,
        summary="The signed-in user",
    )
    async def me(request: Request) -> Answer[UserOnly]:
        async with runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, signed_in_user(request))
            if user is None:
                raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
            granted = await accounts_store.permissions_of(conn, list(user["roles"]))
        if not user["is_active"]:
            raise ApiError(403, "This account is disabled", "ACCOUNT_DISABLED")
        return Answer(data=UserOnly(user=AuthUser.of(user, granted)))

    @get(
        "/api/v1/auth/check-email",
        guards=[ctx.require(catalogue.USER_READ)],
        tags=tags,
        summary="Whether an email is registered (service callers and admins)",
    )
    async def check_email(
        email: Annotated[
            str,
            QueryParameter(max_length=MAX_EMAIL_LENGTH, schema_extra={"pattern": EMAIL_PATTERN}),
        ],
    ) -> Answer[EmailRegistered]:
        address = account_input.email(email)
        async with runtime.pool.acquire() as conn:
            exists = await accounts_store.email_taken(conn, address)
        return Answer(data=EmailRegistered(email=address, exists=exists))

    @get(
        "/api/v1/auth/users/{user_id:uuid}",
        guards=[ctx.require(catalogue.USER_READ)],
        tags=tags,
        summary="A user by id",
    )
    async def user_by_id(user_id: FromPath[UUID]) -> Answer[UserOnly]:
        async with runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, user_id)
        if user is None:
            raise ApiError(404, "User not found")
        return Answer(data=UserOnly(user=AuthUser.of(user)))

    @post(
        "/api/v1/auth/verify-email",
        tags=tags,
        status_code=200,
        summary="Use a verify link",
        opt=AUTH_LIMITED,
    )
    async def verify_email(
        data: JSONBody[VerifyEmailBody], request: Request
    ) -> Answer[EmailVerified]:
        user = await flows.verify_email(data.token, data.id)
        verified = EmailVerified(email=user["email"], emailVerified=user["email_verified_at"])
        return Answer(data=verified, message="Email verified successfully")

    @post(
        "/api/v1/auth/forgot-password",
        tags=tags,
        status_code=200,
        summary="Mail a reset link",
        opt=AUTH_LIMITED,
    )
    async def forgot_password(data: JSONBody[EmailBody], request: Request) -> Response[Nothing]:
        email = account_input.email(data.email)
        await throttle.spend(email)
        # Mailed after answering: a known and an unknown address answer alike and as fast.
        return Response(
            Nothing(message=GENERIC_RESET), background=_mailed(email, flows.forgot_password)
        )

    @post(
        "/api/v1/auth/reset-password",
        tags=tags,
        status_code=200,
        summary="Use a reset link",
        opt=AUTH_LIMITED,
    )
    async def reset_password(data: JSONBody[ResetPasswordBody], request: Request) -> Nothing:
        account_input.new_password(data.password, data.confirmPassword)
        await flows.reset_password(data.token, data.password, data.id, request)
        return Nothing(message="Password reset successfully")

    @post(
        "/api/v1/auth/magic-link",
        tags=tags,
        status_code=200,
        summary="Mail a sign-in link",
        opt=AUTH_LIMITED,
    )
    async def magic_link(data: JSONBody[EmailBody], request: Request) -> Response[Nothing]:
        email = account_input.email(data.email)
        await throttle.spend(email)
        return Response(
            Nothing(message=GENERIC_MAGIC), background=_mailed(email, flows.request_magic_link)
        )

    @post(
        "/api/v1/auth/magic-link/verify",
        tags=tags,
        status_code=200,
        summary="Sign in with a magic link",
        opt=AUTH_LIMITED,
        responses=refusals({401: "The sign-in link is invalid, used or expired"}),
    )
    async def magic_link_verify(data: JSONBody[TokenBody], request: Request) -> Answer[Tokens]:
        signed_in = await flows.magic_link_sign_in(data.token, request)
        return Answer(data=signed_in.view(), message="Magic link verified")

    @post(
        "/api/v1/auth/unlock",
        tags=tags,
        status_code=200,
        summary="Use an unlock link: end a lockout after failed sign-ins",
        opt=AUTH_LIMITED,
    )
    async def unlock(data: JSONBody[TokenBody], request: Request) -> Nothing:
        await sign_in.lockout.unlock(data.token)
        return Nothing(message="Account unlocked: you can sign in again")

    def _mailed(email: str, send: Any) -> BackgroundTask:
        return BackgroundTask(throttle.mail, email, send)

    @get(
        "/.well-known/jwks.json",
        tags=tags,
        summary="Public keys that verify access tokens",
        sync_to_thread=False,
        media_type="application/jwk-set+json",
    )
    def jwks() -> Response[JwkSet]:
        # Read by JWT libraries: the bare RFC 7517 document, not the envelope.
        return Response(
            msgspec.convert(ctx.auth.keys.jwks(), JwkSet),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return [
        register,
        login,
        validate,
        refresh,
        logout,
        me,
        check_email,
        user_by_id,
        verify_email,
        forgot_password,
        reset_password,
        magic_link,
        magic_link_verify,
        unlock,
        jwks,
    ]
