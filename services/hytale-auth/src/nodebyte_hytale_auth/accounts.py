"""Authorised Hytale accounts: their OAuth tokens, sealed at rest, and renewing them.

Refresh tokens rotate: each use invalidates the one used, and reusing an old
one can revoke the whole chain. So a refresh holds the account's row lock from
reading the refresh token until the new one is committed; a second replica (or
request) waits, then sees the renewed tokens and does not refresh again. The
upstream call is the last thing before the commit, which keeps the window in
which a crash could lose a rotated token as small as a round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from uuid import UUID

import asyncpg

from nodebyte_common import events, outbox
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.audit import SYSTEM, AuditWriter, Caller
from nodebyte_hytale_auth.metrics import REFRESHES
from nodebyte_hytale_auth.refresh_timing import renew_at, retry_delay
from nodebyte_hytale_auth.sealed import access_context, refresh_context
from nodebyte_hytale_auth.settings import HytaleAuthSettings
from nodebyte_hytale_auth.upstream import HytaleUpstream, ProfileList, TokenGrant, UpstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")
SOURCE = "nodebyte/hytale-auth"
# always: the caller asked; due: the sweep (only past refresh_at); expiring: before a use
RefreshMode = Literal["always", "due", "expiring"]
EXPIRING_WITHIN = timedelta(seconds=60)  # or a quarter of a shorter lifetime


class Accounts:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        upstream: HytaleUpstream,
        sealer: Sealer,
        audit: AuditWriter,
        settings: HytaleAuthSettings,
    ) -> None:
        self._pool_of = pool_of
        self.upstream = upstream
        self.sealer = sealer
        self.audit = audit
        self.settings = settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()

    # --- new authorisations --------------------------------------------------------

    async def store_grant(
        self, conn: asyncpg.Connection, grant: TokenGrant, profiles: ProfileList
    ) -> bool:
        """Keep the tokens of a completed device flow; True when the account is new."""
        if grant.refresh_token is None:
            raise dependency_failure(502, "Hytale issued no refresh token", "INTEGRATION_ERROR")
        account_id = profiles.owner
        columns = self._token_columns(account_id, grant, grant.refresh_token)
        created = await conn.fetchval(
            """INSERT INTO accounts (account_id, access_token_sealed, refresh_token_sealed, scope,
                   access_expires_at, refresh_expires_at, refresh_at, session_limit)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (account_id) DO UPDATE SET status = 'active',
                   access_token_sealed = $2, refresh_token_sealed = $3, scope = $4,
                   access_expires_at = $5, refresh_expires_at = $6, refresh_at = $7,
                   refresh_failures = 0, last_refresh_error = NULL,
                   token_refreshed_at = now(), updated_at = now()
               RETURNING xmax = 0""",
            account_id,
            *columns,
            self.settings.hytale_default_session_limit,
        )
        await store_profiles(conn, account_id, profiles)
        return bool(created)

    def _token_columns(
        self, account_id: UUID, grant: TokenGrant, refresh_token: str
    ) -> tuple[Any, ...]:
        now = datetime.now(UTC)
        access_expires = now + timedelta(seconds=grant.expires_in)
        refresh_expires = now + timedelta(
            seconds=self.settings.hytale_refresh_token_lifetime_seconds
        )
        settings = self.settings
        renew = renew_at(
            now,
            access_expires,
            settings.hytale_token_refresh_lead_seconds,
            settings.hytale_refresh_slack_seconds,
        )
        return (
            self.sealer.seal(grant.access_token, access_context(account_id)),
            self.sealer.seal(refresh_token, refresh_context(account_id)),
            grant.scope,
            access_expires,
            refresh_expires,
            renew,
        )

    # --- renewing -------------------------------------------------------------------

    async def refresh(
        self,
        account_id: UUID,
        *,
        mode: RefreshMode = "always",
        caller: Caller = SYSTEM,
        skip_locked: bool = False,
    ) -> bool:
        """Renew the account's tokens; False when there was nothing to do (or it was busy)."""
        failure: ApiError | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '20s'")
            row = await _lock_account(conn, account_id, skip_locked)
            if row is None:
                if skip_locked:
                    return False
                raise errors.account_not_found()
            now = datetime.now(UTC)
            if row["status"] != "active":
                raise errors.reauthorization_needed(expired=row["refresh_expires_at"] <= now)
            if not _wanted(row, mode, now):
                return False
            if row["refresh_expires_at"] <= now:
                failure = await self._needs_reauth(conn, account_id, "refresh token expired", True)
            else:
                failure = await self._renew(conn, row)
        if failure is not None:
            if failure.code in ("INVALID_TOKEN", "EXPIRED_TOKEN"):
                self.audit.record("AUTH_FAILED", caller, account_id=account_id, reason=failure.code)
            raise failure
        self.audit.record("TOKEN_REFRESHED", caller, account_id=account_id)
        return True

    async def _renew(self, conn: asyncpg.Connection, row: asyncpg.Record) -> ApiError | None:
        """Exchange the refresh token; the failure to answer with, or None when renewed."""
        account_id = row["account_id"]
        refresh_token = self.sealer.open(row["refresh_token_sealed"], refresh_context(account_id))
        try:
            grant = await self.upstream.refresh_tokens(refresh_token)
        except UpstreamError as exc:
            REFRESHES.labels("token", "failed").inc()
            if exc.error == "invalid_grant":
                return await self._needs_reauth(conn, account_id, exc.description, False)
            await conn.execute(
                """UPDATE accounts SET refresh_failures = refresh_failures + 1,
                       last_refresh_error = $2, refresh_at = now() + $3, updated_at = now()
                   WHERE account_id = $1""",
                account_id,
                f"{exc.status} {exc.error}",
                retry_delay(row["refresh_failures"] + 1),
            )
            return errors.from_upstream(exc)
        columns = self._token_columns(account_id, grant, grant.refresh_token or refresh_token)
        await conn.execute(
            """UPDATE accounts SET access_token_sealed = $2, refresh_token_sealed = $3,
                   scope = $4, access_expires_at = $5, refresh_expires_at = $6, refresh_at = $7,
                   refresh_failures = 0, last_refresh_error = NULL, token_refreshed_at = now(),
                   updated_at = now()
               WHERE account_id = $1""",
            account_id,
            *columns,
        )
        await outbox.enqueue(
            conn, events.TokenRefreshed(account_id=account_id, expires_at=columns[3]), source=SOURCE
        )
        REFRESHES.labels("token", "ok").inc()
        return None

    async def _needs_reauth(
        self, conn: asyncpg.Connection, account_id: UUID, reason: str, expired: bool
    ) -> ApiError:
        await conn.execute(
            """UPDATE accounts SET status = 'needs_reauth', last_refresh_error = $2,
                   updated_at = now() WHERE account_id = $1""",
            account_id,
            reason[:300],
        )
        log.warning(
            "hytale account needs a new authorisation",
            extra={"account_id": str(account_id), "reason": reason[:300]},
        )
        return errors.reauthorization_needed(expired)

    async def refresh_due(self, guard: asyncio.Semaphore) -> int:
        """The sweep: renew every account past its refresh time; return how many were renewed."""
        async with self.pool.acquire() as conn:
            due = await conn.fetch(
                """SELECT account_id FROM accounts WHERE status = 'active' AND refresh_at <= now()
                   ORDER BY refresh_at LIMIT 200"""
            )

        async def one(account_id: UUID) -> bool:
            async with guard:
                try:
                    return await self.refresh(account_id, mode="due", skip_locked=True)
                except ApiError as exc:
                    log.warning(
                        "token refresh failed; will retry",
                        extra={"account_id": str(account_id), "code": exc.code},
                    )
                    return False

        return sum(await asyncio.gather(*(one(r["account_id"]) for r in due)))

    # --- using the access token ---------------------------------------------------

    async def access_token(self, account_id: UUID) -> str:
        """A usable access token, renewed first when it is about to expire."""
        for _ in range(2):
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    """SELECT status, access_token_sealed, access_expires_at, refresh_expires_at,
                              token_refreshed_at FROM accounts WHERE account_id = $1""",
                    account_id,
                )
            if row is None:
                raise errors.account_not_found()
            now = datetime.now(UTC)
            if row["status"] != "active":
                raise errors.reauthorization_needed(expired=row["refresh_expires_at"] <= now)
            if row["access_expires_at"] > now + _margin(row):
                return self.sealer.open(row["access_token_sealed"], access_context(account_id))
            await self.refresh(account_id, mode="expiring")
        raise errors.reauthorization_needed(expired=True)

    async def with_access_token(self, account_id: UUID, call: Callable[[str], Awaitable[T]]) -> T:
        """Run an upstream call with the account's token; a 401 renews it and tries once more."""
        try:
            return await call(await self.access_token(account_id))
        except UpstreamError as exc:
            if exc.status != 401:
                raise
        await self.refresh(account_id, mode="always")
        return await call(await self.access_token(account_id))

    async def fetch_profiles(self, account_id: UUID) -> ProfileList:
        """The account's profiles as Hytale lists them now (and stored for later)."""
        try:
            listed = await self.with_access_token(account_id, self.upstream.profiles)
        except UpstreamError as exc:
            raise errors.from_upstream(exc) from None
        async with self.pool.acquire() as conn, conn.transaction():
            await store_profiles(conn, account_id, listed)
        return listed


async def _lock_account(
    conn: asyncpg.Connection, account_id: UUID, skip_locked: bool
) -> asyncpg.Record | None:
    lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
    try:
        return await conn.fetchrow(
            f"""SELECT account_id, status, refresh_token_sealed, access_expires_at,
                       refresh_expires_at, refresh_at, refresh_failures, token_refreshed_at
                FROM accounts WHERE account_id = $1 {lock}""",
            account_id,
        )
    except asyncpg.LockNotAvailableError:
        raise ApiError(409, "A refresh of this account is in progress", "CONFLICT") from None


def _wanted(row: asyncpg.Record, mode: RefreshMode, now: datetime) -> bool:
    if mode == "due":
        return row["refresh_at"] <= now
    if mode == "expiring":
        return row["access_expires_at"] <= now + _margin(row)
    return True


def _margin(row: asyncpg.Record) -> timedelta:
    """How close to expiry an access token is renewed before use."""
    lifetime = row["access_expires_at"] - row["token_refreshed_at"]
    return min(EXPIRING_WITHIN, lifetime / 4)


async def store_profiles(conn: asyncpg.Connection, account_id: UUID, listed: ProfileList) -> None:
    """Replace the stored profiles; a selected profile that is gone is unselected."""
    ids = [p.uuid for p in listed.profiles]
    await conn.execute(
        "DELETE FROM profiles WHERE account_id = $1 AND NOT (profile_uuid = ANY($2::uuid[]))",
        account_id,
        ids,
    )
    await conn.executemany(
        """INSERT INTO profiles (account_id, profile_uuid, username) VALUES ($1, $2, $3)
           ON CONFLICT (account_id, profile_uuid) DO UPDATE SET username = $3""",
        [(account_id, p.uuid, p.username) for p in listed.profiles],
    )
    await conn.execute(
        """UPDATE accounts SET selected_profile_uuid = NULL
           WHERE account_id = $1 AND NOT (selected_profile_uuid = ANY($2::uuid[]))""",
        account_id,
        ids,
    )
