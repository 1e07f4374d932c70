"""Nodes (`/api/nodes`): registration, deployment tokens, usage charts.

The node-agent-gateway owns nodes; these routes check the caller and forward
to its internal API, which validates and answers in the envelope. Creating a
node answers synchronously because the answer carries the deployment token
(shown once), which no event may carry. The small forwarding helpers below
serve the other node-agent-gateway route modules too.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway import audit
from nodebyte_gateway.context import GatewayContext

AGENTS = "node-agent-gateway"
TAGS = ["nodes"]


async def forward(
    client: ServiceClient,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
) -> Response[Any]:
    """Call the owning service and answer with its envelope (errors as ApiError)."""
    status, body = await client.call(method, path, params=params, json=json)
    if status >= 400:
        raise upstream_error(status, body)
    return Response(body, status_code=status)


def upstream_error(status: int, body: Any) -> ApiError:
    body = body if isinstance(body, dict) else {}
    return ApiError(
        status, str(body.get("error") or "Request failed"), body.get("code"), body.get("details")
    )


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); anything else is a 400."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return value


def with_deploy_url(response: Response[Any], base: str) -> Response[Any]:
    """The reference's `deployUrl` beside a new deployment token: its agent's deploy script."""
    data = response.content["data"]
    data["deployUrl"] = f"{base.rstrip('/')}/api/deploy/{data['deploymentToken']}"
    return response


USAGE_PERIODS = ("daily", "weekly", "monthly")


def usage_period(period: str) -> str:
    if period not in USAGE_PERIODS:
        raise ApiError(400, f"period must be one of {', '.join(USAGE_PERIODS)}")
    return period


def query(request: Request) -> dict[str, str]:
    """The query string to pass on (without the caller's API key)."""
    return {k: v for k, v in request.query_params.items() if k != "api_key"}


def routes(ctx: GatewayContext) -> list[Any]:
    agents = ctx.client(AGENTS)
    read, write = ctx.require(catalogue.NODE_READ), ctx.require(catalogue.NODE_WRITE)

    @get("/api/nodes", guards=[read], tags=TAGS, summary="List nodes")
    async def list_nodes(request: Request) -> Any:
        return await forward(agents, "GET", "/nodes", params=query(request))

    @get("/api/nodes/{node_id:uuid}", guards=[read], tags=TAGS, summary="Node details")
    async def get_node(node_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/nodes/{node_id}")

    @post(
        "/api/nodes",
        guards=[write],
        tags=TAGS,
        status_code=201,
        summary="Register a node (answers its first deployment token, once)",
        opt=audit.action("node.create"),
    )
    async def create_node(request: Request) -> Any:
        created = await forward(agents, "POST", "/nodes", json=await json_object(request))
        return with_deploy_url(created, ctx.settings.api_public_url)

    @put(
        "/api/nodes/{node_id:uuid}",
        guards=[write],
        tags=TAGS,
        summary="Update a node",
        opt=audit.action("node.update"),
    )
    async def update_node(node_id: FromPath[UUID], request: Request) -> Any:
        return await forward(agents, "PUT", f"/nodes/{node_id}", json=await json_object(request))

    @delete(
        "/api/nodes/{node_id:uuid}",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Delete a node without servers",
        opt=audit.action("node.delete"),
    )
    async def delete_node(node_id: FromPath[UUID]) -> Any:
        return await forward(agents, "DELETE", f"/nodes/{node_id}")

    @post(
        "/api/nodes/{node_id:uuid}/deployment-token",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Issue a new deployment token (revokes the previous ones)",
        opt=audit.action("node.token.rotate"),
    )
    async def rotate_token(node_id: FromPath[UUID]) -> Any:
        issued = await forward(agents, "POST", f"/nodes/{node_id}/deployment-token")
        return with_deploy_url(issued, ctx.settings.api_public_url)

    @get(
        "/api/nodes/{node_id:uuid}/usage/{period:str}",
        guards=[read],
        tags=TAGS,
        summary="Node usage chart: daily (hourly points), weekly or monthly (daily points)",
    )
    async def node_usage(node_id: FromPath[UUID], period: FromPath[str], request: Request) -> Any:
        path = f"/nodes/{node_id}/usage/{usage_period(period)}"
        return await forward(agents, "GET", path, params=query(request))

    return [list_nodes, get_node, create_node, update_node, delete_node, rotate_token, node_usage]
