"""CLI: `python -m nodebyte_emulators {pterodactyl|discord|mail|hytale} --host H --port P ...`,
or `python -m nodebyte_emulators agent --url ws://H:P/ws --node-id ID --token T`
(`--credentials FILE` instead for many agents in one process).
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

from litestar import Litestar

from .agent_fleet import AgentFleet
from .discord import DiscordConfig, create_discord_app
from .hytale import HytaleConfig, create_hytale_app
from .mail import MailConfig, create_mail_app
from .pterodactyl import (
    DEFAULT_APPLICATION_KEY,
    DEFAULT_CLIENT_KEY,
    DatasetSpec,
    PterodactylConfig,
    create_pterodactyl_app,
)
from .server import run

_SIZES = ("locations", "nodes", "allocations", "nests", "eggs", "servers", "users")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nodebyte_emulators")
    emulators = parser.add_subparsers(dest="emulator", required=True)
    panel = emulators.add_parser("pterodactyl", help="Pterodactyl Application + Client API")
    _add_server_options(panel, port=8081)
    defaults = DatasetSpec()
    for size in _SIZES:
        panel.add_argument(f"--{size}", type=int, default=getattr(defaults, size))
    panel.add_argument("--seed", type=int, default=defaults.seed)
    panel.add_argument("--app-key", default=DEFAULT_APPLICATION_KEY)
    panel.add_argument("--client-key", default=DEFAULT_CLIENT_KEY)
    panel.add_argument(
        "--session-variables",
        default=",".join(defaults.session_variables),
        help="comma-separated env variables of the Hytale egg that carry pushed sessions",
    )
    panel.add_argument("--rate-limit", action="store_true", help="enforce 240/720 per minute")
    panel.add_argument(
        "--client-key-on-application",
        action="store_true",
        help="accept the (root admin) client key on the Application API, as panel 1.11 does",
    )
    discord = emulators.add_parser("discord", help="Discord webhook receiver")
    _add_server_options(discord, port=8082)
    discord.add_argument("--rate-limit", action="store_true", help="enforce per-webhook buckets")
    discord_defaults = DiscordConfig()
    discord.add_argument("--limit", type=int, default=discord_defaults.limit)
    discord.add_argument("--window", type=float, default=discord_defaults.window)
    discord.add_argument(
        "--global-limit", type=int, default=0, help="requests/s across webhooks (0: none)"
    )
    _add_mail_parser(emulators)
    _add_hytale(emulators)
    agent = emulators.add_parser("agent", help="reference node agents (simulated containers)")
    agent.add_argument("--url", required=True, help="the node-agent-gateway's ws://…/ws")
    agent.add_argument("--node-id", help="one agent: its node id")
    agent.add_argument("--token", help="one agent: its deployment token")
    agent.add_argument(
        "--token-from-env",
        metavar="NAME",
        help="one agent: the environment variable holding its token (kept out of `ps`)",
    )
    agent.add_argument(
        "--credentials", help='many agents: a JSON file [{"nodeId": …, "token": …}, …]'
    )
    agent.add_argument("--per-second", type=float, default=50.0, help="connection ramp-up")
    return parser


def _add_mail_parser(emulators: argparse._SubParsersAction) -> None:
    mail = emulators.add_parser("mail", help="Mail sink: SMTP and the Resend HTTP API")
    _add_server_options(mail, port=8092)
    defaults = MailConfig()
    mail.add_argument("--smtp-port", type=int, default=None, help="SMTP listener (none if unset)")
    mail.add_argument("--resend-key", default=defaults.resend_api_key)
    mail.add_argument(
        "--tls-cert", default=None, help="PEM certificate for STARTTLS (made if missing)"
    )
    mail.add_argument("--tls-key", default=None, help="its PEM key (made if missing)")
    mail.add_argument("--require-starttls", action="store_true")
    mail.add_argument("--smtp-user", default=None, help="require AUTH with this user")
    mail.add_argument("--smtp-password", default=None)


def _mail(args: argparse.Namespace) -> Litestar:
    return create_mail_app(
        MailConfig(
            resend_api_key=args.resend_key,
            smtp_port=args.smtp_port,
            smtp_host=args.host,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            require_starttls=args.require_starttls,
            smtp_user=args.smtp_user,
            smtp_password=args.smtp_password,
        )
    )


def _add_hytale(emulators: argparse._SubParsersAction) -> None:
    hytale = emulators.add_parser("hytale", help="Hytale OAuth, account data and game sessions")
    _add_server_options(hytale, port=8093)
    defaults = HytaleConfig()
    for name in ("issuer", "oauth_issuer", "audience", "client_id"):
        hytale.add_argument(f"--{name.replace('_', '-')}", default=getattr(defaults, name))
    for name in (
        "device_expires_in",
        "interval",
        "access_ttl",
        "refresh_ttl",
        "session_ttl",
        "session_limit",
        "demo_accounts",
    ):
        hytale.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name)
        )


def _add_server_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)


def _pterodactyl(args: argparse.Namespace) -> Litestar:
    variables = tuple(v.strip() for v in args.session_variables.split(",") if v.strip())
    spec = DatasetSpec(
        seed=args.seed,
        session_variables=variables,
        **{size: getattr(args, size) for size in _SIZES},
    )
    config = PterodactylConfig(
        dataset=spec,
        application_key=args.app_key,
        client_key=args.client_key,
        rate_limit=args.rate_limit,
        client_key_on_application=args.client_key_on_application,
    )
    app = create_pterodactyl_app(config)
    print(f"application key {config.application_key}", file=sys.stderr)
    print(f"client key      {config.client_key}", file=sys.stderr)
    return app


def _discord(args: argparse.Namespace) -> Litestar:
    return create_discord_app(
        DiscordConfig(args.rate_limit, args.limit, args.window, args.global_limit)
    )


def _hytale(args: argparse.Namespace) -> Litestar:
    fields = HytaleConfig.__dataclass_fields__
    return create_hytale_app(HytaleConfig(**{k: getattr(args, k) for k in fields if k in args}))


_FACTORIES = {"pterodactyl": _pterodactyl, "discord": _discord, "mail": _mail, "hytale": _hytale}


def _agent_credentials(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.credentials:
        with open(args.credentials) as file:
            return [(str(c["nodeId"]), str(c["token"])) for c in json.load(file)]
    token = os.environ.get(args.token_from_env, "") if args.token_from_env else args.token
    if args.node_id and token:
        return [(args.node_id, token)]
    raise SystemExit("error: give --node-id and --token, or --credentials")


async def _run_agents(url: str, credentials: list[tuple[str, str]], per_second: float) -> None:
    fleet = AgentFleet(url, credentials)
    await fleet.start(per_second)
    print(f"{len(fleet.agents)} agent(s) connecting to {url}", file=sys.stderr)
    try:
        await asyncio.Event().wait()
    finally:
        await fleet.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.emulator == "agent":
        asyncio.run(_run_agents(args.url, _agent_credentials(args), args.per_second))
        return
    try:
        app = _FACTORIES[args.emulator](args)
    except ValueError as exc:  # an impossible dataset size
        raise SystemExit(f"error: {exc}") from exc
    print(f"{args.emulator} emulator on http://{args.host}:{args.port}", file=sys.stderr)
    run(app, args.host, args.port)


if __name__ == "__main__":
    main()
