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
        "API_PUBLIC_URL": c.url("gateway"),
        "AGENT_PUBLIC_URL": "ws" + c.url("node-agent-gateway").removeprefix("http") + "/ws",
        "RATE_LIMITS": c.gateway_rate_limits,
        "JWT_PRIVATE_KEY": c.jwt_private_key,
        "WS_TICKET_TTL_SECONDS": "8",  # tests see a ticket expire without waiting 30 s
    }


def sync_env(c: StackConfig) -> dict[str, str]:
    from nodebyte_devstack.config import PANEL_APP_KEY, PANEL_CLIENT_KEY

    return {
        "PTERODACTYL_URL": c.url("pterodactyl"),
        "PTERODACTYL_API_KEY": PANEL_APP_KEY,
        "PTERODACTYL_CLIENT_API_KEY": PANEL_CLIENT_KEY,
        # The operator's egress allow-list: exactly the emulator, nothing else on loopback.
        "PANEL_ALLOWED_HOSTS": f"127.0.0.1:{c.ports['pterodactyl']}",
        "PANEL_RETRY_BASE_DELAY": "0.1",
        "PANEL_TIMEOUT_SECONDS": "3",
    }


def notifier_env(c: StackConfig) -> dict[str, str]:
    from nodebyte_devstack.config import MAIL_RESEND_KEY, MAIL_SMTP_PASSWORD, MAIL_SMTP_USER

    return {
        "DISCORD_WEBHOOK_URL": f"{c.url('discord')}/api/webhooks/1/local-token",
        "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{c.ports['discord']}",
        "WEBHOOK_RETRY_BASE_DELAY": "0.2",
        # Email goes to the mail sink: the Resend API by default, SMTP when
        # EMAIL_PROVIDER=smtp (STARTTLS with the sink's own certificate, and AUTH).
        "EMAIL_PROVIDER": "resend",
        "RESEND_API_URL": c.url("mail"),
        "RESEND_API_KEY": MAIL_RESEND_KEY,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(c.ports["mail-smtp"]),
        "SMTP_USERNAME": MAIL_SMTP_USER,
        "SMTP_PASSWORD": MAIL_SMTP_PASSWORD,
        "SMTP_CA_FILE": str(c.mail_tls_dir / "cert.pem"),
        "EMAIL_FROM": "NodeByte <noreply@nodebyte.test>",
        "EMAIL_RETRY_BASE_DELAY": "0.2",
        "ADMIN_EMAIL_TO": "admin@nodebyte.test",
    }


def scheduler_env(_: StackConfig) -> dict[str, str]:
    return {
        "REPLICA_ID": "scheduler-1",
        # Locally a task run with no failure reported is shown as sent sooner.
        "TASK_OUTCOME_TIMEOUT_SECONDS": "10",
    }


def hytale_auth_env(c: StackConfig) -> dict[str, str]:
    """The Hytale emulator stands in for all three Hytale hosts; the panel is the emulator's."""
    hytale = c.url("hytale")
    return {
        **sync_env(c),
        "HYTALE_OAUTH_URL": hytale,
        "HYTALE_ACCOUNT_DATA_URL": hytale,
        "HYTALE_SESSIONS_URL": hytale,
        "HYTALE_PUSH_RETRY_BASE_SECONDS": "0.5",
        "HYTALE_JWKS_MIN_REFETCH_SECONDS": "2",
        "HYTALE_POOL_METRICS_INTERVAL_SECONDS": "2",
    }


def node_agent_gateway_env(c: StackConfig) -> dict[str, str]:
    # Short cadences so a local stack (and its tests) sees threshold alerts and usage
    # rollups within seconds rather than minutes. The heartbeat stays the reference's
    # 30 s, so an agent at the reference cadence is never dropped; the integration
    # tests' stack sets a shorter one of its own (tests/integration/conftest.py).
    return {
        "REPLICA_ID": f"{c.prefix}-agents-{c.ports['node-agent-gateway']}",
        "COMMAND_TIMEOUT_SECONDS": "5",
        "ALERT_EVALUATION_INTERVAL_SECONDS": "1",
        "ALERT_COOLDOWN_SECONDS": "60",
        "USAGE_ROLLUP_INTERVAL_SECONDS": "2",
        "TELEMETRY_FLUSH_SECONDS": "0.25",
        "LOCKOUT_BASE_SECONDS": "1",
        "AGENT_HANDSHAKE_TIMEOUT_SECONDS": "3",
        "TRANSFER_STALL_SECONDS": "10",  # a stalled transfer rolls back within a test
        "WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{c.ports['discord']}",  # alert-rule webhooks
        "SFTP_PORT": str(c.ports["sftp"]),
        "SFTP_HOST_KEY": c.sftp_host_key,
        "GATEWAY_URL": c.url("gateway"),  # checks SFTP sign-ins
    }


SERVICE_ENV: dict[str, EnvFor] = {
    "gateway": gateway_env,
    "sync": sync_env,
    "hytale-auth": hytale_auth_env,
    "notifier": notifier_env,
    "scheduler": scheduler_env,
    "node-agent-gateway": node_agent_gateway_env,
}
