"""Writes `.env.example` from the settings declarations: `python -m nodebyte_devstack.env_example`.

Each service's settings Struct is the one place its variables are named, given
defaults and documented (comments above or beside a field); this renders them.
Variables read by something other than a service's settings (the bootstrap, the
CLI, docker compose, the tests) are declared here, the same way.
`tests/test_env_example.py` fails when the file and the declarations differ.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import msgspec

from nodebyte_common.settings import CommonSettings
from nodebyte_common.settings_docs import Variable, variables
from nodebyte_gateway.settings import GatewaySettings
from nodebyte_hytale_auth.settings import HytaleAuthSettings
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings
from nodebyte_notifier.settings import NotifierSettings
from nodebyte_scheduler.settings import SchedulerSettings
from nodebyte_sync.settings import SyncSettings

PATH = Path(__file__).resolve().parents[4] / ".env.example"
COMMENT_COLUMN = 34
WIDTH = 100


class BootstrapVariables(msgspec.Struct, kw_only=True):
    """`python -m nodebyte_common.bootstrap ADMIN_URL DATABASE`."""

    # Optional passwords of the service roles; none means trust/peer auth (local dev).
    nb_role_password_gateway: str = ""
    nb_role_password_sync: str = ""
    nb_role_password_hytale_auth: str = ""
    nb_role_password_notifier: str = ""
    nb_role_password_scheduler: str = ""
    nb_role_password_agents: str = ""


class LocalStackVariables(msgspec.Struct, kw_only=True):
    """`make up` and `make reset` (nodebyte_devstack.local_stack). Secrets are drawn once
    and kept in .stack/secrets.json; ENCRYPTION_KEYS, JWT_PRIVATE_KEY, SERVICE_TOKEN and
    BACKEND_API_KEY set in the shell win. Upstream variables set in the shell
    (PTERODACTYL_URL, DISCORD_WEBHOOK_URL, SMTP_HOST, ...) replace the emulators."""

    nb_admin_database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    nb_database: str = "nodebyte"
    nb_amqp_prefix: str = "nodebyte"
    nb_port_offset: int = 0  # added to every port: a second stack beside the first
    nb_stack_dir: str = ".stack"  # secrets, the CLI's settings (cli.json) and logs


class CliVariables(msgspec.Struct, kw_only=True):
    """The `nodebyte` CLI: users and api-keys use the gateway's DATABASE_URL; sync and
    status use the HTTP API and the services' URLs (SYNC_URL, NOTIFIER_URL, ...).
    Without DATABASE_URL, all of them come from the local stack's .stack/cli.json."""

    nodebyte_gateway_url: str = "http://127.0.0.1:8080"
    # An API key with sync.read and sync.write for `nodebyte sync`.
    nodebyte_api_key: str = ""


class ComposeVariables(msgspec.Struct, kw_only=True):
    """docker-compose.yml; the defaults are for a laptop."""

    nodebyte_tag: str = "dev"  # tag of the images compose builds
    postgres_password: str = ""  # the postgres superuser of the compose database
    db_password: str = ""  # the password of every service role in compose
    rabbitmq_password: str = ""  # the `nodebyte` broker user in compose
    grafana_admin_password: str = ""


class TestVariables(msgspec.Struct, kw_only=True):
    """`make test`."""

    nb_test_database_url: str = ""  # a superuser URL; default the local server
    nb_test_amqp_url: str = ""  # default amqp://guest:guest@127.0.0.1:5672/


SERVICES: list[tuple[str, type[msgspec.Struct]]] = [
    ("gateway", GatewaySettings),
    ("sync", SyncSettings),
    ("hytale-auth", HytaleAuthSettings),
    ("notifier", NotifierSettings),
    ("scheduler", SchedulerSettings),
    ("node-agent-gateway", NodeAgentGatewaySettings),
]
OTHERS: list[tuple[str, type[msgspec.Struct]]] = [
    ("make up", LocalStackVariables),
    ("the `nodebyte` CLI", CliVariables),
    ("bootstrap", BootstrapVariables),
    ("docker compose", ComposeVariables),
    ("tests", TestVariables),
]
HEADER = """\
# Every variable the services read, written from their settings declarations by
# `python -m nodebyte_devstack.env_example` (do not edit by hand). `make up` sets them
# for the local stack; in production each service gets its own values (Kubernetes
# ConfigMap/Secret). An explicitly empty value means empty for a text variable.
"""


def render() -> str:
    common = variables(CommonSettings)
    parts = [HEADER, _section("every service", None, common)]
    for name, settings in SERVICES:
        parts.append(_section(name, None, _own(variables(settings), common)))
    for name, declared in OTHERS:
        parts.append(_section(name, declared.__doc__, variables(declared)))
    return "\n".join(parts)


def _own(service: list[Variable], common: list[Variable]) -> list[Variable]:
    """A service's own variables, and the common ones it gives another default."""
    shared = {v.name: v.default for v in common}
    return [
        v if v.name not in shared else replace(v, doc="this service's default")
        for v in service
        if v.name not in shared or shared[v.name] != v.default
    ]


def _section(title: str, about: str | None, found: list[Variable]) -> str:
    lines = [f"# --- {title} ".ljust(80, "-")]
    if about:
        lines += ["# " + line for line in textwrap.wrap(" ".join(about.split()), WIDTH - 2)]
    for variable in found:
        lines += _lines(variable)
    return "\n".join(lines) + "\n"


def _lines(variable: Variable) -> list[str]:
    doc = "; ".join(filter(None, ["required" if variable.required else "", variable.doc]))
    doc = doc.removesuffix(".")
    assignment = f"{variable.name}={variable.default}"
    inline = f"{assignment.ljust(COMMENT_COLUMN - 1)} # {doc}" if doc else assignment
    if len(inline) <= WIDTH:
        return [inline]
    return ["# " + line for line in textwrap.wrap(doc, WIDTH - 2)] + [assignment]


if __name__ == "__main__":
    PATH.write_text(render())
