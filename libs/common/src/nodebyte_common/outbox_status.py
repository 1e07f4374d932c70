"""`GET /internal/v1/bus/outbox`: a service's unsent outbox, for the operator's view of the bus.

Every service serves it (the runtime adds it), so the gateway asks each owner
about its own schema instead of reading it.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import msgspec
from litestar import get

from nodebyte_common.outbox import unsent_backlog


class OutboxStatus(msgspec.Struct, kw_only=True, frozen=True):
    service: str
    backlog: int  # rows written but not yet published
    oldest_unsent_seconds: float | None  # age of the oldest of them; None when there is none


class OutboxStatusAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: OutboxStatus


def outbox_status_route(service: str, pool_of: Callable[[], asyncpg.Pool]) -> object:
    @get("/bus/outbox", include_in_schema=False)
    async def outbox_status() -> OutboxStatusAnswer:
        async with pool_of().acquire() as conn:
            backlog, oldest = await unsent_backlog(conn)
        status = OutboxStatus(service=service, backlog=backlog, oldest_unsent_seconds=oldest)
        return OutboxStatusAnswer(success=True, data=status)

    return outbox_status
