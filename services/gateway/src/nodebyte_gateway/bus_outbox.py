"""The outbox backlog of every service: each owner answers for its own schema."""

from __future__ import annotations

import asyncio

import asyncpg

from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.outbox import unsent_backlog
from nodebyte_gateway.bus_schemas import OutboxBacklog

GATEWAY = "gateway"


async def backlogs(pool: asyncpg.Pool, clients: dict[str, ServiceClient]) -> list[OutboxBacklog]:
    """The gateway's own figure, then each service's, asked concurrently."""
    others = await asyncio.gather(*(_asked(client) for client in clients.values()))
    return [await _own(pool), *others]


async def _own(pool: asyncpg.Pool) -> OutboxBacklog:
    async with pool.acquire() as conn:
        backlog, oldest = await unsent_backlog(conn)
    return OutboxBacklog(service=GATEWAY, backlog=backlog, oldestUnsentSeconds=oldest)


async def _asked(client: ServiceClient) -> OutboxBacklog:
    try:
        status, body = await client.call("GET", "/bus/outbox")
    except ApiError as exc:
        return _unknown(client.name, exc.message)
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return _unknown(client.name, f"The {client.name} service answered {status}")
    data = body["data"]
    return OutboxBacklog(
        service=client.name,
        backlog=int(data["backlog"]),
        oldestUnsentSeconds=data.get("oldest_unsent_seconds"),
    )


def _unknown(service: str, error: str) -> OutboxBacklog:
    return OutboxBacklog(service=service, backlog=None, oldestUnsentSeconds=None, error=error)
