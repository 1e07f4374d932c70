"""`/api/admin/users`: list, statistics and creation of users; their roles.

Nobody hands out more than they hold: creating a user with roles, or adding or
removing a role, needs every permission of the roles concerned (so only a `*`
holder makes or unmakes a SUPER_ADMIN).
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, SizedPages
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import account_input, accounts_store, audit
from nodebyte_gateway.accounts.accounts_store import USER_FILTERS, USER_SORTS
from nodebyte_gateway.accounts.auth import Principal, caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.edge.openapi_links import CREATES, Creates
from nodebyte_gateway.edge.paging import Paging
from nodebyte_gateway.schemas import (
    AdminUser,
    AdminUsers,
    AdminUsersPage,
    CreatedUser,
    CreateUserBody,
    RolesSet,
    RoleSummary,
    SetRolesBody,
    UserStats,
    is_system_admin,
)


async def _checked_roles(
    conn: asyncpg.Connection, principal: Principal, wanted: list[str], current: list[str]
) -> list[str]:
    """`wanted` de-duplicated in catalogue order; 400 for unknown roles, 403 when
    the caller lacks a permission of a role being added or removed."""
    catalogue = {
        row["name"]: list(row["permissions"])
        for row in await accounts_store.roles_catalogue(conn, lock=True)
    }
    unknown = sorted(set(wanted) - catalogue.keys())
    if unknown:
        raise ApiError(400, f"Unknown roles: {', '.join(unknown)}", "INVALID_ROLE")
    changed = set(wanted) ^ set(current)
    needed = [p for name in changed for p in catalogue[name]]
    if not principal.may_grant(needed):
        raise ApiError(
            403, "You cannot grant or remove roles with permissions you do not hold", "FORBIDDEN"
        )
    return [name for name in catalogue if name in set(wanted)]


ORDERS = ["asc", "desc"]


def routes(ctx: GatewayContext) -> list[Any]:
    runtime, auth = ctx.runtime, ctx.auth
    tags = ["admin"]

    @get(
        "/api/admin/users",
        guards=[ctx.require(catalogue.USER_READ)],
        tags=tags,
        summary="List users",
    )
    async def list_users(
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=100)] = 25,
        sort_field: Annotated[
            str,
            QueryParameter(
                name="sortField", max_length=32, schema_extra={"enum": list(USER_SORTS)}
            ),
        ] = "createdAt",
        sort_order: Annotated[
            str, QueryParameter(name="sortOrder", max_length=4, schema_extra={"enum": ORDERS})
        ] = "desc",
        filter_name: Annotated[
            str,
            QueryParameter(name="filter", max_length=32, schema_extra={"enum": list(USER_FILTERS)}),
        ] = "all",
        search: Annotated[str, QueryParameter(max_length=100)] = "",
    ) -> AdminUsersPage:
        if sort_field not in accounts_store.USER_SORTS:
            raise ApiError(400, f"sortField must be one of {', '.join(accounts_store.USER_SORTS)}")
        if sort_order.lower() not in ("asc", "desc"):
            raise ApiError(400, "sortOrder must be asc or desc")
        if filter_name not in accounts_store.USER_FILTERS:
            raise ApiError(400, f"filter must be one of {', '.join(accounts_store.USER_FILTERS)}")
        paging = Paging(page, page_size)
        query = accounts_store.UserQuery(
            filter=filter_name,
            search=search.strip(),
            sort_field=sort_field,
            sort_order=sort_order.lower(),
            limit=paging.limit,
            offset=paging.offset,
        )
        async with runtime.pool.acquire() as conn:
            rows, total = await accounts_store.list_users(conn, query)
            stats = await accounts_store.user_stats(conn)
        users = AdminUsers(users=[AdminUser.of(row) for row in rows], stats=UserStats(**stats))
        return AdminUsersPage(data=users, pagination=SizedPages.of(page, page_size, total))

    @post(
        "/api/admin/users",
        guards=[ctx.require(catalogue.USER_WRITE)],
        tags=tags,
        status_code=201,
        summary="Create a user",
        responses=refusals(
            {409: "Another account has this email or username (EMAIL_IN_USE, USERNAME_IN_USE)"}
        ),
        opt={
            CREATES: Creates(
                items=("/api/v1/auth/users/{user_id}", "/api/admin/users/{user_id}/pterodactyl"),
                id="/data/user/id",
            )
        },
    )
    async def create_user(data: JSONBody[CreateUserBody], request: Request) -> Answer[CreatedUser]:
        body = data
        principal = caller(request)
        email = account_input.email(body.email)
        username = account_input.username(body.username) if body.username else None
        password_hash = None
        if body.password is not None:
            account_input.new_password(body.password)
            password_hash = await auth.passwords.hash_async(body.password)
        async with runtime.pool.acquire() as conn, conn.transaction():
            roles = await _checked_roles(conn, principal, body.roles, [])
            new = accounts_store.NewUser(
                email=email,
                password_hash=password_hash,
                username=username,
                first_name=body.firstName,
                last_name=body.lastName,
                roles=roles,
                verified=body.emailVerified,
            )
            try:
                async with conn.transaction():
                    user = await accounts_store.insert(conn, new)
            except asyncpg.UniqueViolationError as exc:
                taken = "email" if "email" in (exc.constraint_name or "") else "username"
                raise ApiError(409, f"This {taken} is in use", f"{taken.upper()}_IN_USE") from None
            view = AdminUser.of(user)
            after = msgspec.to_builtins(view)
            await audit.record(
                conn, principal, "user.created", ("user", user["id"]), None, after, request
            )
        return Answer(data=CreatedUser(user=view), message="User created")

    @get(
        "/api/admin/users/roles",
        guards=[ctx.require(catalogue.USER_READ)],
        tags=tags,
        summary="The roles and their permissions",
    )
    async def list_roles() -> Answer[list[RoleSummary]]:
        async with runtime.pool.acquire() as conn:
            rows = await accounts_store.roles_catalogue(conn)
        return Answer(data=[RoleSummary.of(row) for row in rows])

    @post(
        "/api/admin/users/roles",
        guards=[ctx.require(catalogue.USER_WRITE)],
        tags=tags,
        status_code=200,
        summary="Set a user's roles",
        responses=refusals({404: "No user has this userId"}),
    )
    async def set_roles(data: JSONBody[SetRolesBody], request: Request) -> Answer[RolesSet]:
        body = data
        principal = caller(request)
        async with runtime.pool.acquire() as conn, conn.transaction():
            before = await accounts_store.by_id(conn, body.userId, for_update=True)
            if before is None:
                raise ApiError(404, "User not found")
            roles = await _checked_roles(conn, principal, body.roles, list(before["roles"]))
            user = await accounts_store.set_roles(conn, body.userId, roles)
            await audit.record(
                conn,
                principal,
                "user.roles_updated",
                ("user", body.userId),
                {"roles": list(before["roles"])},
                {"roles": roles},
                request,
            )
        auth.sessions.forget()  # this replica at once; the others within seconds
        changed = RolesSet(userId=body.userId, roles=roles, isSystemAdmin=is_system_admin(user))
        return Answer(data=changed, message="Roles updated")

    return [list_users, create_user, list_roles, set_roles]
