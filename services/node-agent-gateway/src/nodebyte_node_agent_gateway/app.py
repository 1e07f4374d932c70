"""Composition root of node-agent-gateway: settings → pool → broker → HTTP app."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from nodebyte_common.runtime import Runtime, serve
from nodebyte_common.settings import load_settings
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

SERVICE = "node-agent-gateway"


def build_app(settings: NodeAgentGatewaySettings | None = None) -> Litestar:
    settings = settings or load_settings(NodeAgentGatewaySettings)
    runtime = Runtime(
        service=SERVICE,
        schema="agents",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )
    return runtime.create_app([])


def main() -> None:
    settings = load_settings(NodeAgentGatewaySettings)
    serve(build_app(settings), settings, SERVICE)
