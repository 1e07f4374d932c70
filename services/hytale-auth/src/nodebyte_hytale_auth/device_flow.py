"""RFC 8628 device authorization grant against Hytale's OAuth server, polled by our clients.

A client starts a flow, shows the user code, and polls us; we poll Hytale for
it, never faster than the flow's interval (a poll that comes too soon is
answered from our state, so the upstream never sees it). Upstream answers map
onto ours:

| upstream | our answer |
|---|---|
| authorization_pending | 202 `status: authorization_pending` |
| slow_down | 202 `status: slow_down`, the interval grows by 5 s |
| expired_token (or our caps: 30 min life, 15 min of polling) | 400 INVALID_DEVICE_CODE |
| access_denied | 403 FORBIDDEN, reason access_denied |
| invalid_grant (unknown or used code) | 400 INVALID_DEVICE_CODE |
| tokens | 200: the account, its profiles, masked tokens |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common.contracts.hytale import (
    Authorized,
    DeviceCode,
    Pending,
    Profile,
    SlowDown,
    TokenPollAnswer,
)
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import mask
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.accounts import Accounts
from nodebyte_hytale_auth.audit import AuditWriter, Caller
from nodebyte_hytale_auth.settings import HytaleAuthSettings
from nodebyte_hytale_auth.upstream import HytaleUpstream, ProfileList, TokenGrant, UpstreamError

SLOW_DOWN_STEP = 5


def code_hash(device_code: str) -> bytes:
    return hashlib.sha256(device_code.encode()).digest()


@dataclass
class PollAnswer:
    """What a poll answers when it is not an error: 202 while waiting, 200 when authorised."""

    status: int
    data: TokenPollAnswer
    message: str
    new_tokens: bool = False  # the flow authorised just now (not a repeated poll)


class DeviceFlows:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        upstream: HytaleUpstream,
        accounts: Accounts,
        audit: AuditWriter,
        settings: HytaleAuthSettings,
    ) -> None:
        self._pool_of = pool_of
        self.upstream = upstream
        self.accounts = accounts
        self.audit = audit
        self.settings = settings

    async def start(self, caller: Caller) -> DeviceCode:
        try:
            grant = await self.upstream.request_device_code()
        except UpstreamError as exc:
            raise errors.from_upstream(exc) from None
        now = datetime.now(UTC)
        lifetime = min(grant.expires_in, self.settings.hytale_device_code_max_seconds)
        flow_id = uuid6.uuid7()
        async with self._pool_of().acquire() as conn:
            await conn.execute(
                """INSERT INTO device_flows (id, device_code_hash, user_code, verification_uri,
                       verification_uri_complete, interval_seconds, expires_at, poll_until)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                flow_id,
                code_hash(grant.device_code),
                grant.user_code,
                grant.verification_uri,
                grant.verification_uri_complete,
                grant.interval,
                now + timedelta(seconds=lifetime),
                now + timedelta(seconds=self.settings.hytale_device_poll_max_seconds),
            )
        return DeviceCode(
            flow_id=flow_id,
            device_code=grant.device_code,
            user_code=grant.user_code,
            verification_uri=grant.verification_uri,
            verification_uri_complete=grant.verification_uri_complete,
            expires_in=lifetime,
            interval=grant.interval,
        )

    async def poll(self, device_code: str, caller: Caller) -> PollAnswer:
        outcome: PollAnswer | ApiError
        async with self._pool_of().acquire() as conn, conn.transaction():
            flow = await conn.fetchrow(
                "SELECT * FROM device_flows WHERE device_code_hash = $1 FOR UPDATE",
                code_hash(device_code),
            )
            if flow is None:
                outcome = ApiError(
                    400, "Unknown device code", "INVALID_DEVICE_CODE", {"reason": "unknown"}
                )
            else:
                outcome = await self._advance(conn, flow, device_code)
        if isinstance(outcome, ApiError):
            if outcome.code in ("INVALID_DEVICE_CODE", "FORBIDDEN"):
                reason = (outcome.details or {}).get("reason", outcome.code)
                self.audit.record("AUTH_FAILED", caller, reason=reason)
            raise outcome
        if outcome.new_tokens and isinstance(outcome.data, Authorized):
            self.audit.record("TOKEN_CREATED", caller, account_id=outcome.data.account_id)
        return outcome

    async def _advance(
        self, conn: asyncpg.Connection, flow: asyncpg.Record, device_code: str
    ) -> PollAnswer | ApiError:
        now = datetime.now(UTC)
        if flow["status"] == "authorized":
            return await self._authorized(conn, flow["account_id"], None, None)
        if flow["status"] == "denied":
            return _denied()
        if flow["status"] == "expired" or now >= min(flow["expires_at"], flow["poll_until"]):
            await _set(conn, flow["id"], status="expired")
            return _expired()
        interval = flow["interval_seconds"]
        last = flow["last_polled_at"]
        if last is not None and now < last + timedelta(seconds=interval):
            return _waiting("slow_down", interval, flow["expires_at"] - now)
        await _set(conn, flow["id"], last_polled_at=now)
        try:
            grant = await self.upstream.poll_device_code(device_code)
        except UpstreamError as exc:
            return await self._upstream_refused(conn, flow, exc, now)
        try:
            profiles = await self.upstream.profiles(grant.access_token)
        except UpstreamError as exc:
            return errors.from_upstream(exc)
        created = await self.accounts.store_grant(conn, grant, profiles)
        await _set(conn, flow["id"], status="authorized", account_id=profiles.owner, completed=now)
        return await self._authorized(conn, profiles.owner, grant, profiles, created)

    async def _upstream_refused(
        self, conn: asyncpg.Connection, flow: asyncpg.Record, exc: UpstreamError, now: datetime
    ) -> PollAnswer | ApiError:
        remaining = flow["expires_at"] - now
        if exc.error == "authorization_pending":
            return _waiting("authorization_pending", flow["interval_seconds"], remaining)
        if exc.error == "slow_down":
            interval = flow["interval_seconds"] + SLOW_DOWN_STEP
            await _set(conn, flow["id"], interval_seconds=interval)
            return _waiting("slow_down", interval, remaining)
        if exc.error == "expired_token":
            await _set(conn, flow["id"], status="expired")
            return _expired()
        if exc.error == "access_denied":
            await _set(conn, flow["id"], status="denied")
            return _denied()
        if exc.error == "invalid_grant":
            return ApiError(
                400,
                "The device code is not valid (unknown or already used)",
                "INVALID_DEVICE_CODE",
                {"reason": "invalid_grant"},
            )
        return errors.from_upstream(exc)

    async def _authorized(
        self,
        conn: asyncpg.Connection,
        account_id: UUID,
        grant: TokenGrant | None,
        profiles: ProfileList | None,
        created: bool = False,
    ) -> PollAnswer:
        """The account a completed flow authorised (tokens shown masked, and only once)."""
        rows = await conn.fetch(
            "SELECT profile_uuid, username FROM profiles WHERE account_id = $1 ORDER BY username",
            account_id,
        )
        data = Authorized(
            account_id=account_id,
            profiles=[Profile(uuid=r["profile_uuid"], username=r["username"]) for r in rows],
            access_token=mask(grant.access_token) if grant else None,
            refresh_token=mask(grant.refresh_token) if grant else None,
            token_type="Bearer",  # noqa: S106 (the scheme's name, not a secret)
            expires_in=grant.expires_in if grant else None,
            scope=grant.scope if grant else None,
        )
        message = "Account authorised" + (" (new account)" if created else "")
        return PollAnswer(200, data, message, new_tokens=grant is not None)

    async def clean_up(self) -> int:
        """Forget flows that ended more than a day ago."""
        async with self._pool_of().acquire() as conn:
            done = await conn.execute(
                "DELETE FROM device_flows WHERE created_at < now() - interval '1 day'"
            )
        return int(done.split()[-1])


def _waiting(
    status: Literal["authorization_pending", "slow_down"], interval: int, remaining: timedelta
) -> PollAnswer:
    expires_in = max(0, int(remaining.total_seconds()))
    if status == "authorization_pending":
        waiting = Pending(interval=interval, expires_in=expires_in)
        return PollAnswer(202, waiting, "Waiting for the user to authorize")
    slow = SlowDown(interval=interval, expires_in=expires_in)
    return PollAnswer(202, slow, f"Polling too fast; wait {interval} seconds between polls")


def _expired() -> ApiError:
    return ApiError(
        400,
        "The device code has expired; request a new one",
        "INVALID_DEVICE_CODE",
        {"reason": "expired_token"},
    )


def _denied() -> ApiError:
    return ApiError(
        403, "The user denied the authorization", "FORBIDDEN", {"reason": "access_denied"}
    )


async def _set(
    conn: asyncpg.Connection,
    flow_id: UUID,
    *,
    status: str | None = None,
    last_polled_at: datetime | None = None,
    interval_seconds: int | None = None,
    account_id: UUID | None = None,
    completed: datetime | None = None,
) -> None:
    await conn.execute(
        """UPDATE device_flows SET status = COALESCE($2, status),
               last_polled_at = COALESCE($3, last_polled_at),
               interval_seconds = COALESCE($4, interval_seconds),
               account_id = COALESCE($5, account_id),
               completed_at = COALESCE($6, completed_at)
           WHERE id = $1""",
        flow_id,
        status,
        last_polled_at,
        interval_seconds,
        account_id,
        completed,
    )
