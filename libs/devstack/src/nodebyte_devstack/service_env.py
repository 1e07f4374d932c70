"""The environment of each service in a local stack, beyond what every service gets.

One function per service; `SERVICE_ENV` maps the service to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nodebyte_devstack.config import StackConfig

EnvFor = Callable[["StackConfig"], dict[str, str]]


def _no_env(_: StackConfig) -> dict[str, str]:
    return {}


def gateway_env(c: StackConfig) -> dict[str, str]:
    return {
        "BACKEND_PORT": str(c.ports["gateway"]),
        "BACKEND_API_KEY": c.api_key,
        "SYNC_URL": c.url("sync"),
        "HYTALE_AUTH_URL": c.url("hytale-auth"),
        "NOTIFIER_URL": c.url("notifier"),
        "SCHEDULER_URL": c.url("scheduler"),
        "NODE_AGENT_GATEWAY_URL": c.url("node-agent-gateway"),
    }


def sync_env(c: StackConfig) -> dict[str, str]:
    from nodebyte_devstack.config import PANEL_APP_KEY, PANEL_CLIENT_KEY

    return {
        "PTERODACTYL_URL": c.url("pterodactyl"),
        "PTERODACTYL_API_KEY": PANEL_APP_KEY,
        "PTERODACTYL_CLIENT_API_KEY": PANEL_CLIENT_KEY,
        "PANEL_RETRY_BASE_DELAY": "0.1",
    }


def notifier_env(c: StackConfig) -> dict[str, str]:
    return {
        "DISCORD_WEBHOOK_URL": f"{c.url('discord')}/api/webhooks/1/local-token",
        "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{c.ports['discord']}",
        "WEBHOOK_RETRY_BASE_DELAY": "0.2",
    }


def node_agent_gateway_env(c: StackConfig) -> dict[str, str]:
    # Short cadences so a local stack (and its tests) sees offline nodes, threshold
    # alerts and usage rollups within seconds rather than minutes.
    return {
        "REPLICA_ID": f"{c.prefix}-agents-{c.ports['node-agent-gateway']}",
        "AGENT_HEARTBEAT_INTERVAL_SECONDS": "2",
        "COMMAND_TIMEOUT_SECONDS": "5",
        "ALERT_EVALUATION_INTERVAL_SECONDS": "1",
        "ALERT_COOLDOWN_SECONDS": "60",
        "USAGE_ROLLUP_INTERVAL_SECONDS": "2",
        "TELEMETRY_FLUSH_SECONDS": "0.25",
        "LOCKOUT_BASE_SECONDS": "1",
        "AGENT_HANDSHAKE_TIMEOUT_SECONDS": "3",
    }


SERVICE_ENV: dict[str, EnvFor] = {
    "gateway": gateway_env,
    "sync": sync_env,
    "notifier": notifier_env,
    "node-agent-gateway": node_agent_gateway_env,
}
