"""hytale-auth's internal HTTP API (`/internal/v1/hytale/...`), reached only by the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args
from uuid import UUID

import asyncpg
from litestar import Request, get, post
from litestar.params import FromPath

from nodebyte_common.contracts import hytale as contract
from nodebyte_common.contracts.envelope import Empty
from nodebyte_common.envelope import ApiError, ok
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.account_pool import AccountPool, iso
from nodebyte_hytale_auth.accounts import Accounts
from nodebyte_hytale_auth.admin_api import account_view, admin_routes
from nodebyte_hytale_auth.audit import AuditWriter, Caller
from nodebyte_hytale_auth.device_flow import DeviceFlows
from nodebyte_hytale_auth.game_sessions import GameSessions, NewSession
from nodebyte_hytale_auth.server_logs import ServerLogCollector
from nodebyte_hytale_auth.session_tokens import TokenRefused, TokenValidator

AUDIT_EVENTS: tuple[str, ...] = get_args(contract.AuditEvent)


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
    pool_of: Any


def query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_request(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise errors.invalid_request(f"{name} must be between {low} and {high}")
    return value


def query_uuid(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise errors.invalid_request(f"{name} must be a UUID") from None


def internal_routes(s: Services) -> list[Any]:
    return [*_oauth_routes(s), *_session_routes(s), *_query_routes(s), *admin_routes(s)]


def _oauth_routes(s: Services) -> list[Any]:
    @post("/hytale/oauth/device-code", status_code=200)
    async def device_code(request: Request) -> Any:
        body = errors.decode_request(await request.body(), _Body)
        return ok(await s.flows.start(body.audit), message="Open the verification URI")

    @post("/hytale/oauth/token", status_code=200)
    async def token(request: Request) -> Any:
        body = errors.decode_request(await request.body(), TokenPoll)
        answer = await s.flows.poll(body.device_code, body.audit)
        return ok(answer.data, message=answer.message, status=answer.status)

    @post("/hytale/oauth/refresh", status_code=200)
    async def refresh(request: Request) -> Any:
        body = errors.decode_request(await request.body(), AccountBody)
        await s.accounts.refresh(body.account_id, mode="always", caller=body.audit)
        return ok(await account_view(s, body.account_id), message="Tokens refreshed")

    @post("/hytale/oauth/profiles", status_code=200)
    async def profiles(request: Request) -> Any:
        body = errors.decode_request(await request.body(), AccountBody)
        listed = await s.accounts.fetch_profiles(body.account_id)
        account = await account_view(s, body.account_id)
        return ok(
            {
                "owner": str(listed.owner),
                "profiles": [
                    {"uuid": str(p.uuid), "username": p.username} for p in listed.profiles
                ],
                "selected_profile_uuid": account["selected_profile_uuid"],
            }
        )

    @post("/hytale/oauth/select-profile", status_code=200)
    async def select_profile(request: Request) -> Any:
        body = errors.decode_request(await request.body(), SelectProfile)
        username = await _select(s, body.account_id, body.profile_uuid)
        s.audit.record(
            "PROFILE_SELECTED",
            body.audit,
            account_id=body.account_id,
            profile_uuid=body.profile_uuid,
        )
        data = {
            "account_id": str(body.account_id),
            "profile_uuid": str(body.profile_uuid),
            "username": username,
        }
        return ok(data, message="Profile selected")

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


def _session_routes(s: Services) -> list[Any]:
    @post("/hytale/oauth/game-session/new", status_code=201)
    async def new_session(request: Request) -> Any:
        body = errors.decode_request(await request.body(), NewSessionBody)
        wanted = NewSession(body.account_id, body.profile_uuid, body.server_id)
        created = await s.sessions.create(wanted, body.audit)
        return ok(created, message="Game session created", status=201)

    @post("/hytale/oauth/game-session/refresh", status_code=200)
    async def refresh_session(request: Request) -> Any:
        body = errors.decode_request(await request.body(), SessionBody)
        refreshed = await s.sessions.refresh(body.session_id, mode="always", caller=body.audit)
        return ok(refreshed, message="Game session refreshed")

    @post("/hytale/oauth/game-session/delete", status_code=200)
    async def delete_session(request: Request) -> Any:
        body = errors.decode_request(await request.body(), SessionBody)
        deleted = await s.sessions.delete(body.session_id, caller=body.audit)
        return ok(deleted, message="Game session deleted")

    @post("/hytale/tokens/validate", status_code=200)
    async def validate(request: Request) -> Any:
        body = errors.decode_request(await request.body(), ValidateBody)
        try:
            verified = await s.validator.validate(body.token, body.type)
        except TokenRefused as exc:
            raise ApiError(
                401, "The token is not valid", exc.code, {"reason": exc.reason}
            ) from None
        return ok(
            {
                "valid": True,
                "type": verified.kind,
                "subject": str(verified.subject),
                "username": verified.username,
                "issued_at": verified.issued_at,
                "expires_at": verified.expires_at,
            }
        )

    @get("/hytale/sessions")
    async def list_sessions(request: Request) -> Any:
        server_id = query_int(request, "server_id", None, 1, 2_147_483_647)
        status = request.query_params.get("status")
        if status not in (None, "active", "ended", "expired"):
            raise errors.invalid_request("status must be active, ended or expired")
        return ok(await s.sessions.list(server_id=server_id, status=status))

    @get("/hytale/sessions/{session_id:uuid}")
    async def get_session(session_id: FromPath[UUID]) -> Any:
        return ok(await s.sessions.get(session_id))

    return [new_session, refresh_session, delete_session, validate, list_sessions, get_session]


def _query_routes(s: Services) -> list[Any]:
    @get("/hytale/logs")
    async def audit_logs(request: Request) -> Any:
        account_id = query_uuid(request, "account_id")
        limit = query_int(request, "limit", 100, 1, 1000)
        event_type = request.query_params.get("event_type")
        if event_type is not None and event_type not in AUDIT_EVENTS:
            raise errors.invalid_request("Unknown event_type", {"allowed": list(AUDIT_EVENTS)})
        async with s.pool_of().acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM audit_logs
                   WHERE ($1::uuid IS NULL OR account_id = $1)
                     AND ($2::text IS NULL OR event_type = $2)
                   ORDER BY created_at DESC, id DESC LIMIT $3""",
                account_id,
                event_type,
                limit,
            )
        return ok([_audit_view(r) for r in rows])

    @get("/hytale/server-logs")
    async def server_logs(request: Request) -> Any:
        server_id = _required_server(request)
        limit = query_int(request, "limit", 100, 1, 1000) or 100
        offset = query_int(request, "offset", 0, 0, 10_000_000) or 0
        entries, total = await s.logs.page(server_id, limit, offset)
        pagination = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(entries) < total,
        }
        return ok(entries, pagination=pagination)

    @get("/hytale/server-logs/count")
    async def server_log_count(request: Request) -> Any:
        server_id = _required_server(request)
        data = {
            "server_id": server_id,
            "count": await s.logs.count(server_id),
            "sync": await s.logs.sync_state(server_id),
        }
        return ok(data)

    return [audit_logs, server_logs, server_log_count]


def _required_server(request: Request) -> int:
    server_id = query_int(request, "server_id", None, 1, 2_147_483_647)
    if server_id is None:
        raise errors.invalid_request("server_id is required")
    return server_id


def _audit_view(row: asyncpg.Record) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return str(value) if value is not None else None

    return {
        "id": str(row["id"]),
        "event_type": row["event_type"],
        "account_id": text(row["account_id"]),
        "profile_uuid": text(row["profile_uuid"]),
        "session_id": text(row["session_id"]),
        "server_id": row["server_id"],
        "ip_address": text(row["ip_address"]),
        "user_agent": row["user_agent"],
        "details": row["details"],
        "created_at": iso(row["created_at"]),
    }
