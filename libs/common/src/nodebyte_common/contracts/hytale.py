"""Hytale (`/api/v1/hytale/*`, `/api/admin/hytale/*`): what a caller sends and what
hytale-auth answers.

The reference's field names are snake_case, on the wire as here. The gateway
checks each body against these Structs, adds who asked (`audit`) and forwards it;
hytale-auth's answers are decoded into the answer Structs on the way back.
Tokens in answers are masked (their last characters at most).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

# A panel egg's id, as hytale-auth stores it (an integer column).
EGG_ID_MAX = 2_147_483_647

ServerId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
VariableName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]{0,190}$")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
AuditEvent = Literal[
    "TOKEN_CREATED",
    "TOKEN_REFRESHED",
    "TOKEN_DELETED",
    "AUTH_FAILED",
    "SESSION_CREATED",
    "SESSION_REFRESHED",
    "SESSION_DELETED",
    "PROFILE_SELECTED",
]
SessionStatus = Literal["active", "ended", "expired"]


# --- bodies -----------------------------------------------------------------------


class TokenPoll(msgspec.Struct, forbid_unknown_fields=True):
    device_code: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class AccountBody(msgspec.Struct, forbid_unknown_fields=True):
    account_id: UUID


class SelectProfile(msgspec.Struct, forbid_unknown_fields=True):
    account_id: UUID
    profile_uuid: UUID


class NewSession(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An account, a profile (its owner's) or neither (the pool picks), optionally for a
    panel server (its variables get the tokens)."""

    account_id: UUID | None = None
    profile_uuid: UUID | None = None
    server_id: ServerId | None = None


class SessionBody(msgspec.Struct, forbid_unknown_fields=True):
    session_id: UUID


class ValidateBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    type: Literal["session", "identity"] = "session"


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    in_pool: bool | None = None
    session_limit: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None


class EggVariables(msgspec.Struct, forbid_unknown_fields=True):
    session_variable: VariableName
    identity_variable: VariableName


# --- query parameters -------------------------------------------------------------


class AuditLogQuery(msgspec.Struct, frozen=True):
    account_id: UUID | None = None
    limit: Limit = 100
    event_type: AuditEvent | None = None


class ServerLogQuery(msgspec.Struct, frozen=True):
    server_id: ServerId
    limit: Limit = 100
    offset: Offset = 0


class ServerQuery(msgspec.Struct, frozen=True):
    server_id: ServerId


class SessionQuery(msgspec.Struct, frozen=True):
    server_id: ServerId | None = None
    status: SessionStatus | None = None


# --- the device flow ----------------------------------------------------------------


class DeviceCode(msgspec.Struct, frozen=True, kw_only=True):
    flow_id: UUID
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int  # seconds
    interval: int  # seconds between polls


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    uuid: UUID
    username: str


class Pending(msgspec.Struct, frozen=True, kw_only=True, tag_field="status",
              tag="authorization_pending"):  # fmt: skip
    """202: the user has not decided yet; poll again after `interval` seconds."""

    interval: int
    expires_in: int


class SlowDown(Pending, frozen=True, kw_only=True, tag="slow_down"):
    """202: polled faster than `interval`."""


class Authorized(msgspec.Struct, frozen=True, kw_only=True, tag_field="status",
                 tag="authorized"):  # fmt: skip
    """200: the account the flow authorised; its tokens masked, and only the first time."""

    account_id: UUID
    profiles: list[Profile]
    access_token: str | None
    refresh_token: str | None
    token_type: str
    expires_in: int | None
    scope: str | None


TokenPollAnswer = Pending | SlowDown | Authorized


class PoolAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A pool account and its session capacity."""

    account_id: UUID
    status: str
    in_pool: bool
    usable: bool  # active, in the pool, not cooling down
    session_limit: int
    active_sessions: int
    free_sessions: int
    limit_reached_at: datetime | None
    selected_profile_uuid: UUID | None
    access_expires_at: datetime
    refresh_expires_at: datetime
    token_refreshed_at: datetime
    last_refresh_error: str | None
    created_at: datetime


class Profiles(msgspec.Struct, frozen=True, kw_only=True):
    owner: UUID
    profiles: list[Profile]
    selected_profile_uuid: UUID | None


class ProfileSelected(msgspec.Struct, frozen=True, kw_only=True):
    account_id: UUID
    profile_uuid: UUID
    username: str


# --- game sessions ------------------------------------------------------------------


class PanelPush(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the session's tokens reached its panel server's variables."""

    token_generation: int
    pushed_generation: int
    pushed_at: datetime | None
    last_error: str | None


class Session(msgspec.Struct, frozen=True, kw_only=True):
    session_id: UUID
    account_id: UUID
    profile_uuid: UUID
    server_id: int | None
    status: str
    expires_at: datetime
    refresh_at: datetime
    refreshed_at: datetime
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    last_refresh_error: str | None
    session_token: str | None  # masked
    identity_token: str | None  # masked
    panel: PanelPush | None  # for a session of a panel server


class SessionDeleted(msgspec.Struct, frozen=True, kw_only=True):
    session_id: UUID
    deleted: bool
    reason: str


class TokenValidity(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    type: str
    subject: str
    username: str | None
    issued_at: int  # Unix seconds
    expires_at: int  # Unix seconds


# --- logs ---------------------------------------------------------------------------


class AuditLog(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    event_type: str
    account_id: UUID | None
    profile_uuid: UUID | None
    session_id: UUID | None
    server_id: int | None
    ip_address: str | None
    user_agent: str | None
    details: dict[str, Any]
    created_at: datetime


class ServerLogLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    file_name: str
    byte_offset: int
    line: str
    logged_at: datetime


class LogSync(msgspec.Struct, frozen=True, kw_only=True):
    """Where reading a server's console log stands."""

    file_name: str | None
    generation: int
    byte_offset: int
    last_synced_at: datetime | None
    last_error: str | None
    consecutive_failures: int


class ServerLogCount(msgspec.Struct, frozen=True, kw_only=True):
    server_id: int
    count: int
    sync: LogSync | None


# --- admin: the account pool and eggs -------------------------------------------------


class PoolSummary(msgspec.Struct, frozen=True, kw_only=True):
    accounts: int
    usable: int
    active_sessions: int
    free_sessions: int


class AccountPool(msgspec.Struct, frozen=True, kw_only=True):
    summary: PoolSummary
    accounts: list[PoolAccount]


class AccountRemoved(msgspec.Struct, frozen=True, kw_only=True):
    account_id: UUID
    deleted: bool
    sessions_ended: int


class EggDefaults(msgspec.Struct, frozen=True, kw_only=True):
    session_variable: str
    identity_variable: str


class Egg(msgspec.Struct, frozen=True, kw_only=True):
    egg_id: int
    session_variable: str
    identity_variable: str
    updated_at: datetime


class Eggs(msgspec.Struct, frozen=True, kw_only=True):
    defaults: EggDefaults
    eggs: list[Egg]


class EggReset(msgspec.Struct, frozen=True, kw_only=True):
    egg_id: int
    reset: bool
