"""The guards on their own: which credential a request is judged by, and who
`require_user` and `require` admit. The bootstrap key needs no database, so
these run without one."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.connection import ASGIConnection

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts.auth import Authenticator
from nodebyte_gateway.accounts.passwords import Passwords
from nodebyte_gateway.accounts.tokens import JwtKeys, generate_private_key_pem, load_private_key

BOOTSTRAP = "nbk_bootstrap_for_tests"


def authenticator() -> Authenticator:
    def no_database() -> Any:
        raise AssertionError("the bootstrap key and a bad token need no database")

    keys = JwtKeys(
        private_key=load_private_key(generate_private_key_pem()),
        issuer="nodebyte",
        audience="nodebyte-api",
        access_ttl_seconds=900,
    )
    return Authenticator(
        keys=keys,
        passwords=Passwords(time_cost=1, memory_kib=8, parallelism=1),
        bootstrap_key=BOOTSTRAP,
        pool_of=no_database,
    )


def connection(headers: dict[str, str]) -> ASGIConnection:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": "http", "headers": raw, "query_string": b"", "state": {}, "path": "/"}
    return ASGIConnection(scope)  # type: ignore[arg-type]


async def refused(guard: Any, headers: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await guard(connection(headers), None)
    return caught.value


async def test_require_user_refuses_an_api_key_caller() -> None:
    guard = authenticator().require_user()
    error = await refused(guard, {"X-API-Key": BOOTSTRAP})
    assert error.status == 403


async def test_a_bad_bearer_token_is_not_rescued_by_a_valid_api_key() -> None:
    auth = authenticator()
    allowed = auth.require(catalogue.SYNC_READ)
    await allowed(connection({"X-API-Key": BOOTSTRAP}), None)  # the key alone is admitted
    error = await refused(allowed, {"Authorization": "Bearer not-a-jwt", "X-API-Key": BOOTSTRAP})
    assert error.status == 401


async def test_the_bootstrap_key_is_no_administrator() -> None:
    auth = authenticator()
    for permission in (catalogue.SYNC_WRITE, catalogue.SYNC_READ, catalogue.STATS_READ):
        await auth.require(permission)(connection({"X-API-Key": BOOTSTRAP}), None)
    for permission in (catalogue.ADMIN_READ, catalogue.USER_WRITE, catalogue.SERVER_READ):
        error = await refused(auth.require(permission), {"X-API-Key": BOOTSTRAP})
        assert error.status == 403, permission


@pytest.mark.parametrize("name", ["servers.read", "webhooks.dispatch", "server.*", "*"])
def test_a_guard_cannot_require_a_name_outside_the_catalogue(name: str) -> None:
    with pytest.raises(ValueError, match="catalogue"):
        authenticator().require(name)
