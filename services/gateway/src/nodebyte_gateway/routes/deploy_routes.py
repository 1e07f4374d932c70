"""`GET /api/deploy/{token}`: the script that deploys a node's agent (the reference's deployUrl).

The deployment token in the path is the credential (as the reference has it), so
the route is public; the token goes to the node-agent-gateway in a body, never in
another URL. The script holds the gateway's public agent URL (AGENT_PUBLIC_URL),
the node id and the token: it runs the agent as

    curl -fsSL <deployUrl> | sh

with NODEBYTE_AGENT naming the agent's command (`nodebyte-agent` by default).
"""

from __future__ import annotations

import shlex
from typing import Any

import msgspec
from litestar import Response, get
from litestar.params import FromPath

from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_common.server_templates import DeploymentTarget, DeploymentTokenLookup
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.routes.node_routes import AGENTS, upstream_error

TOKEN_SHAPE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def deploy_script(agent_url: str, target: DeploymentTarget, token: str) -> str:
    """The script, every value quoted for the shell (they are never interpreted)."""
    return "\n".join(
        [
            "#!/bin/sh",
            f"# NodeByte agent for node {shlex.quote(target.node_name)} ({target.node_id}).",
            f"# The deployment token expires at {target.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
            "set -eu",
            f"NODEBYTE_GATEWAY_URL={shlex.quote(agent_url)}",
            f"NODEBYTE_NODE_ID={shlex.quote(str(target.node_id))}",
            f"NODEBYTE_DEPLOYMENT_TOKEN={shlex.quote(token)}",
            "export NODEBYTE_GATEWAY_URL NODEBYTE_NODE_ID NODEBYTE_DEPLOYMENT_TOKEN",
            'exec ${NODEBYTE_AGENT:-nodebyte-agent} --url "$NODEBYTE_GATEWAY_URL" \\',
            '    --node-id "$NODEBYTE_NODE_ID" --token-from-env NODEBYTE_DEPLOYMENT_TOKEN',
            "",
        ]
    )


def routes(ctx: GatewayContext) -> list[Any]:
    agents = ctx.client(AGENTS)

    @get(
        "/api/deploy/{token:str}",
        tags=["nodes"],
        summary="The node's agent deploy script (its deployment token is the credential)",
        opt={"rate_limit": "public"},
        media_type="text/x-shellscript",
    )
    async def deploy(token: FromPath[str]) -> Response[str]:
        if not 0 < len(token) <= 200 or not set(token) <= TOKEN_SHAPE:
            raise ApiError(404, "Deployment token not found")
        lookup = msgspec.to_builtins(DeploymentTokenLookup(token=token))
        status, answer = await agents.call("POST", "/deployment-tokens/lookup", json=lookup)
        if status >= 400:
            raise upstream_error(status, answer)
        target = msgspec.convert(answer, Answer[DeploymentTarget]).data
        script = deploy_script(ctx.settings.agent_public_url, target, token)
        return Response(
            script,
            media_type="text/x-shellscript",
            headers={"Cache-Control": "no-store"},
        )

    return [deploy]
