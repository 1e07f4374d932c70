"""Users as the API shows them (the NodeByte frontend's field names)."""

from __future__ import annotations

from typing import Any

import asyncpg

from nodebyte_gateway.timestamps import iso

SYSTEM_ADMIN_ROLE = "SUPER_ADMIN"


def _is_system_admin(row: asyncpg.Record) -> bool:
    return SYSTEM_ADMIN_ROLE in row["roles"]


def auth_user(row: asyncpg.Record, permissions: list[str] | None = None) -> dict[str, Any]:
    """The signed-in user, as login, validate, refresh and `me` return it."""
    view = {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "roles": list(row["roles"]),
        "isPterodactylAdmin": row["is_pterodactyl_admin"],
        "isVirtfusionAdmin": row["is_virtfusion_admin"],
        "isSystemAdmin": _is_system_admin(row),
        "pterodactylId": row["pterodactyl_id"],
        "emailVerified": iso(row["email_verified_at"]),
    }
    if permissions is not None:
        view["permissions"] = permissions
    return view


def account(row: asyncpg.Record) -> dict[str, Any]:
    """`/api/v1/dashboard/account`: the user's own profile."""
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "email": row["email"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "phoneNumber": row["phone_number"],
        "companyName": row["company_name"],
        "billingEmail": row["billing_email"],
        "avatarUrl": row["avatar_url"],
        "accountBalance": float(row["account_balance"]),
        "createdAt": iso(row["created_at"]),
        "emailVerified": row["email_verified_at"] is not None,
        "lastLoginAt": iso(row["last_login_at"]),
        "roles": list(row["roles"]),
    }


def admin_user(row: asyncpg.Record) -> dict[str, Any]:
    """A row of `/api/admin/users`."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "pterodactylId": row["pterodactyl_id"],
        "roles": list(row["roles"]),
        "isPterodactylAdmin": row["is_pterodactyl_admin"],
        "isVirtfusionAdmin": row["is_virtfusion_admin"],
        "isSystemAdmin": _is_system_admin(row),
        "isMigrated": row["is_migrated"],
        "isActive": row["is_active"],
        "emailVerified": row["email_verified_at"] is not None,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "lastLoginAt": iso(row["last_login_at"]),
        "sessionCount": row.get("session_count", 0),
    }


def role(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "name": row["name"],
        "description": row["description"],
        "permissions": list(row["permissions"]),
        "isAdmin": row["is_admin"],
    }
