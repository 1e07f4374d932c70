"""What the gateway's own routes take and answer: accounts, roles, API keys, tickets,
settings gathered from several owners (each owner's part with the owner's contract
types, so a value taken here is checked by the owner's rules), connection checks and
the GitHub repositories of the admin settings.

Routes the gateway answers itself (no owning service behind them) declare their
bodies and answers here, so the OpenAPI document shows them and a handler cannot
drift from what it promises. Field names are the NodeByte frontend's (camelCase
as written). Timestamps are datetimes: msgspec writes UTC ones with a `Z`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec

from nodebyte_common.contracts import sync
from nodebyte_common.contracts.envelope import SizedPages
from nodebyte_common.contracts.probes import ConnectionCheck
from nodebyte_common.contracts.scheduler import AutoSync, AutoSyncInterval
from nodebyte_gateway.accounts import permissions
from nodebyte_gateway.accounts.account_input import (
    EMAIL_PATTERN,
    MAX_EMAIL_LENGTH,
    USERNAME_PATTERN,
)

SYSTEM_ADMIN_ROLE = "SUPER_ADMIN"
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET

# Checked by account_input.email (its own 400s), documented here with its pattern.
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_EMAIL_LENGTH, extra_json_schema={"extra": {"pattern": EMAIL_PATTERN}}
    ),
]
# An address, or "" to clear it.
EmailOrNone = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_EMAIL_LENGTH,
        extra_json_schema={"extra": {"pattern": f"^$|{EMAIL_PATTERN}"}},
    ),
]
Secret = Annotated[str, msgspec.Meta(max_length=1024)]
PersonName = Annotated[str, msgspec.Meta(max_length=100)]
# A username, or "" for none.
Username = Annotated[
    str,
    msgspec.Meta(max_length=64, extra_json_schema={"extra": {"pattern": f"^$|{USERNAME_PATTERN}"}}),
]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Company = Annotated[str, msgspec.Meta(max_length=200)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^[0-9+() .-]{0,32}$")]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^(https://\S+)?$")]
RoleName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
]
Description = Annotated[str, msgspec.Meta(max_length=500)]
PermissionName = Annotated[str, msgspec.Meta(min_length=1, max_length=permissions.MAX_LENGTH)]
Permissions = Annotated[list[PermissionName], msgspec.Meta(max_length=100)]


# --- sign-up and sign-in (`/api/v1/auth/*`) ---------------------------------------


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Secret
    confirmPassword: Secret | None = None
    username: Username | None = None
    firstName: PersonName | None = None
    lastName: PersonName | None = None


class CredentialsBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Secret


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    refreshToken: Token


class EmailBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class VerifyEmailBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    id: UUID | None = None  # the Go API sent the user id along; checked when given


class ResetPasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    password: Secret
    confirmPassword: Secret | None = None
    id: UUID | None = None


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Token


class AuthUser(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in user, as login, validate, refresh and `me` return it."""

    id: UUID
    email: str
    username: str | None
    firstName: str | None
    lastName: str | None
    roles: list[str]
    isPterodactylAdmin: bool
    isVirtfusionAdmin: bool
    isSystemAdmin: bool
    pterodactylId: int | None
    emailVerified: datetime | None  # when, or null while unverified
    permissions: list[str] | Unset = UNSET  # what the roles grant; absent on look-ups

    @classmethod
    def of(cls, row: asyncpg.Record, granted: list[str] | None = None) -> AuthUser:
        return cls(
            id=row["id"],
            email=row["email"],
            username=row["username"],
            firstName=row["first_name"],
            lastName=row["last_name"],
            roles=list(row["roles"]),
            isPterodactylAdmin=row["is_pterodactyl_admin"],
            isVirtfusionAdmin=row["is_virtfusion_admin"],
            isSystemAdmin=is_system_admin(row),
            pterodactylId=row["pterodactyl_id"],
            emailVerified=row["email_verified_at"],
            permissions=UNSET if granted is None else granted,
        )


class UserOnly(msgspec.Struct, frozen=True, kw_only=True):
    user: AuthUser


class Tokens(msgspec.Struct, frozen=True, kw_only=True):
    """A new session: the user, a short-lived access token and its refresh token."""

    user: AuthUser
    accessToken: str
    refreshToken: str
    tokenType: str  # "Bearer"
    expiresIn: int  # the access token's lifetime, seconds


class Registered(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    verificationRequired: bool


class EmailRegistered(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    exists: bool


class EmailVerified(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    emailVerified: datetime | None


# JSON Web Keys (RFC 7517): public keys only, the members JWT libraries read.
class Jwk(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kty: str
    kid: str | None = None
    use: str | None = None
    alg: str | None = None
    crv: str | None = None
    x: str | None = None
    y: str | None = None
    n: str | None = None
    e: str | None = None


class JwkSet(msgspec.Struct, frozen=True, kw_only=True):
    keys: list[Jwk]


# --- the signed-in user's own account (`/api/v1/dashboard/account*`) --------------


class ProfileBody(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; null or "" clears one. The email changes
    only through change-email (a confirmed link), never here."""

    username: Username | Unset | None = UNSET
    firstName: PersonName | Unset | None = UNSET
    lastName: PersonName | Unset | None = UNSET
    phoneNumber: Phone | Unset | None = UNSET
    companyName: Company | Unset | None = UNSET
    billingEmail: EmailOrNone | Unset | None = UNSET
    avatarUrl: HttpsUrl | Unset | None = UNSET


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    currentPassword: Secret
    newPassword: Secret
    confirmPassword: Secret | None = None


class ChangeEmailBody(msgspec.Struct, forbid_unknown_fields=True):
    newEmail: Email
    currentPassword: Secret


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    username: str | None
    email: str
    firstName: str | None
    lastName: str | None
    phoneNumber: str | None
    companyName: str | None
    billingEmail: str | None
    avatarUrl: str | None
    accountBalance: float
    createdAt: datetime
    emailVerified: bool
    lastLoginAt: datetime | None
    roles: list[str]

    @classmethod
    def of(cls, row: asyncpg.Record) -> Account:
        return cls(
            id=row["id"],
            username=row["username"],
            email=row["email"],
            firstName=row["first_name"],
            lastName=row["last_name"],
            phoneNumber=row["phone_number"],
            companyName=row["company_name"],
            billingEmail=row["billing_email"],
            avatarUrl=row["avatar_url"],
            accountBalance=float(row["account_balance"]),
            createdAt=row["created_at"],
            emailVerified=row["email_verified_at"] is not None,
            lastLoginAt=row["last_login_at"],
            roles=list(row["roles"]),
        )


# --- users, as administrators see them (`/api/admin/users`) ---------------------------

AdminRoleName = Annotated[str, msgspec.Meta(max_length=64)]
AdminRoles = Annotated[list[AdminRoleName], msgspec.Meta(max_length=32)]


def is_system_admin(row: asyncpg.Record) -> bool:
    return SYSTEM_ADMIN_ROLE in row["roles"]


class CreateUserBody(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    username: Username | None = None
    firstName: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    lastName: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    roles: AdminRoles = msgspec.field(default_factory=lambda: ["MEMBER"])
    emailVerified: bool = True


class SetRolesBody(msgspec.Struct, forbid_unknown_fields=True):
    userId: UUID
    roles: AdminRoles


class AdminUser(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `/api/admin/users`."""

    id: UUID
    email: str
    username: str | None
    firstName: str | None
    lastName: str | None
    pterodactylId: int | None
    roles: list[str]
    isPterodactylAdmin: bool
    isVirtfusionAdmin: bool
    isSystemAdmin: bool
    isMigrated: bool
    isActive: bool
    emailVerified: bool
    createdAt: datetime
    updatedAt: datetime
    lastLoginAt: datetime | None
    sessionCount: int

    @classmethod
    def of(cls, row: asyncpg.Record) -> AdminUser:
        return cls(
            id=row["id"],
            email=row["email"],
            username=row["username"],
            firstName=row["first_name"],
            lastName=row["last_name"],
            pterodactylId=row["pterodactyl_id"],
            roles=list(row["roles"]),
            isPterodactylAdmin=row["is_pterodactyl_admin"],
            isVirtfusionAdmin=row["is_virtfusion_admin"],
            isSystemAdmin=is_system_admin(row),
            isMigrated=row["is_migrated"],
            isActive=row["is_active"],
            emailVerified=row["email_verified_at"] is not None,
            createdAt=row["created_at"],
            updatedAt=row["updated_at"],
            lastLoginAt=row["last_login_at"],
            sessionCount=row.get("session_count", 0),
        )


class UserStats(msgspec.Struct, frozen=True, kw_only=True):
    totalUsers: int
    migratedUsers: int
    adminCount: int
    activeCount: int


class AdminUsers(msgspec.Struct, frozen=True, kw_only=True):
    users: list[AdminUser]
    stats: UserStats


class AdminUsersPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of users, with the statistics of all of them."""

    success: bool = True
    data: AdminUsers
    pagination: SizedPages
    message: str | None = None


class CreatedUser(msgspec.Struct, frozen=True, kw_only=True):
    user: AdminUser


class RoleSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A role and what it grants, as the user administration lists them."""

    name: str
    description: str
    permissions: list[str]
    isAdmin: bool

    @classmethod
    def of(cls, row: asyncpg.Record) -> RoleSummary:
        return cls(
            name=row["name"],
            description=row["description"],
            permissions=list(row["permissions"]),
            isAdmin=row["is_admin"],
        )


class RolesSet(msgspec.Struct, frozen=True, kw_only=True):
    userId: UUID
    roles: list[str]
    isSystemAdmin: bool


class PasswordChanged(msgspec.Struct, frozen=True, kw_only=True):
    sessionsRevoked: int  # the other sessions this change ended


# --- custom roles (`/api/admin/roles`) ----------------------------------------------


class RoleCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: RoleName
    permissions: Permissions
    description: Description = ""


class RoleUpdate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: RoleName | Unset = UNSET
    permissions: Permissions | Unset = UNSET
    description: Description | Unset = UNSET


class Role(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    name: str
    description: str
    permissions: list[str]
    builtIn: bool  # built-in roles cannot be changed or deleted
    isAdmin: bool  # counted as an administrator in the user statistics
    userCount: int
    createdAt: datetime | None
    updatedAt: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Role:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            permissions=list(row["permissions"]),
            builtIn=row["is_builtin"],
            isAdmin=row["is_admin"],
            userCount=row["user_count"],
            createdAt=row["created_at"],
            updatedAt=row["updated_at"],
        )


# --- API keys (`/api/admin/api-keys`) ---------------------------------------------

Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=permissions.MAX_LENGTH)]


class CreateKeyBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=50)]
    expiresInDays: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as listed: never the key, only the prefix that names it."""

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    createdBy: str | None  # "<kind>:<label>" of its maker; null on keys older than the column
    creatorUserId: UUID | None
    createdAt: datetime
    lastUsedAt: datetime | None
    expiresAt: datetime | None
    revokedAt: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> ApiKey:
        return cls(
            id=row["id"],
            name=row["name"],
            prefix=row["key_prefix"],
            scopes=list(row["scopes"]),
            createdBy=row["created_by"],
            creatorUserId=row["creator_user_id"],
            createdAt=row["created_at"],
            lastUsedAt=row["last_used_at"],
            expiresAt=row["expires_at"],
            revokedAt=row["revoked_at"],
        )


class NewApiKey(ApiKey, frozen=True, kw_only=True):
    key: str  # shown in this answer only


# --- live connections (`/api/v1/ws-ticket`) ---------------------------------------


class WsTicket(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    ticket: str
    expires_in: int  # seconds
    usage: str


# --- /api/admin/sync/settings: the panel's (sync) and auto sync's (scheduler) -------


def _side_by_side(name: str, *parts: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """One flat Struct with every field of `parts` (each keeping its owner's type)."""
    fields = [(f.name, f.type) for part in parts for f in msgspec.structs.fields(part)]
    return msgspec.defstruct(name, fields, rename="camel", frozen=True, kw_only=True)


# Sync's panel settings with the scheduler's auto-sync job beside them.
SyncSettings = _side_by_side("SyncSettings", sync.PanelSettings, AutoSync)


class SyncSettingsUpdate(sync.PanelSettingsChanges, forbid_unknown_fields=True, omit_defaults=True):
    """Panel settings (sync's) and auto sync (the scheduler's); null or absent: unchanged."""

    autoSyncEnabled: bool | None = None  # the wire's names
    autoSyncInterval: AutoSyncInterval | None = None


# --- /api/admin/settings: every owner's settings under the reference's names ----------


class AdminSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Every service's settings; an owner out of reach leaves its fields null."""

    pterodactylUrl: str | None  # the reference's names
    pterodactylApiKey: str | None  # masked
    pterodactylClientApiKey: str | None  # masked
    pterodactylApiKeySet: bool | None
    pterodactylClientApiKeySet: bool | None
    syncBatchSize: int | None
    syncFetchConcurrency: int | None
    subusersEnabled: bool | None
    subusersBatchSize: int | None
    syncLogRetentionDays: int | None
    autoSyncEnabled: bool | None
    autoSyncInterval: int | None
    autoSyncSchedule: str | None
    autoSyncNextRunAt: datetime | None
    autoSyncLastRunAt: datetime | None
    autoSyncLastStatus: str | None
    emailProvider: str | None
    emailConfigured: bool | None
    emailFrom: str | None
    adminEmailTo: list[str] | None
    discordWebhookConfigured: bool | None


class AdminSettingsUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The settings an admin may change, each checked by its owner's rules."""

    pterodactylUrl: sync.PanelUrl | None = None  # the reference's names
    pterodactylApiKey: sync.PanelKey | None = None
    pterodactylClientApiKey: sync.PanelKey | None = None
    syncBatchSize: sync.FetchPageSize | None = None
    syncFetchConcurrency: sync.FetchConcurrency | None = None
    subusersEnabled: bool | None = None
    subusersBatchSize: sync.SubusersBatchSize | None = None
    syncLogRetentionDays: sync.RetentionDays | None = None
    autoSyncEnabled: bool | None = None
    autoSyncInterval: AutoSyncInterval | None = None


class ConnectionCandidates(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A panel URL and key to try before saving them (the saved ones when absent)."""

    pterodactylUrl: sync.PanelUrl | None = None
    pterodactylApiKey: sync.PanelKey | None = None


class ConnectionChecks(msgspec.Struct, frozen=True, kw_only=True):
    panel: ConnectionCheck
    mail: ConnectionCheck


# --- /api/admin/settings/repos ------------------------------------------------------


class RepoBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A repository as "owner/name" (checked by GitHub's rules, with the field named)."""

    repo: str | None = None


class RenameBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    oldRepo: str | None = None
    repo: str | None = None


class GithubRepo(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    repo: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
