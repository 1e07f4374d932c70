"""How the platform is: each service's readiness and the agent fleet in numbers.

Each service is asked for its own `/health/ready` (at the URL in the gateway's
settings), concurrently and with a short timeout; one that does not answer, or
answers not ready, is reported down, and the report is still given. The fleet
comes from its owner, the node-agent-gateway (`nodebyte_common.fleet`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import aiohttp
import msgspec

from nodebyte_common.envelope import ApiError
from nodebyte_common.fleet import FLEET_PATH, FleetSummary, NodeCounts, ServerCounts
from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime

GATEWAY = "gateway"
AGENTS = "node-agent-gateway"
PROBE_TIMEOUT_SECONDS = 2.0
STARTED = time.monotonic()


class ServiceHealth(msgspec.Struct, kw_only=True, frozen=True):
    service: str
    status: Literal["up", "down"]  # up: its /health/ready answered ready
    checks: dict[str, bool] | None  # what it checked (its database …), when it answered
    error: str | None  # why it is down
    latencyMs: float


class AdminHealth(msgspec.Struct, kw_only=True, frozen=True):
    status: Literal["healthy", "degraded"]  # degraded: a service is down or the fleet unknown
    database: Literal["connected", "disconnected"]  # the gateway's own
    services: list[ServiceHealth]
    nodes: NodeCounts | None  # None when the node-agent-gateway cannot say
    servers: ServerCounts | None
    uptimeSeconds: float  # this gateway process's


class AdminHealthAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: AdminHealth


async def report(runtime: Runtime, clients: dict[str, ServiceClient]) -> AdminHealth:
    own, probed, fleet = await asyncio.gather(
        _own(runtime), _probe_all(clients), fleet_summary(clients[AGENTS])
    )
    services = [own, *probed]
    healthy = fleet is not None and all(s.status == "up" for s in services)
    return AdminHealth(
        status="healthy" if healthy else "degraded",
        database="connected" if own.status == "up" else "disconnected",
        services=services,
        nodes=fleet.nodes if fleet else None,
        servers=fleet.servers if fleet else None,
        uptimeSeconds=round(time.monotonic() - STARTED, 1),
    )


async def fleet_summary(agents: ServiceClient) -> FleetSummary | None:
    """The fleet as its owner counts it; None when it cannot be asked."""
    try:
        status, body = await agents.call("GET", FLEET_PATH)
    except ApiError:
        return None
    if status != 200 or not isinstance(body, dict):
        return None
    try:
        return msgspec.convert(body.get("data"), FleetSummary)
    except msgspec.ValidationError:
        return None


async def _own(runtime: Runtime) -> ServiceHealth:
    started = time.perf_counter()
    ready = await runtime.ready_db()
    return ServiceHealth(
        service=GATEWAY,
        status="up" if ready else "down",
        checks={"database": ready},
        error=None if ready else "The gateway's database does not answer",
        latencyMs=_since(started),
    )


async def _probe_all(clients: dict[str, ServiceClient]) -> list[ServiceHealth]:
    return list(await asyncio.gather(*(_probe(client) for client in clients.values())))


async def _probe(client: ServiceClient) -> ServiceHealth:
    started = time.perf_counter()
    try:
        status, body = await client.readiness(PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        return _down(client.name, started, f"No answer within {PROBE_TIMEOUT_SECONDS:g} s")
    except aiohttp.ClientError as exc:
        return _down(client.name, started, f"Unreachable ({type(exc).__name__})")
    checks = _checks(body)
    if status != 200:
        return _down(client.name, started, f"Not ready (HTTP {status})", checks)
    return ServiceHealth(
        service=client.name, status="up", checks=checks, error=None, latencyMs=_since(started)
    )


def _checks(body: object) -> dict[str, bool] | None:
    """A readiness answer's checks: `data.checks` when ready, `details` when not."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    found = data.get("checks") if isinstance(data, dict) else body.get("details")
    if not isinstance(found, dict):
        return None
    return {str(name): bool(ok) for name, ok in found.items()}


def _down(
    service: str, started: float, error: str, checks: dict[str, bool] | None = None
) -> ServiceHealth:
    return ServiceHealth(
        service=service, status="down", checks=checks, error=error, latencyMs=_since(started)
    )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
