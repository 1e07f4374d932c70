"""`/api/admin/roles`: the built-in roles and the custom ones admins define.

A custom role is a name, a description and permissions from the catalogue
(`nodebyte_common.permission_catalogue`: names, `x.*` patterns, `*`); users get
it through `POST /api/admin/users/roles` like any role. The built-in roles stay
as they are: changing or deleting one is a 409 `BUILT_IN_ROLE`. A custom role
still held by users is not deleted (409 `ROLE_IN_USE`): taking access away is
done by changing those users' roles, visibly. Nobody defines, changes or
deletes a role granting what they do not hold themselves (403). A change
reaches signed-in users within the session cache's two seconds on every replica.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, Nothing
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import audit, permissions, role_store
from nodebyte_gateway.accounts.auth import Principal, caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.schemas import Role, RoleCreate, RoleUpdate

PATH = "/api/admin/roles"
TAGS = ["admin"]

NAME_IN_USE = refusals({409: "Another role has this name (ROLE_NAME_IN_USE)"})


def checked_permissions(
    principal: Principal, wanted: list[str], held_before: list[str]
) -> list[str]:
    """`wanted` de-duplicated; 400 naming the names the catalogue does not grant, 403
    when the caller lacks a permission being added or taken away."""
    unknown = [name for name in wanted if not permissions.is_grantable(name)]
    if unknown:
        raise ApiError(
            400,
            f"Unknown permissions: {', '.join(unknown)}",
            "INVALID_PERMISSION",
            details={"unknown": unknown},
        )
    changed = sorted(set(wanted) ^ set(held_before))
    if not principal.may_grant(changed):
        raise ApiError(403, "You cannot grant or remove permissions you do not hold", "FORBIDDEN")
    return list(dict.fromkeys(wanted))


def _name_taken(name: str) -> ApiError:
    return ApiError(409, f"A role named {name!r} exists", "ROLE_NAME_IN_USE")


def _changeable(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise ApiError(404, "Role not found")
    if row["is_builtin"]:
        raise ApiError(
            409, f"{row['name']} is a built-in role and cannot be changed", "BUILT_IN_ROLE"
        )
    return row


def _snapshot(role: Role) -> dict[str, Any]:
    return {"name": role.name, "description": role.description, "permissions": role.permissions}


def routes(ctx: GatewayContext) -> list[Any]:
    pool_of, sessions = (lambda: ctx.runtime.pool), ctx.auth.sessions
    read, write = ctx.require(catalogue.USER_READ), ctx.require(catalogue.ROLE_WRITE)

    @get(PATH, guards=[read], tags=TAGS, summary="The roles: built-in and custom")
    async def list_roles() -> Answer[list[Role]]:
        async with pool_of().acquire() as conn:
            rows = await role_store.all_roles(conn)
        return Answer(data=[Role.of(row) for row in rows])

    @post(
        PATH,
        guards=[write],
        tags=TAGS,
        status_code=201,
        summary="Define a custom role",
        responses=NAME_IN_USE,
    )
    async def create_role(data: JSONBody[RoleCreate], request: Request) -> Answer[Role]:
        principal = caller(request)
        granted = checked_permissions(principal, data.permissions, [])
        async with pool_of().acquire() as conn, conn.transaction():
            try:
                async with conn.transaction():
                    row = await role_store.insert(
                        conn, uuid6.uuid7(), data.name, data.description, granted
                    )
            except asyncpg.UniqueViolationError:
                raise _name_taken(data.name) from None
            role = Role.of(row)
            await audit.record(
                conn, principal, "role.created", ("role", role.id), None, _snapshot(role), request
            )
        return Answer(data=role, message="Role created")

    @put(
        f"{PATH}/{{role_id:uuid}}",
        guards=[write],
        tags=TAGS,
        summary="Change a custom role",
        responses=NAME_IN_USE,
    )
    async def update_role(
        role_id: FromPath[UUID], data: JSONBody[RoleUpdate], request: Request
    ) -> Answer[Role]:
        principal = caller(request)
        async with pool_of().acquire() as conn, conn.transaction():
            row = _changeable(await role_store.by_id(conn, role_id, for_update=True))
            before = Role.of(row)
            wanted = before.permissions if data.permissions is msgspec.UNSET else data.permissions
            granted = checked_permissions(principal, wanted, before.permissions)
            name = before.name if data.name is msgspec.UNSET else data.name
            description = (
                before.description if data.description is msgspec.UNSET else data.description
            )
            try:
                async with conn.transaction():
                    row = await role_store.update(conn, row, name, description, granted)
            except asyncpg.UniqueViolationError:
                raise _name_taken(name) from None
            role = Role.of(row)
            await audit.record(
                conn,
                principal,
                "role.updated",
                ("role", role_id),
                _snapshot(before),
                _snapshot(role),
                request,
            )
        sessions.forget()  # this replica at once; the others within seconds
        return Answer(data=role, message="Role updated")

    @delete(
        f"{PATH}/{{role_id:uuid}}",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Delete a custom role no user holds",
    )
    async def delete_role(role_id: FromPath[UUID], request: Request) -> Nothing:
        principal = caller(request)
        async with pool_of().acquire() as conn, conn.transaction():
            role = Role.of(_changeable(await role_store.by_id(conn, role_id, for_update=True)))
            # Counted after the lock: a user being given the role meanwhile has been.
            held_by = await role_store.holders(conn, role.name)
            if held_by:
                raise ApiError(
                    409,
                    f"{role.name} is held by {held_by} user(s); take it from them first",
                    "ROLE_IN_USE",
                    details={"userCount": held_by},
                )
            checked_permissions(principal, [], role.permissions)
            await role_store.delete(conn, role_id)
            await audit.record(
                conn, principal, "role.deleted", ("role", role_id), _snapshot(role), None, request
            )
        return Nothing(message="Role deleted")

    return [list_roles, create_role, update_role, delete_role]
