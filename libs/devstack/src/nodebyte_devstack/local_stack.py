"""The stack `make up` runs and `make reset` empties, as the environment describes it.

    NB_ADMIN_DATABASE_URL  a superuser's URL (default postgres@127.0.0.1:5432)
    NB_DATABASE            the database (default nodebyte)
    AMQP_URL, NB_AMQP_PREFIX  the broker and the prefix of every exchange and queue
    NB_PORT_OFFSET         added to every default port (a second stack beside the first)
    NB_STACK_DIR           where secrets, the CLI's settings and logs live (default .stack)

Secrets come from `.stack/secrets.json` (see local_secrets); upstream variables set
in the shell replace the emulators (see upstreams).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from nodebyte_common.bootstrap import service_dsn
from nodebyte_devstack.config import DEFAULT_PORTS, SERVICES, StackConfig
from nodebyte_devstack.local_secrets import load_or_create
from nodebyte_devstack.upstreams import real_upstreams

CLI_SETTINGS_FILE = "cli.json"  # read by `nodebyte` when DATABASE_URL is not set

# The CLI's variable for each service's URL.
URL_VARIABLES = {
    "gateway": "NODEBYTE_GATEWAY_URL",
    "sync": "SYNC_URL",
    "hytale-auth": "HYTALE_AUTH_URL",
    "notifier": "NOTIFIER_URL",
    "scheduler": "SCHEDULER_URL",
    "node-agent-gateway": "NODE_AGENT_GATEWAY_URL",
}


def stack_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("NB_STACK_DIR") or ".stack")


def local_config(environ: Mapping[str, str] = os.environ) -> StackConfig:
    """The local stack's configuration; draws and keeps its secrets on first use."""
    offset = int(environ.get("NB_PORT_OFFSET") or 0)
    kept = load_or_create(stack_dir(environ)).overridden_by(environ)
    from_shell = {name for u in real_upstreams(environ) for name in u.variables}
    return StackConfig(
        admin_dsn=environ.get("NB_ADMIN_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        database=environ.get("NB_DATABASE") or "nodebyte",
        amqp_url=environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/",
        prefix=environ.get("NB_AMQP_PREFIX") or "nodebyte",
        ports={name: port + offset for name, port in DEFAULT_PORTS.items()},
        service_token=kept.service_token,
        api_key=kept.api_key,
        encryption_keys=kept.encryption_keys,
        jwt_private_key=kept.jwt_private_key,
        sftp_host_key=kept.sftp_host_key,
        from_shell=frozenset(from_shell),
    )


def write_cli_settings(config: StackConfig, directory: Path) -> Path:
    """What `nodebyte` needs to reach this stack: the gateway's database and the URLs."""
    settings = {URL_VARIABLES[s]: config.url(s) for s in SERVICES}
    settings["DATABASE_URL"] = service_dsn(config.database_dsn, "gateway")
    path = directory / CLI_SETTINGS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(settings, file, indent=2)
    return path
