"""A panel server's live resources, read through to the panel's Client API.

Dashboards poll this for every server they show, so an answer is kept for a few
seconds and concurrent requests for one server share one panel call. The call is
made once, with a short timeout, through the circuit breaker the syncs use: a
panel that is down is answered with 503 at once instead of being waited on.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import msgspec

from nodebyte_common.circuit_breaker import CircuitOpenError
from nodebyte_common.contracts.server_resources import ResourceUsage, ServerResources
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError
from nodebyte_common.pterodactyl import PanelError
from nodebyte_common.runtime import Runtime
from nodebyte_sync import store
from nodebyte_sync.panel_connection import PanelConnection, PanelNotConfigured

CACHE_SECONDS = 3.0
MAX_ENTRIES = 10_000


class _Resources(msgspec.Struct):
    memory_bytes: int = 0
    cpu_absolute: float = 0.0
    disk_bytes: int = 0
    network_rx_bytes: int = 0
    network_tx_bytes: int = 0
    uptime: int = 0


class _Stats(msgspec.Struct):
    """StatsTransformer's attributes (`{"object": "stats", "attributes": …}`)."""

    current_state: str = "stopped"
    is_suspended: bool = False
    resources: _Resources = msgspec.field(default_factory=_Resources)


class _StatsItem(msgspec.Struct):
    attributes: _Stats


class LiveResources:
    def __init__(self, runtime: Runtime, panel: PanelConnection) -> None:
        self.runtime = runtime  # its pool exists once the app has started
        self.panel = panel
        self._kept: dict[int, tuple[float, ServerResources]] = {}
        self._reading: dict[int, asyncio.Future[ServerResources]] = {}

    async def read(self, ref: str) -> ServerResources:
        async with self.runtime.pool.acquire() as conn:
            server = await store.panel_server(conn, ref)
            await self.panel.refresh(conn)
        if server is None:
            raise ApiError(404, "Server not found", "NOT_FOUND")
        kept = self._kept.get(server["id"])
        if kept is not None and time.monotonic() < kept[0]:
            return kept[1]
        reading = self._reading.get(server["id"])
        if reading is None:
            reading = asyncio.ensure_future(self._fetch(server))
            self._reading[server["id"]] = reading
            reading.add_done_callback(lambda _: self._reading.pop(server["id"], None))
        return await asyncio.shield(reading)

    async def _fetch(self, server: asyncpg.Record) -> ServerResources:
        try:
            client = self.panel.live_client()
            body = await client.client(f"/servers/{server['identifier']}/resources")
            stats = msgspec.convert(body, _StatsItem).attributes
        except PanelNotConfigured as exc:
            raise dependency_failure(503, str(exc), "PANEL_NOT_CONFIGURED") from None
        except CircuitOpenError as exc:
            raise dependency_failure(
                503, f"The panel is unavailable: {exc}", "PANEL_UNAVAILABLE"
            ) from None
        except PanelError as exc:
            raise _refused(exc) from None
        except msgspec.ValidationError:
            raise dependency_failure(
                502, "The panel answered, but not as a panel does", "UPSTREAM_ERROR"
            ) from None
        answer = ServerResources(
            server_id=server["id"],
            uuid=server["uuid"],
            identifier=server["identifier"],
            current_state=stats.current_state,
            is_suspended=stats.is_suspended,
            resources=ResourceUsage(**msgspec.structs.asdict(stats.resources)),
            fetched_at=datetime.now(UTC),
        )
        if len(self._kept) >= MAX_ENTRIES:
            self._kept.pop(next(iter(self._kept)))
        self._kept[server["id"]] = (time.monotonic() + CACHE_SECONDS, answer)
        return answer


def _refused(exc: PanelError) -> ApiError:
    """The panel's refusal in our words (never its own)."""
    if exc.status == 404:
        return dependency_failure(404, "The panel does not know this server", "NOT_FOUND")
    if exc.status == 409:
        return dependency_failure(
            409,
            "The server cannot report its resources now "
            "(suspended, installing, or its node is in maintenance)",
            "SERVER_STATE_CONFLICT",
        )
    if exc.status is None:  # unreachable, timed out or failing (5xx)
        return dependency_failure(
            503, f"The panel is unavailable: {exc.category}", "PANEL_UNAVAILABLE"
        )
    return dependency_failure(502, f"The panel refused the read: {exc.category}", "UPSTREAM_ERROR")
