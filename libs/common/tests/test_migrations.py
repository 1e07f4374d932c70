import asyncio
from pathlib import Path

import asyncpg
import pytest

from nodebyte_common.migrations import MigrationError, migrate


@pytest.fixture
async def schema(admin_conn: asyncpg.Connection) -> str:
    name = "migration_probe"
    await admin_conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
    return name


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(sql)


async def test_applies_in_order_once_even_when_replicas_start_together(
    database: str, schema: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (a_id int REFERENCES a);")
    conns = [await asyncpg.connect(database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c, schema, tmp_path) for c in conns))
        applied = [versions for versions in results if versions]
        assert len(applied) == 1
        assert applied[0] == [
            "common:0001_outbox_inbox.sql",
            "common:0002_outbox_wake_in_process.sql",
            "service:0001_a.sql",
            "service:0002_b.sql",
        ]
        assert await migrate(conns[0], schema, tmp_path) == []
    finally:
        for c in conns:
            await c.close()


async def test_edited_migration_is_refused(database: str, schema: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    conn = await asyncpg.connect(database)
    try:
        await migrate(conn, schema, tmp_path)
        write(tmp_path, "0001_a.sql", "CREATE TABLE a (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, schema, tmp_path)
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_behind(
    database: str, schema: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(database)
    try:
        with pytest.raises(MigrationError):
            await migrate(conn, schema, tmp_path)
        exists = await conn.fetchval(f"SELECT to_regclass('{schema}.half')")
        recorded = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.schema_migrations WHERE version LIKE 'service:%'"
        )
        assert exists is None
        assert recorded == 0
    finally:
        await conn.close()
