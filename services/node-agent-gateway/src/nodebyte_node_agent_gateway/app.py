"""Composition root of node-agent-gateway: settings → pool → broker → HTTP and WebSocket app."""

from __future__ import annotations

import logging
from pathlib import Path

from litestar import Litestar

from nodebyte_common.observability import configure_logging, configure_tracing
from nodebyte_common.runtime import Runtime
from nodebyte_common.sealing import optional_sealer
from nodebyte_common.settings import csv, load_settings
from nodebyte_common.webapp import internal_router
from nodebyte_node_agent_gateway import (
    alert_api,
    allocation_api,
    database_api,
    file_api,
    fleet_api,
    gc_tuning,
    housekeeping,
    live_endpoint,
    node_api,
    server_api,
    telemetry,
    template_api,
)
from nodebyte_node_agent_gateway.agent_connections import AgentConnections
from nodebyte_node_agent_gateway.agent_endpoint import AgentEndpoint
from nodebyte_node_agent_gateway.agent_messages import AgentMessages
from nodebyte_node_agent_gateway.alert_evaluation import AlertEvaluation
from nodebyte_node_agent_gateway.alerts import AlertPolicy
from nodebyte_node_agent_gateway.command_delivery import CommandDelivery
from nodebyte_node_agent_gateway.command_router import CommandRouter
from nodebyte_node_agent_gateway.database_hosts import DatabaseHosts
from nodebyte_node_agent_gateway.file_streams import FileStreams
from nodebyte_node_agent_gateway.game_databases import GameDatabases
from nodebyte_node_agent_gateway.live_hub import LiveHub
from nodebyte_node_agent_gateway.liveness import Liveness
from nodebyte_node_agent_gateway.mysql_admin import Timeouts
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.session_registry import SessionRegistry
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings
from nodebyte_node_agent_gateway.sftp_server import SftpServer
from nodebyte_node_agent_gateway.transfers import Transfers

SERVICE = "node-agent-gateway"


def build_app(settings: NodeAgentGatewaySettings | None = None) -> Litestar:
    settings = settings or load_settings(NodeAgentGatewaySettings)
    runtime = Runtime(
        service=SERVICE,
        schema="agents",
        settings=settings,
        migrations_dir=Path(__file__).parent / "migrations",
    )

    def pool():  # the pool exists once the runtime started
        return runtime.pool

    registry = SessionRegistry()
    # Alert rules' webhook URLs (at rest and for the notifier), database hosts' passwords.
    sealer = optional_sealer(settings)
    alert_policy = AlertPolicy(settings.alert_cooldown_seconds, sealer)
    link = NodeLink(settings.amqp_url, settings.amqp_prefix, settings.replica_id)
    buffer = telemetry.TelemetryBuffer(settings.console_lines_per_server)
    delivery = CommandDelivery(
        runtime, registry, settings.replica_id, settings.command_timeout_seconds
    )
    link.on_node_message = delivery.on_node_message
    files = FileStreams(registry, link, settings.replica_id, settings.file_idle_seconds)
    link.on_file_message = files.on_link_message
    hub = LiveHub(link)
    CommandRouter(runtime, link, settings).register()
    transfers = Transfers(runtime, link, settings)
    connections = AgentConnections(runtime, registry, link, settings.replica_id, files)
    connections.on_node_left = transfers.node_left
    connections.on_node_joined = delivery.redeliver
    messages = AgentMessages(runtime, buffer, link, settings, alert_policy, transfers)
    endpoint = AgentEndpoint(pool, connections, messages, link, settings, files)

    runtime.loop("node-link", link.run)
    runtime.loop("command-delivery", delivery.run)
    runtime.loop(
        "telemetry-flush",
        lambda: telemetry.flush_forever(buffer, pool, registry, settings.telemetry_flush_seconds),
    )
    runtime.loop("server-sets", lambda: messages.refresh_server_sets_forever(registry))
    runtime.loop("liveness", Liveness(pool, registry, settings, alert_policy).run)
    runtime.loop("alert-evaluation", AlertEvaluation(pool, settings, alert_policy).run)
    runtime.loop("transfer-sweep", lambda: transfers.sweep_forever(pool))
    runtime.loop("housekeeping", lambda: housekeeping.run_forever(pool, settings))

    database_hosts = DatabaseHosts(
        sealer,
        Timeouts(
            settings.database_host_connect_timeout_seconds,
            settings.database_host_operation_timeout_seconds,
        ),
    )
    game_databases = GameDatabases(database_hosts)
    server_files = file_api.ServerFiles(runtime, files)
    sftp = SftpServer(runtime, server_files, settings)
    if sftp.enabled:
        runtime.loop("sftp", sftp.serve_forever)
    internal = [
        *node_api.routes(runtime, link, settings),
        *server_api.routes(runtime, game_databases, transfers),
        *database_api.routes(runtime, database_hosts, game_databases),
        *file_api.routes(server_files),
        *allocation_api.routes(runtime),
        *template_api.routes(runtime),
        *fleet_api.routes(runtime),
        *alert_api.routes(runtime, sealer, frozenset(csv(settings.webhook_allowed_hosts))),
        live_endpoint.route(runtime, hub),
    ]
    return runtime.create_app([endpoint.route(), internal_router(settings.service_token, internal)])


def main() -> None:
    """Serve under uvicorn; its WebSocket pings (one per heartbeat interval) find half-open
    agent sockets, and per-message compression is off (small frames, memory per socket)."""
    import uvicorn

    settings = load_settings(NodeAgentGatewaySettings)
    app = build_app(settings)  # before configuring logs: Litestar sets up its own first
    configure_logging(SERVICE, settings.log_level)
    configure_tracing(SERVICE, settings.otel_exporter_otlp_endpoint)
    # One line per agent (re)connection is noise at fleet scale; metrics count them.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    interval = settings.agent_heartbeat_interval_seconds
    gc_tuning.tune_for_many_connections()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.agent_message_max_bytes,
        ws_ping_interval=interval,
        ws_ping_timeout=interval,
        ws_per_message_deflate=False,
        access_log=False,
        log_config=None,
        lifespan="on",
        # SIGTERM: requests (and agent sockets) in flight get this long, then the
        # lifespan drains the consumers for as long again.
        timeout_graceful_shutdown=settings.shutdown_drain_seconds,
    )
