"""Internal API for IPAM: nodes' pools and servers' allocations.

A server's bindings change only while it is stopped (or crashed): a running
container keeps the ports it was started with. The server's row is locked for
the change, so two changes of one server's allocations take turns.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common.allocations import (
    AllocationCreate,
    AllocationView,
    IpPoolUpdate,
    IpPoolView,
    PortRange,
    PrimaryView,
)
from nodebyte_common.contracts.envelope import Answer, Nothing
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import allocation_store, allocations, node_store, server_store
from nodebyte_node_agent_gateway.allocations import AllocationRefused

STOPPED = ("stopped", "crashed")


def allocation_view(row: asyncpg.Record) -> AllocationView:
    return AllocationView(
        id=row["id"],
        server_id=row["server_id"],
        node_id=row["node_id"],
        ip=row["address"],
        port=row["port"],
        container_port=row["container_port"],
        is_primary=row["is_primary"],
        created_at=row["created_at"],
    )


def refused(exc: AllocationRefused) -> ApiError:
    return ApiError(exc.status, exc.message, exc.code)


async def pool_view(conn: asyncpg.Connection, node_id: UUID) -> IpPoolView:
    ips, ranges = await allocation_store.pool_of(conn, node_id)
    ports = sum(end - start + 1 for start, end in ranges)
    return IpPoolView(
        node_id=node_id,
        addresses=ips,
        port_ranges=[PortRange(start, end) for start, end in ranges],
        capacity=len(ips) * ports,
        allocated=await allocation_store.count_on_node(conn, node_id),
    )


def routes(runtime: Runtime) -> list[Any]:
    async def stopped_server(conn: asyncpg.Connection, server_id: UUID) -> asyncpg.Record:
        row = await server_store.get(conn, server_id, for_update=True)
        if row is None:
            raise ApiError(404, "Server not found")
        if row["state"] not in STOPPED:
            raise ApiError(409, "Server must be stopped to change its allocations")
        return row

    @get("/nodes/{node_id:uuid}/ip-pool")
    async def get_pool(node_id: FromPath[UUID]) -> Answer[IpPoolView]:
        async with runtime.pool.acquire() as conn:
            if await node_store.get(conn, node_id) is None:
                raise ApiError(404, "Node not found")
            return Answer(data=await pool_view(conn, node_id))

    @put("/nodes/{node_id:uuid}/ip-pool")
    async def put_pool(node_id: FromPath[UUID], request: Request) -> Answer[IpPoolView]:
        body = decode_body(await request.body(), IpPoolUpdate, empty_ok=False)
        async with runtime.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM nodes WHERE id = $1 FOR UPDATE", node_id) is None:
                raise ApiError(404, "Node not found")
            try:
                await allocations.set_pool(conn, node_id, body.addresses, body.port_ranges)
            except AllocationRefused as exc:
                raise refused(exc) from None
            return Answer(data=await pool_view(conn, node_id), message="IP pool updated")

    @get("/servers/{server_id:uuid}/allocations")
    async def list_allocations(server_id: FromPath[UUID]) -> Answer[list[AllocationView]]:
        async with runtime.pool.acquire() as conn:
            if await server_store.get(conn, server_id) is None:
                raise ApiError(404, "Server not found")
            rows = await allocation_store.of_server(conn, server_id)
        return Answer(data=[allocation_view(r) for r in rows])

    @post("/servers/{server_id:uuid}/allocations", status_code=200)
    async def add_allocation(server_id: FromPath[UUID], request: Request) -> Answer[AllocationView]:
        body = decode_body(await request.body(), AllocationCreate)
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                server = await stopped_server(conn, server_id)
                row = await allocations.allocate(
                    conn,
                    server["node_id"],
                    server_id,
                    ip=body.ip,
                    port=body.port,
                    container_port=body.container_port,
                )
        except AllocationRefused as exc:
            raise refused(exc) from None
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "The server already binds this container port", "CONTAINER_PORT_TAKEN"
            ) from None
        return Answer(data=allocation_view(row), message="Allocation added")

    @delete("/servers/{server_id:uuid}/allocations/{allocation_id:uuid}", status_code=200)
    async def delete_allocation(
        server_id: FromPath[UUID], allocation_id: FromPath[UUID]
    ) -> Nothing:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await stopped_server(conn, server_id)
            try:
                await allocations.release(conn, server_id, allocation_id)
            except AllocationRefused as exc:
                raise refused(exc) from None
        return Nothing(message="Allocation removed")

    @post("/servers/{server_id:uuid}/allocations/{allocation_id:uuid}/primary", status_code=200)
    async def set_primary(
        server_id: FromPath[UUID], allocation_id: FromPath[UUID]
    ) -> Answer[PrimaryView]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await stopped_server(conn, server_id)
            try:
                port = await allocations.make_primary(conn, server_id, allocation_id)
            except AllocationRefused as exc:
                raise refused(exc) from None
        return Answer(
            data=PrimaryView(server_id, allocation_id, port), message="Primary allocation set"
        )

    return [
        get_pool,
        put_pool,
        list_allocations,
        add_allocation,
        delete_allocation,
        set_primary,
    ]
