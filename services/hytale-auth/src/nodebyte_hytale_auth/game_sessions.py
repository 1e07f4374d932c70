"""Game sessions: create, refresh, delete; linked to a panel server; kept alive unattended.

Tokens from Hytale are validated (signature, issuer, audience, profile) before
they are stored or pushed. A session's expiry is the earliest of `expiresAt`
and the tokens' own `exp`; it is renewed ahead of that (see `refresh_timing`)
on the scheduler's ticks; Hytale answers a refresh with a successor session, and
the superseded one is deleted there. A server-linked session Hytale no longer knows (it
expired, or was ended elsewhere) is replaced by a new one for the same server,
so a server keeps a working session for as long as an account can give it one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.contracts.hytale import Session, SessionDeleted
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.account_pool import AccountPool
from nodebyte_hytale_auth.accounts import SOURCE, Accounts
from nodebyte_hytale_auth.audit import SYSTEM, AuditWriter, Caller
from nodebyte_hytale_auth.metrics import REFRESHES
from nodebyte_hytale_auth.panel_push import SessionPusher
from nodebyte_hytale_auth.refresh_timing import renew_at, retry_delay
from nodebyte_hytale_auth.sealed import identity_context, session_context
from nodebyte_hytale_auth.session_tokens import TokenRefused, TokenValidator, signing_kid
from nodebyte_hytale_auth.session_views import COLUMNS, session_view
from nodebyte_hytale_auth.settings import HytaleAuthSettings
from nodebyte_hytale_auth.upstream import HytaleUpstream, SessionGrant, UpstreamError

log = logging.getLogger(__name__)


GONE_UPSTREAM = (401, 404)


@dataclass(frozen=True)
class NewSession:
    account_id: UUID | None = None
    profile_uuid: UUID | None = None
    server_id: int | None = None


@dataclass(frozen=True)
class _Tokens:
    session: str
    identity: str
    expires_at: datetime


class GameSessions:
    def __init__(
        self,
        pool_of: Callable[[], asyncpg.Pool],
        *,
        upstream: HytaleUpstream,
        accounts: Accounts,
        account_pool: AccountPool,
        validator: TokenValidator,
        sealer: Sealer,
        audit: AuditWriter,
        pusher: SessionPusher,
        settings: HytaleAuthSettings,
    ) -> None:
        self._pool_of = pool_of
        self.upstream = upstream
        self.accounts = accounts
        self.account_pool = account_pool
        self.validator = validator
        self.sealer = sealer
        self.audit = audit
        self.pusher = pusher
        self.settings = settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()

    # --- creating -----------------------------------------------------------------

    async def create(self, wanted: NewSession, caller: Caller = SYSTEM) -> Session:
        if wanted.server_id is not None:
            await self._refuse_if_server_has_one(wanted.server_id)
        candidates = await self._candidates(wanted)
        explicit = wanted.account_id is not None or wanted.profile_uuid is not None
        if explicit:
            await self._refuse_if_account_is_full(candidates[0][0])
        for account_id, profile_uuid in candidates:
            try:
                grant = await self.accounts.with_access_token(
                    account_id, lambda token, p=profile_uuid: self.upstream.new_session(token, p)
                )
            except UpstreamError as exc:
                if exc.status != 403:
                    raise errors.from_upstream(exc) from None
                await self.account_pool.mark_limit_reached(account_id)
                log.info("account at its session limit", extra={"account_id": str(account_id)})
                if explicit:
                    raise errors.session_limit({"account_id": str(account_id)}) from None
                continue
            return await self._store_new(account_id, profile_uuid, wanted.server_id, grant, caller)
        raise errors.session_limit({"accounts_tried": len(candidates)})

    async def _refuse_if_server_has_one(self, server_id: int) -> None:
        async with self.pool.acquire() as conn:
            existing = await conn.fetchval(
                "SELECT id FROM game_sessions WHERE server_id = $1 AND status = 'active'", server_id
            )
        if existing is not None:
            raise ApiError(
                409,
                "The server already has a game session; delete it first",
                "SESSION_EXISTS",
                {"session_id": str(existing)},
            )

    async def _refuse_if_account_is_full(self, account_id: UUID) -> None:
        """An account named by the caller keeps to its session limit as the pool's picks do."""
        capacity = await self.account_pool.capacity_of(account_id)
        if capacity is not None and capacity.free == 0:
            raise errors.session_limit(
                {"account_id": str(account_id), "session_limit": capacity.session_limit}
            )

    async def _candidates(self, wanted: NewSession) -> list[tuple[UUID, UUID]]:
        """(account, profile) pairs to try, in order."""
        if wanted.account_id is not None:
            return [(wanted.account_id, await self._profile_of(wanted.account_id, wanted))]
        if wanted.profile_uuid is not None:
            async with self.pool.acquire() as conn:
                owner = await conn.fetchval(
                    "SELECT account_id FROM profiles WHERE profile_uuid = $1", wanted.profile_uuid
                )
            if owner is None:
                raise ApiError(404, "No authorised account owns this profile", "ACCOUNT_NOT_FOUND")
            return [(owner, wanted.profile_uuid)]
        free, usable = await self.account_pool.candidates()
        if usable == 0:
            raise ApiError(404, "No authorised Hytale account is in the pool", "ACCOUNT_NOT_FOUND")
        return [(c.account_id, await self._profile_of(c.account_id, wanted)) for c in free]

    async def _profile_of(self, account_id: UUID, wanted: NewSession) -> UUID:
        """The profile asked for (it must be the account's), else the selected, else the first."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT selected_profile_uuid FROM accounts WHERE account_id = $1", account_id
            )
            if row is None:
                raise errors.account_not_found()
            known = [
                r["profile_uuid"]
                for r in await conn.fetch(
                    "SELECT profile_uuid FROM profiles WHERE account_id = $1 ORDER BY username",
                    account_id,
                )
            ]
        if not known:
            known = [p.uuid for p in (await self.accounts.fetch_profiles(account_id)).profiles]
        if wanted.profile_uuid is not None:
            if wanted.profile_uuid not in known:
                raise errors.invalid_request("The profile does not belong to the account")
            return wanted.profile_uuid
        if row["selected_profile_uuid"] is not None:
            return row["selected_profile_uuid"]
        if not known:
            raise errors.invalid_request("The account has no game profile")
        return known[0]

    async def _store_new(
        self,
        account_id: UUID,
        profile_uuid: UUID,
        server_id: int | None,
        grant: SessionGrant,
        caller: Caller,
    ) -> Session:
        tokens = await self._validated(grant, profile_uuid)
        session_id = uuid6.uuid7()
        now = datetime.now(UTC)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"""INSERT INTO game_sessions (id, account_id, profile_uuid, server_id,
                           session_token_sealed, identity_token_sealed, expires_at, refresh_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}""",
                    session_id,
                    account_id,
                    profile_uuid,
                    server_id,
                    *self._sealed(session_id, tokens),
                    tokens.expires_at,
                    self._renew_at(now, tokens.expires_at),
                )
                await self.account_pool.clear_limit_reached(conn, account_id)
                await outbox.enqueue(
                    conn,
                    events.SessionCreated(
                        session_id=session_id,
                        account_id=account_id,
                        profile_uuid=profile_uuid,
                        server_id=server_id,
                        expires_at=tokens.expires_at,
                    ),
                    source=SOURCE,
                )
        except asyncpg.UniqueViolationError:
            # Another request linked a session to this server meanwhile: give ours back.
            await self._end_upstream_quietly(tokens.session)
            assert server_id is not None
            await self._refuse_if_server_has_one(server_id)
            raise
        self.audit.record(
            "SESSION_CREATED",
            caller,
            account_id=account_id,
            profile_uuid=profile_uuid,
            session_id=session_id,
            server_id=server_id,
        )
        if server_id is not None:
            self.pusher.wake()
        return session_view(row, tokens.session, tokens.identity)

    async def _validated(self, grant: SessionGrant, profile_uuid: UUID) -> _Tokens:
        """The grant's tokens after validation, with the earliest of the expiry times.

        A grant whose tokens do not validate is given back (its session deleted at
        Hytale); a refresh keeps the session it had, since the fault may be ours (a
        JWKS we could not fetch) and the next tick tries again.
        """
        try:
            session = await self.validator.validate(
                grant.session_token, "session", subject=profile_uuid
            )
            identity = await self.validator.validate(
                grant.identity_token, "identity", subject=profile_uuid
            )
        except TokenRefused as exc:
            await self._end_upstream_quietly(grant.session_token)
            raise dependency_failure(
                502,
                "Hytale issued session tokens that do not validate",
                "INTEGRATION_ERROR",
                reason=exc.reason,
            ) from None
        expires_at = min(
            grant.expires_at.astimezone(UTC),
            datetime.fromtimestamp(session.expires_at, UTC),
            datetime.fromtimestamp(identity.expires_at, UTC),
        )
        return _Tokens(grant.session_token, grant.identity_token, expires_at)

    def _sealed(self, session_id: UUID, tokens: _Tokens) -> tuple[str, str]:
        return (
            self.sealer.seal(tokens.session, session_context(session_id)),
            self.sealer.seal(tokens.identity, identity_context(session_id)),
        )

    def _renew_at(self, issued: datetime, expires: datetime) -> datetime:
        s = self.settings
        return renew_at(
            issued, expires, s.hytale_session_refresh_lead_seconds, s.hytale_refresh_slack_seconds
        )

    async def _end_upstream_quietly(self, session_token: str) -> None:
        with contextlib.suppress(UpstreamError):
            await self.upstream.delete_session(session_token)

    # --- refreshing ---------------------------------------------------------------

    async def refresh(
        self,
        session_id: UUID,
        *,
        mode: Literal["always", "due"] = "always",
        caller: Caller = SYSTEM,
        skip_locked: bool = False,
    ) -> Session | None:
        """Renew a session's tokens; None when it was not due or another worker holds it."""
        failure: ApiError | None = None
        lost: asyncpg.Record | None = None
        superseded: str | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._lock(conn, session_id, skip_locked)
            if row is None and skip_locked:
                return None
            if row is None or row["status"] != "active":
                raise errors.session_not_found()
            if mode == "due" and row["refresh_at"] > datetime.now(UTC):
                return None
            token = self.sealer.open(row["session_token_sealed"], session_context(session_id))
            try:
                grant = await self.upstream.refresh_session(token)
                tokens = await self._validated_refresh(grant, row)
            except UpstreamError as exc:
                if exc.status in GONE_UPSTREAM:
                    await self._end(conn, row, "expired", "gone upstream")
                    lost, failure = row, errors.session_not_found()
                else:
                    failure = await self._refresh_failed(conn, row, exc)
            else:
                row = await self._store_refreshed(conn, row, tokens)
                superseded = token
        if superseded is not None:  # only once the successor's tokens are stored
            await self._end_superseded(session_id, superseded)
        if lost is not None:
            failure = await self._replace_lost(lost, failure)
        if failure is not None:
            raise failure
        assert row is not None
        self.audit.record(
            "SESSION_REFRESHED",
            caller,
            account_id=row["account_id"],
            profile_uuid=row["profile_uuid"],
            session_id=session_id,
            server_id=row["server_id"],
        )
        if row["server_id"] is not None:
            self.pusher.wake()
        return session_view(row, tokens.session, tokens.identity)

    async def _validated_refresh(self, grant: SessionGrant, row: asyncpg.Record) -> _Tokens:
        try:
            return await self._validated(grant, row["profile_uuid"])
        except ApiError as exc:  # the refusal, as an upstream failure to retry later
            raise UpstreamError(502, "invalid_tokens", exc.message) from None

    async def _end_superseded(self, session_id: UUID, token: str) -> None:
        """Give back the session a refresh replaced: Hytale keeps it open (one of the
        account's concurrent sessions) until it expires unless its holder deletes it."""
        try:
            await self.upstream.delete_session(token)
        except UpstreamError as exc:
            if exc.status not in GONE_UPSTREAM:
                log.warning(
                    "hytale did not end a superseded session; it lapses within its hour",
                    extra={"session_id": str(session_id), "error": exc.error},
                )

    async def _store_refreshed(
        self, conn: asyncpg.Connection, row: asyncpg.Record, tokens: _Tokens
    ) -> asyncpg.Record:
        session_id = row["id"]
        updated = await conn.fetchrow(
            f"""UPDATE game_sessions SET session_token_sealed = $2, identity_token_sealed = $3,
                   expires_at = $4, refresh_at = $5, refreshed_at = now(), refresh_failures = 0,
                   last_refresh_error = NULL, token_generation = token_generation + 1,
                   push_attempts = 0, push_next_at = now()
               WHERE id = $1 RETURNING {COLUMNS}""",
            session_id,
            *self._sealed(session_id, tokens),
            tokens.expires_at,
            self._renew_at(datetime.now(UTC), tokens.expires_at),
        )
        await outbox.enqueue(
            conn,
            events.SessionRefreshed(
                session_id=session_id,
                account_id=row["account_id"],
                server_id=row["server_id"],
                expires_at=tokens.expires_at,
            ),
            source=SOURCE,
        )
        REFRESHES.labels("session", "ok").inc()
        return updated

    async def _refresh_failed(
        self, conn: asyncpg.Connection, row: asyncpg.Record, exc: UpstreamError
    ) -> ApiError:
        REFRESHES.labels("session", "failed").inc()
        failures = row["refresh_failures"] + 1
        await conn.execute(
            """UPDATE game_sessions SET refresh_failures = $2, last_refresh_error = $3,
                   refresh_at = now() + $4 WHERE id = $1""",
            row["id"],
            failures,
            f"{exc.status} {exc.error}",
            retry_delay(failures),
        )
        log.warning(
            "session refresh failed; will retry",
            extra={"session_id": str(row["id"]), "status": exc.status, "error": exc.error},
        )
        return errors.from_upstream(exc)

    async def _replace_lost(self, lost: asyncpg.Record, failure: ApiError | None) -> ApiError:
        """A server-linked session Hytale forgot gets a successor for the same server."""
        REFRESHES.labels("session", "lost").inc()
        self.audit.record(
            "SESSION_DELETED",
            account_id=lost["account_id"],
            session_id=lost["id"],
            server_id=lost["server_id"],
            reason="gone upstream",
        )
        assert failure is not None
        if lost["server_id"] is None:
            return failure
        try:
            successor = await self.create(NewSession(server_id=lost["server_id"]))
        except ApiError as exc:
            log.error(
                "could not replace a lost server session",
                extra={"server_id": lost["server_id"], "code": exc.code},
            )
            return failure
        log.info(
            "replaced a lost server session",
            extra={"server_id": lost["server_id"], "session_id": str(successor.session_id)},
        )
        return ApiError(
            failure.status,
            failure.message,
            failure.code,
            {"replaced_by": str(successor.session_id)},
        )

    async def renew_signed_by(self, kids: set[str]) -> int:
        """Make the sessions whose tokens a dropped key signed due now; return how many.

        Their tokens no longer validate anywhere, so a server must not keep them
        until their usual refresh time.
        """
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT id, session_token_sealed, identity_token_sealed
                   FROM game_sessions WHERE status = 'active'"""
            )
            stale = [r["id"] for r in rows if self._signed_by(r, kids)]
            if stale:
                await conn.execute(
                    "UPDATE game_sessions SET refresh_at = now() WHERE id = ANY($1::uuid[])", stale
                )
        if stale:
            log.info("sessions signed by a dropped key are due", extra={"sessions": len(stale)})
        return len(stale)

    def _signed_by(self, row: asyncpg.Record, kids: set[str]) -> bool:
        session_id = row["id"]
        session = self.sealer.open(row["session_token_sealed"], session_context(session_id))
        identity = self.sealer.open(row["identity_token_sealed"], identity_context(session_id))
        return signing_kid(session) in kids or signing_kid(identity) in kids

    async def refresh_due(self, guard: asyncio.Semaphore) -> int:
        """The sweep: renew every session past its refresh time; return how many."""
        async with self.pool.acquire() as conn:
            due = await conn.fetch(
                """SELECT id FROM game_sessions WHERE status = 'active' AND refresh_at <= now()
                   ORDER BY refresh_at LIMIT 500"""
            )

        async def one(session_id: UUID) -> bool:
            async with guard:
                try:
                    return await self.refresh(session_id, mode="due", skip_locked=True) is not None
                except ApiError:
                    return False  # recorded on the session and logged; the next tick retries

        return sum(await asyncio.gather(*(one(r["id"]) for r in due)))

    # --- ending -------------------------------------------------------------------

    async def delete(
        self,
        session_id: UUID,
        *,
        reason: str = "requested",
        caller: Caller = SYSTEM,
        even_if_upstream_fails: bool = False,
    ) -> SessionDeleted:
        """End a session here and at Hytale.

        With `even_if_upstream_fails`, a Hytale that cannot be reached does not keep
        the session alive here: no longer refreshed, it expires there within its hour.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._lock(conn, session_id, skip_locked=False)
            if row is None or row["status"] != "active":
                raise errors.session_not_found()
            token = self.sealer.open(row["session_token_sealed"], session_context(session_id))
            try:
                await self.upstream.delete_session(token)
            except UpstreamError as exc:
                if exc.status not in GONE_UPSTREAM and not even_if_upstream_fails:
                    raise errors.from_upstream(exc) from None
                if exc.status not in GONE_UPSTREAM:
                    log.warning(
                        "hytale did not end the session; it will lapse unrefreshed",
                        extra={"session_id": str(session_id), "error": exc.error},
                    )
            await self._end(conn, row, "ended", reason)
        self.audit.record(
            "SESSION_DELETED",
            caller,
            account_id=row["account_id"],
            profile_uuid=row["profile_uuid"],
            session_id=session_id,
            server_id=row["server_id"],
            reason=reason,
        )
        return SessionDeleted(session_id=session_id, deleted=True, reason=reason)

    async def delete_for_server(self, server_id: int, reason: str) -> bool:
        async with self.pool.acquire() as conn:
            session_id = await conn.fetchval(
                "SELECT id FROM game_sessions WHERE server_id = $1 AND status = 'active'", server_id
            )
        if session_id is None:
            return False
        try:
            await self.delete(session_id, reason=reason, even_if_upstream_fails=True)
        except ApiError as exc:
            if exc.code != "SESSION_NOT_FOUND":  # ended meanwhile: nothing left to do
                raise
        return True

    async def _end(
        self, conn: asyncpg.Connection, row: asyncpg.Record, status: str, reason: str
    ) -> None:
        """Mark the session over and forget its tokens (nothing may use them any more)."""
        await conn.execute(
            """UPDATE game_sessions SET status = $2, end_reason = $3, ended_at = now(),
                   session_token_sealed = NULL, identity_token_sealed = NULL WHERE id = $1""",
            row["id"],
            status,
            reason,
        )
        await outbox.enqueue(
            conn,
            events.SessionDeleted(
                session_id=row["id"],
                account_id=row["account_id"],
                server_id=row["server_id"],
                reason=reason,
            ),
            source=SOURCE,
        )

    async def _lock(
        self, conn: asyncpg.Connection, session_id: UUID, skip_locked: bool
    ) -> asyncpg.Record | None:
        lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
        return await conn.fetchrow(
            f"SELECT {COLUMNS} FROM game_sessions WHERE id = $1 {lock}", session_id
        )

    # --- housekeeping -------------------------------------------------------------

    async def clean_up(self) -> dict[str, int]:
        """Mark sessions past expiry as expired; delete ended ones past their retention."""
        retention = self.settings.hytale_ended_session_retention_days
        async with self.pool.acquire() as conn, conn.transaction():
            stale = await conn.fetch(
                f"""SELECT {COLUMNS} FROM game_sessions
                    WHERE status = 'active' AND expires_at < now() FOR UPDATE SKIP LOCKED"""
            )
            for row in stale:
                await self._end(conn, row, "expired", "expired")
            purged = await conn.execute(
                """DELETE FROM game_sessions WHERE status <> 'active'
                   AND ended_at < now() - make_interval(days => $1)""",
                retention,
            )
        return {"expired": len(stale), "purged": int(purged.split()[-1])}

    async def get(self, session_id: UUID) -> Session:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {COLUMNS} FROM game_sessions WHERE id = $1", session_id
            )
        if row is None:
            raise errors.session_not_found()
        return session_view(row)

    async def list(self, *, server_id: int | None, status: str | None) -> list[Session]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"""SELECT {COLUMNS} FROM game_sessions
                    WHERE ($1::int IS NULL OR server_id = $1)
                      AND ($2::text IS NULL OR status = $2)
                    ORDER BY created_at DESC LIMIT 500""",
                server_id,
                status,
            )
        return [session_view(r) for r in rows]
