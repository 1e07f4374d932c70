"""Each service's database role reaches its own schema and no other."""

import itertools

import asyncpg
import pytest

from nodebyte_common.bootstrap import SERVICE_SCHEMAS, service_dsn

PAIRS = [(a, b) for a, b in itertools.permutations(SERVICE_SCHEMAS, 2)]


@pytest.fixture(scope="module")
async def probe_tables(database: str) -> None:
    for service, schema in SERVICE_SCHEMAS.items():
        conn = await asyncpg.connect(service_dsn(database, service))
        try:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.role_probe (v int)")
        finally:
            await conn.close()


@pytest.mark.parametrize(("service", "other"), PAIRS)
async def test_role_cannot_touch_another_schema(
    database: str, probe_tables: None, service: str, other: str
) -> None:
    conn = await asyncpg.connect(service_dsn(database, service))
    other_schema = SERVICE_SCHEMAS[other]
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {other_schema}.role_probe")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"CREATE TABLE {other_schema}.intruder (v int)")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", list(SERVICE_SCHEMAS))
async def test_role_owns_its_schema_and_not_public(
    database: str, probe_tables: None, service: str
) -> None:
    conn = await asyncpg.connect(service_dsn(database, service))
    schema = SERVICE_SCHEMAS[service]
    try:
        await conn.execute(f"INSERT INTO {schema}.role_probe VALUES (1)")
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.role_probe") >= 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.intruder (v int)")
    finally:
        await conn.close()
