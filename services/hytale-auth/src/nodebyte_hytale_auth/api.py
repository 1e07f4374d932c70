"""hytale-auth's internal HTTP API (`/internal/v1/hytale/...`), reached only by the gateway.

Bodies, queries and answers are the Structs of `nodebyte_common.contracts.hytale`:
the gateway checks and decodes the same declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from nodebyte_common.contracts import hytale as contract
from nodebyte_common.contracts.envelope import Answer, Empty, Window, WindowAnswer
from nodebyte_common.contracts.query import takes_query
from nodebyte_common.envelope import ApiError
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.account_pool import AccountPool
from nodebyte_hytale_auth.accounts import Accounts
from nodebyte_hytale_auth.admin_api import account_view, admin_routes
from nodebyte_hytale_auth.audit import AuditWriter, Caller
from nodebyte_hytale_auth.device_flow import DeviceFlows
from nodebyte_hytale_auth.game_sessions import GameSessions, NewSession
from nodebyte_hytale_auth.server_logs import ServerLogCollector
from nodebyte_hytale_auth.session_tokens import TokenRefused, TokenValidator


# The contract's bodies, with who asked (the gateway adds it) for the audit trail.
class _Body(Empty, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class TokenPoll(contract.TokenPoll, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class AccountBody(contract.AccountBody, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class SelectProfile(contract.SelectProfile, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class NewSessionBody(contract.NewSession, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class SessionBody(contract.SessionBody, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


class ValidateBody(contract.ValidateBody, kw_only=True, forbid_unknown_fields=True):
    audit: Caller = Caller()


@dataclass(frozen=True)
class Services:
    flows: DeviceFlows
    accounts: Accounts
    account_pool: AccountPool
    sessions: GameSessions
    validator: TokenValidator
    logs: ServerLogCollector
    audit: AuditWriter
    pool_of: Callable[[], asyncpg.Pool]


def internal_routes(s: Services) -> list[HTTPRouteHandler]:
    return [*_oauth_routes(s), *_session_routes(s), *_query_routes(s), *admin_routes(s)]


def _oauth_routes(s: Services) -> list[HTTPRouteHandler]:
    @post("/hytale/oauth/device-code", status_code=200)
    async def device_code(request: Request) -> Answer[contract.DeviceCode]:
        body = errors.decode_request(await request.body(), _Body)
        return Answer(data=await s.flows.start(body.audit), message="Open the verification URI")

    @post("/hytale/oauth/token", status_code=200)
    async def token(request: Request) -> Response[Answer[contract.TokenPollAnswer]]:
        body = errors.decode_request(await request.body(), TokenPoll)
        answer = await s.flows.poll(body.device_code, body.audit)
        # 202 while the user has not decided, 200 once authorised
        return Response(Answer(data=answer.data, message=answer.message), status_code=answer.status)

    @post("/hytale/oauth/refresh", status_code=200)
    async def refresh(request: Request) -> Answer[contract.PoolAccount]:
        body = errors.decode_request(await request.body(), AccountBody)
        await s.accounts.refresh(body.account_id, mode="always", caller=body.audit)
        return Answer(data=await account_view(s, body.account_id), message="Tokens refreshed")

    @post("/hytale/oauth/profiles", status_code=200)
    async def profiles(request: Request) -> Answer[contract.Profiles]:
        body = errors.decode_request(await request.body(), AccountBody)
        listed = await s.accounts.fetch_profiles(body.account_id)
        account = await account_view(s, body.account_id)
        profiles = [contract.Profile(uuid=p.uuid, username=p.username) for p in listed.profiles]
        return Answer(
            data=contract.Profiles(
                owner=listed.owner,
                profiles=profiles,
                selected_profile_uuid=account.selected_profile_uuid,
            )
        )

    @post("/hytale/oauth/select-profile", status_code=200)
    async def select_profile(request: Request) -> Answer[contract.ProfileSelected]:
        body = errors.decode_request(await request.body(), SelectProfile)
        username = await _select(s, body.account_id, body.profile_uuid)
        s.audit.record(
            "PROFILE_SELECTED",
            body.audit,
            account_id=body.account_id,
            profile_uuid=body.profile_uuid,
        )
        data = contract.ProfileSelected(
            account_id=body.account_id, profile_uuid=body.profile_uuid, username=username
        )
        return Answer(data=data, message="Profile selected")

    return [device_code, token, refresh, profiles, select_profile]


async def _select(s: Services, account_id: UUID, profile_uuid: UUID) -> str:
    """Bind a profile to the account (it must be one of its profiles); its username."""
    async with s.pool_of().acquire() as conn:
        username = await conn.fetchval(
            "SELECT username FROM profiles WHERE account_id = $1 AND profile_uuid = $2",
            account_id,
            profile_uuid,
        )
    if username is None:
        await account_view(s, account_id)  # 404 for an unknown account
        listed = await s.accounts.fetch_profiles(account_id)
        username = next((p.username for p in listed.profiles if p.uuid == profile_uuid), None)
        if username is None:
            raise errors.invalid_request("The profile does not belong to the account")
    async with s.pool_of().acquire() as conn:
        await conn.execute(
            """UPDATE accounts SET selected_profile_uuid = $2, updated_at = now()
               WHERE account_id = $1""",
            account_id,
            profile_uuid,
        )
    return username


def _session_routes(s: Services) -> list[HTTPRouteHandler]:
    @post("/hytale/oauth/game-session/new", status_code=201)
    async def new_session(request: Request) -> Answer[contract.Session]:
        body = errors.decode_request(await request.body(), NewSessionBody)
        wanted = NewSession(body.account_id, body.profile_uuid, body.server_id)
        created = await s.sessions.create(wanted, body.audit)
        return Answer(data=created, message="Game session created")

    @post("/hytale/oauth/game-session/refresh", status_code=200)
    async def refresh_session(request: Request) -> Answer[contract.Session]:
        body = errors.decode_request(await request.body(), SessionBody)
        refreshed = await s.sessions.refresh(body.session_id, mode="always", caller=body.audit)
        assert refreshed is not None  # only a due or skip-locked refresh passes
        return Answer(data=refreshed, message="Game session refreshed")

    @post("/hytale/oauth/game-session/delete", status_code=200)
    async def delete_session(request: Request) -> Answer[contract.SessionDeleted]:
        body = errors.decode_request(await request.body(), SessionBody)
        deleted = await s.sessions.delete(body.session_id, caller=body.audit)
        return Answer(data=deleted, message="Game session deleted")

    @post("/hytale/tokens/validate", status_code=200)
    async def validate(request: Request) -> Answer[contract.TokenValidity]:
        body = errors.decode_request(await request.body(), ValidateBody)
        try:
            verified = await s.validator.validate(body.token, body.type)
        except TokenRefused as exc:
            raise ApiError(
                401, "The token is not valid", exc.code, {"reason": exc.reason}
            ) from None
        return Answer(
            data=contract.TokenValidity(
                valid=True,
                type=verified.kind,
                subject=str(verified.subject),
                username=verified.username,
                issued_at=verified.issued_at,
                expires_at=verified.expires_at,
            )
        )

    @get("/hytale/sessions")
    @takes_query(contract.SessionQuery)
    async def list_sessions(query: contract.SessionQuery) -> Answer[list[contract.Session]]:
        return Answer(data=await s.sessions.list(server_id=query.server_id, status=query.status))

    @get("/hytale/sessions/{session_id:uuid}")
    async def get_session(session_id: FromPath[UUID]) -> Answer[contract.Session]:
        return Answer(data=await s.sessions.get(session_id))

    return [new_session, refresh_session, delete_session, validate, list_sessions, get_session]


def _query_routes(s: Services) -> list[HTTPRouteHandler]:
    @get("/hytale/logs")
    @takes_query(contract.AuditLogQuery)
    async def audit_logs(query: contract.AuditLogQuery) -> Answer[list[contract.AuditLog]]:
        async with s.pool_of().acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM audit_logs
                   WHERE ($1::uuid IS NULL OR account_id = $1)
                     AND ($2::text IS NULL OR event_type = $2)
                   ORDER BY created_at DESC, id DESC LIMIT $3""",
                query.account_id,
                query.event_type,
                query.limit,
            )
        return Answer(data=[_audit_view(r) for r in rows])

    @get("/hytale/server-logs")
    @takes_query(contract.ServerLogQuery)
    async def server_logs(
        query: contract.ServerLogQuery,
    ) -> WindowAnswer[contract.ServerLogLine]:
        entries, total = await s.logs.page(query.server_id, query.limit, query.offset)
        window = Window(
            total=total,
            limit=query.limit,
            offset=query.offset,
            has_more=query.offset + len(entries) < total,
        )
        return WindowAnswer(data=entries, pagination=window)

    @get("/hytale/server-logs/count")
    @takes_query(contract.ServerQuery)
    async def server_log_count(query: contract.ServerQuery) -> Answer[contract.ServerLogCount]:
        data = contract.ServerLogCount(
            server_id=query.server_id,
            count=await s.logs.count(query.server_id),
            sync=await s.logs.sync_state(query.server_id),
        )
        return Answer(data=data)

    return [audit_logs, server_logs, server_log_count]


def _audit_view(row: asyncpg.Record) -> contract.AuditLog:
    address = row["ip_address"]
    return contract.AuditLog(
        id=row["id"],
        event_type=row["event_type"],
        account_id=row["account_id"],
        profile_uuid=row["profile_uuid"],
        session_id=row["session_id"],
        server_id=row["server_id"],
        ip_address=str(address) if address is not None else None,
        user_agent=row["user_agent"],
        details=row["details"],
        created_at=row["created_at"],
    )
