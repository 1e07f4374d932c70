"""A node's maintenance mode, set on the panel and then in the mirror.

The panel is what the sync mirrors, so the change is made there
(`PATCH /api/application/nodes/{id}`) and the mirror row is rewritten from the
panel's answer: the answer, the mirror and every later sync agree.

Failures of the panel leave as 424 (`panel_failures`).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from nodebyte_common.circuit_breaker import CircuitOpenError
from nodebyte_common.contracts.panel_mirror import MirrorNode
from nodebyte_common.envelope import ApiError
from nodebyte_common.pterodactyl import PanelClient, PanelError
from nodebyte_sync import mirror_queries, panel_failures, steps, store
from nodebyte_sync.panel_connection import PanelConnection

# What the panel's node update requires (UpdateNodeRequest); sent back as the panel has them.
REQUIRED_FIELDS = (
    "name",
    "location_id",
    "fqdn",
    "scheme",
    "memory",
    "memory_overallocate",
    "disk",
    "disk_overallocate",
    "daemon_sftp",
    "daemon_listen",
)
NODE_MIRROR = steps.NODES.mirrors[0]


async def set_maintenance(
    pool: asyncpg.Pool, panel: PanelConnection, node_id: int, enabled: bool
) -> tuple[bool, MirrorNode]:
    """(maintenance before, the node after) once the panel has applied it."""
    async with pool.acquire() as conn:
        before = await mirror_queries.node(conn, node_id)
        if before is None:
            raise ApiError(404, "Node not found", "NOT_FOUND")
        await panel.refresh(conn)
    attributes = await _patch_on_panel(panel_failures.client_of(panel), node_id, enabled)
    async with pool.acquire() as conn, conn.transaction():
        await store.upsert_changed(
            conn, NODE_MIRROR.table, NODE_MIRROR.columns, steps.node_rows(attributes)
        )
        after = await mirror_queries.node(conn, node_id)
    return bool(before["maintenance_mode"]), mirror_queries.node_view(after)


async def _patch_on_panel(client: PanelClient, node_id: int, enabled: bool) -> dict[str, Any]:
    """The node's attributes as the panel answers the update."""
    try:
        current = (await client.application(f"/nodes/{node_id}"))["attributes"]
        body = {field: current[field] for field in REQUIRED_FIELDS if field in current}
        updated = await client.send(
            "PATCH",
            f"/api/application/nodes/{node_id}",
            json={**body, "maintenance_mode": enabled},
        )
    except (CircuitOpenError, PanelError) as exc:
        if isinstance(exc, PanelError) and exc.status == 404:
            raise ApiError(404, "The node no longer exists on the panel", "NOT_FOUND") from None
        raise panel_failures.answer(exc, "The panel did not apply the change") from None
    return updated["attributes"]
