"""Fixtures every test suite shares: a real PostgreSQL and RabbitMQ, isolated per run.

Where they come from: NB_TEST_DATABASE_URL / NB_TEST_AMQP_URL when set, else the
local servers, else testcontainers when a Docker engine answers; otherwise the
run stops with a message saying what is missing. Each run gets its own
database (roles and schemas bootstrapped in it) and its own exchange/queue
prefix, and removes both at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from nodebyte_common.bootstrap import bootstrap, with_database
from nodebyte_devstack.cleanup import discard_topology, drop_database
from nodebyte_devstack.pgbouncer import PgBouncer

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _from_containers(kind: str) -> str | None:
    """Start a container when a Docker engine answers; None when there is none."""
    try:
        import docker  # type: ignore[import-not-found]

        docker.from_env().ping()
    except Exception:
        return None
    if kind == "postgres":
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]

        container = PostgresContainer("postgres:16-alpine", driver=None).start()
        return container.get_connection_url()
    from testcontainers.rabbitmq import RabbitMqContainer  # type: ignore[import-not-found]

    container = RabbitMqContainer("rabbitmq:3.13-management").start()
    params = container.get_connection_params()
    return f"amqp://guest:guest@{params.host}:{params.port}/"


def _resolve(env: str, local: str, port: int, kind: str) -> str:
    explicit = os.environ.get(env)
    if explicit:
        return explicit
    if _reachable(local, port):
        return local
    found = _from_containers(kind)
    if found:
        return found
    pytest.exit(
        f"No {kind} for the tests: set {env}, start one on localhost:{port}, "
        "or make a Docker engine available for testcontainers.",
        returncode=3,
    )


@pytest.fixture(scope="session")
def run_tag() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return _resolve("NB_TEST_DATABASE_URL", LOCAL_PG, 5432, "postgres")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return _resolve("NB_TEST_AMQP_URL", LOCAL_AMQP, 5672, "rabbitmq")


@pytest.fixture(scope="session")
def database(admin_dsn: str, run_tag: str) -> Iterator[str]:
    """This run's database, with every service's role and schema; its admin DSN."""
    name = f"nb_test_{run_tag}"
    asyncio.run(bootstrap(admin_dsn, name))
    yield with_database(admin_dsn, name)
    asyncio.run(drop_database(admin_dsn, name))


@pytest.fixture(scope="session")
def pgbouncer(admin_dsn: str, database: str) -> Iterator[PgBouncer | None]:
    """With NB_TEST_PGBOUNCER=1, a transaction-pooling PgBouncer in front of this run's
    database that the services and the bus harness connect through; else None."""
    if os.environ.get("NB_TEST_PGBOUNCER") != "1":
        yield None
        return
    with PgBouncer(admin_dsn, urlsplit(database).path.lstrip("/")) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def amqp_prefix(amqp_url: str, run_tag: str) -> Iterator[str]:
    prefix = f"nbtest.{run_tag}"
    yield prefix
    asyncio.run(discard_topology(amqp_url, prefix))


@pytest.fixture
async def admin_conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack-logs")
