"""Internal API: the fleet in numbers (`GET /internal/v1/fleet`), for the admin views."""

from __future__ import annotations

from typing import Any

from litestar import get

from nodebyte_common.fleet import FLEET_PATH, FleetAnswer
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import fleet_store


def routes(runtime: Runtime) -> list[Any]:
    @get(FLEET_PATH)
    async def fleet() -> FleetAnswer:
        # One snapshot, so the node and server counts agree with each other.
        async with (
            runtime.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return FleetAnswer(success=True, data=await fleet_store.summary(conn))

    return [fleet]
