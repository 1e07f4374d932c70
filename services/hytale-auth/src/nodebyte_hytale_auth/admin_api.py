"""Admin part of hytale-auth's internal API: the account pool and per-egg variable names."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
from litestar import Request, delete, get, patch, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from nodebyte_common.contracts import hytale as contract
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_hytale_auth import errors
from nodebyte_hytale_auth.account_pool import capacity_view

if TYPE_CHECKING:
    from nodebyte_hytale_auth.api import Services


def admin_routes(s: Services) -> list[HTTPRouteHandler]:
    @get("/hytale/accounts")
    async def list_accounts() -> Answer[contract.AccountPool]:
        capacities = await s.account_pool.capacities()
        summary = contract.PoolSummary(
            accounts=len(capacities),
            usable=sum(c.usable for c in capacities),
            active_sessions=sum(c.active_sessions for c in capacities),
            free_sessions=sum(c.free for c in capacities if c.usable),
        )
        accounts = [capacity_view(c) for c in capacities]
        return Answer(data=contract.AccountPool(summary=summary, accounts=accounts))

    @patch("/hytale/accounts/{account_id:uuid}")
    async def update_account(
        account_id: FromPath[UUID], request: Request
    ) -> Answer[contract.PoolAccount]:
        body = errors.decode_request(await request.body(), contract.AccountPatch)
        if not await s.account_pool.update(
            account_id, in_pool=body.in_pool, session_limit=body.session_limit
        ):
            raise errors.account_not_found()
        return Answer(data=await account_view(s, account_id), message="Account updated")

    @delete("/hytale/accounts/{account_id:uuid}", status_code=200)
    async def remove_account(account_id: FromPath[UUID]) -> Answer[contract.AccountRemoved]:
        await account_view(s, account_id)
        ended = 0
        for session in await s.sessions.list(server_id=None, status="active"):
            if session.account_id == account_id:
                await s.sessions.delete(
                    session.session_id,
                    reason="account_removed",
                    even_if_upstream_fails=True,
                )
                ended += 1
        async with s.pool_of().acquire() as conn:
            await conn.execute("DELETE FROM accounts WHERE account_id = $1", account_id)
        s.audit.record("TOKEN_DELETED", account_id=account_id, sessions_ended=ended)
        removed = contract.AccountRemoved(account_id=account_id, deleted=True, sessions_ended=ended)
        return Answer(data=removed)

    @get("/hytale/eggs")
    async def list_eggs() -> Answer[contract.Eggs]:
        async with s.pool_of().acquire() as conn:
            rows = await conn.fetch("SELECT * FROM egg_variables ORDER BY egg_id")
        defaults = s.sessions.pusher.directory.defaults
        named = contract.EggDefaults(
            session_variable=defaults.session, identity_variable=defaults.identity
        )
        return Answer(data=contract.Eggs(defaults=named, eggs=[_egg_view(r) for r in rows]))

    @put("/hytale/eggs/{egg_id:int}", status_code=200)
    async def set_egg(egg_id: FromPath[int], request: Request) -> Answer[contract.Egg]:
        if not 1 <= egg_id <= contract.EGG_ID_MAX:
            raise errors.invalid_request("egg_id must be positive")
        body = errors.decode_request(await request.body(), contract.EggVariables)
        async with s.pool_of().acquire() as conn:
            row = await conn.fetchrow(
                """INSERT INTO egg_variables (egg_id, session_variable, identity_variable)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (egg_id) DO UPDATE SET session_variable = $2,
                       identity_variable = $3, updated_at = now()
                   RETURNING *""",
                egg_id,
                body.session_variable,
                body.identity_variable,
            )
        return Answer(data=_egg_view(row), message="Egg variables saved")

    @delete("/hytale/eggs/{egg_id:int}", status_code=200)
    async def reset_egg(egg_id: FromPath[int]) -> Answer[contract.EggReset]:
        if not 1 <= egg_id <= contract.EGG_ID_MAX:
            raise errors.invalid_request("egg_id must be positive")
        async with s.pool_of().acquire() as conn:
            found = await conn.fetchval(
                "DELETE FROM egg_variables WHERE egg_id = $1 RETURNING true", egg_id
            )
        if not found:
            raise ApiError(404, "No variables configured for this egg", "NOT_FOUND")
        return Answer(data=contract.EggReset(egg_id=egg_id, reset=True))

    return [list_accounts, update_account, remove_account, list_eggs, set_egg, reset_egg]


def _egg_view(row: asyncpg.Record) -> contract.Egg:
    return contract.Egg(
        egg_id=row["egg_id"],
        session_variable=row["session_variable"],
        identity_variable=row["identity_variable"],
        updated_at=row["updated_at"],
    )


async def account_view(s: Services, account_id: UUID) -> contract.PoolAccount:
    for capacity in await s.account_pool.capacities():
        if capacity.account_id == account_id:
            return capacity_view(capacity)
    raise errors.account_not_found()
