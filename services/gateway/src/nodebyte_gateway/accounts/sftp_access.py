"""Internal `POST /internal/v1/sftp/access`: do these SFTP credentials prove an account?

The node-agent-gateway serves SFTP and asks here on each sign-in. A password
is checked as the HTTP sign-in checks it and its failures count against the
same lockout (keyed by the account's email, or by the name when no account
has it, so a refusal tells nobody whether the account exists); a public key
must be one the account registered. The answer is the account's file
permissions now, from its roles, as the HTTP file routes judge them.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request, post

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import sftp as contracts
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_gateway.accounts import accounts_store, permissions, ssh_keys
from nodebyte_gateway.accounts.sign_in import SignIn
from nodebyte_gateway.context import GatewayContext

FILE_PERMISSIONS = (catalogue.FILE_READ, catalogue.FILE_WRITE)


def refused() -> ApiError:
    return ApiError(401, "Invalid username or credentials", "INVALID_CREDENTIALS")


class SftpAccessCheck:
    def __init__(self, sign_in: SignIn) -> None:
        self.sign_in = sign_in

    async def access(self, credentials: contracts.SftpCredentials) -> contracts.SftpAccess:
        if (credentials.password is None) == (credentials.public_key is None):
            raise ApiError(400, "Give exactly one of password and publicKey")
        async with self.sign_in.runtime.pool.acquire() as conn:
            user = await accounts_store.by_username(conn, credentials.username)
        if credentials.password is not None:
            await self._check_password(user, credentials.username, credentials.password)
        else:
            await self._check_key(user, credentials.public_key or "")
        assert user is not None  # both checks refuse an unknown name
        if not user["is_active"]:
            raise ApiError(403, "This account is disabled", "ACCOUNT_DISABLED")
        if user["email_verified_at"] is None:
            raise ApiError(403, "Verify your email first", "EMAIL_NOT_VERIFIED")
        async with self.sign_in.runtime.pool.acquire() as conn:
            granted = await accounts_store.active_user_permissions(conn, user["id"]) or []
        held = [p for p in FILE_PERMISSIONS if permissions.grants(granted, p)]
        return contracts.SftpAccess(user_id=user["id"], permissions=held)

    async def _check_password(
        self, user: asyncpg.Record | None, username: str, password: str
    ) -> None:
        lockout = self.sign_in.lockout
        key = user["email"].lower() if user is not None else username.lower()
        await lockout.ensure_unlocked(key)
        verdict = await self.sign_in.auth.passwords.verify_async(
            user["password_hash"] if user is not None else None, password
        )
        if user is None or not verdict.ok:
            await lockout.failed(key)
            raise refused()
        await lockout.succeeded(key)

    async def _check_key(self, user: asyncpg.Record | None, line: str) -> None:
        try:
            key = ssh_keys.parse(line)
        except ApiError:
            raise refused() from None
        if user is None:
            raise refused()
        async with self.sign_in.runtime.pool.acquire() as conn:
            if not await ssh_keys.holds(conn, user["id"], key):
                raise refused()


def routes(ctx: GatewayContext) -> list[Any]:
    """Handlers of the gateway's internal router (behind the service token)."""
    check = SftpAccessCheck(SignIn(ctx.runtime, ctx.auth, ctx.settings))

    # The service token is the caller's credential; the lockout bounds guessing.
    @post(contracts.SFTP_ACCESS, status_code=200, opt={"rate_limit": "none"})
    async def sftp_access(request: Request) -> Answer[contracts.SftpAccess]:
        body = decode_body(await request.body(), contracts.SftpCredentials, empty_ok=False)
        return Answer(data=await check.access(body))

    return [sftp_access]
