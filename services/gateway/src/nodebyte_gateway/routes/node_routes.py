"""Nodes (`/api/nodes`): registration, deployment tokens, usage charts.

The node-agent-gateway owns nodes; these routes check the caller and forward
to its internal API, which validates and answers in the envelope. Creating a
node answers synchronously because the answer carries the deployment token
(shown once), which no event may carry. The small forwarding helpers below
serve the other node-agent-gateway route modules too.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer
from nodebyte_common.contracts.nodes import (
    DeploymentToken,
    Node,
    NodeCreate,
    NodeCreated,
    NodeUpdate,
    PageQuery,
    Usage,
    UsagePeriod,
    UsageQuery,
)
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.openapi_links import Creates

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


USAGE_PERIODS = ("daily", "weekly", "monthly")


def usage_period(period: str) -> str:
    if period not in USAGE_PERIODS:
        raise ApiError(400, f"period must be one of {', '.join(USAGE_PERIODS)}")
    return period


def query(request: Request) -> dict[str, str]:
    """The query string to pass on (without the caller's API key)."""
    return {k: v for k, v in request.query_params.items() if k != "api_key"}


def routes(ctx: GatewayContext) -> list[Any]:
    public_url = ctx.settings.api_public_url.rstrip("/")

    def with_deploy_url(answer: Answer[Any]) -> Answer[Any]:
        """The reference's `deployUrl` beside a new deployment token: its agent's deploy
        script, at an address only the gateway knows."""
        data = answer.data
        url = f"{public_url}/api/deploy/{data.deployment_token}"
        return msgspec.structs.replace(answer, data=msgspec.structs.replace(data, deploy_url=url))

    node = "/api/nodes/{node_id:uuid}"
    read, write = catalogue.NODE_READ, catalogue.NODE_WRITE
    table = [
        Forward("GET", "/api/nodes", "/nodes", read, PagedAnswer[Node], "List nodes",
                query=PageQuery),
        Forward("GET", node, "/nodes/{node_id}", read, Answer[Node], "Node details"),
        Forward("POST", "/api/nodes", "/nodes", write, Answer[NodeCreated],
                "Register a node (answers its first deployment token, once)",
                body=NodeCreate, status=201, audit=audit.action("node.create"),
                then=with_deploy_url, refuses={409: "A node with this name already exists"}),
        Forward("PUT", node, "/nodes/{node_id}", write, Answer[Node], "Update a node",
                body=NodeUpdate, audit=audit.action("node.update")),
        Forward("DELETE", node, "/nodes/{node_id}", write, Nothing,
                "Delete a node without servers", audit=audit.action("node.delete")),
        Forward("POST", node + "/deployment-token", "/nodes/{node_id}/deployment-token", write,
                Answer[DeploymentToken],
                "Issue a new deployment token (revokes the previous ones)",
                audit=audit.action("node.token.rotate"), then=with_deploy_url,
                creates=Creates(items=("/api/deploy/{token}",), id="/data/deploymentToken")),
        Forward("GET", node + "/usage/{period:str}", "/nodes/{node_id}/usage/{period}", read,
                Answer[Usage],
                "Node usage chart: daily (hourly points), weekly or monthly (daily points)",
                query=UsageQuery, path_types={"period": UsagePeriod}),
    ]  # fmt: skip
    return forward_routes(ctx, AGENTS, TAGS, table)
