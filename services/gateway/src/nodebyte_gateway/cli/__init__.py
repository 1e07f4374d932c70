"""`nodebyte`: operate a NodeByte deployment from a shell.

    nodebyte users create-admin --email you@example.com      (asks for a password)
    nodebyte users create --email e --role SUPPORT_TEAM --password-stdin
    nodebyte api-keys create --name ci --scope sync.read --scope sync.write  (prints it once)
    nodebyte api-keys list [--all] | nodebyte api-keys revoke <id>
    nodebyte sync [full|locations] [--skip-users] [--no-follow]
    nodebyte status
    nodebyte bus dead-letters list|show|replay|discard [<id>] [--queue Q]; nodebyte bus outbox
    nodebyte db list|status|init|migrate [--schema S]|reset [--confirm DB] [--database URL]

User and key commands use the gateway database (DATABASE_URL, the gateway's
role); without DATABASE_URL, the local stack's settings (`.stack/cli.json`,
written by `make up`) give it and the services' URLs. `sync` and `status`
use the HTTP API: NODEBYTE_GATEWAY_URL (default http://127.0.0.1:8080) with
NODEBYTE_API_KEY (or BACKEND_API_KEY), and the services' URLs (SYNC_URL,
NOTIFIER_URL, …) as the gateway reads them. `bus` uses the admin API with
NODEBYTE_API_KEY. `db` works on every service's schema (cli_database: `--database`,
else DATABASE_URL, a role that may act as each service's role). `--json` prints
machine-readable output.

This module only parses arguments (`nodebyte --help` stays fast); the commands,
and their imports, are in cli_commands.
"""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="nodebyte", description="Operate a NodeByte deployment")
    root.add_argument("--json", action="store_true", help="machine-readable output")
    commands = root.add_subparsers(dest="command", required=True)

    users = commands.add_parser("users", help="create users").add_subparsers(
        dest="action", required=True
    )
    for name, help_text in (("create", "create a user"), ("create-admin", "create a SUPER_ADMIN")):
        cmd = users.add_parser(name, help=help_text)
        cmd.add_argument("--email", required=True)
        cmd.add_argument("--username")
        cmd.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        cmd.add_argument("--unverified", action="store_true", help="leave the email unverified")
        if name == "create":
            cmd.add_argument(
                "--role", action="append", dest="roles", help="repeatable (default MEMBER)"
            )

    keys = commands.add_parser("api-keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", dest="scopes", required=True, help="repeatable")
    create.add_argument("--expires-days", type=int)
    create.add_argument(
        "--key-only", action="store_true", help="print only the key (for $(...) in a shell)"
    )
    listing = keys.add_parser("list", help="list keys")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")

    sync = commands.add_parser("sync", help="trigger a panel sync and follow it")
    sync.add_argument("kind", nargs="?", default="full", choices=("full", "locations"))
    sync.add_argument("--skip-users", action="store_true")
    sync.add_argument("--no-follow", action="store_true", help="queue it and return")
    sync.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow it")
    sync.add_argument("--requested-by", default="nodebyte-cli")

    status = commands.add_parser("status", help="readiness of every service")
    status.add_argument("--timeout", type=float, default=10.0, help="seconds per service")
    _add_bus(commands)
    _add_db(commands)
    return root


def _add_db(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = commands.add_parser("db", help="every service's database schema and migrations")
    actions = db.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("list", "every migration of every schema (no database needed)"),
        ("status", "applied, pending and changed migrations per schema"),
        ("init", "create the database, roles and schemas; apply every migration"),
        ("migrate", "apply pending migrations (of every schema, or --schema)"),
        ("reset", "drop every schema and its data, then init (asks for the database name)"),
    ):
        cmd = actions.add_parser(name, help=help_text)
        if name != "list":
            cmd.add_argument("--database", help="the database's URL (default DATABASE_URL)")
            cmd.add_argument("--role-prefix", default="nb", help="of the services' roles")
        if name in ("list", "status", "migrate"):
            cmd.add_argument("--schema", help="one schema (gateway, sync, hytale_auth, …)")
        if name == "reset":
            cmd.add_argument("--confirm", help="the database name (else asked for)")


def _add_bus(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bus = commands.add_parser("bus", help="dead letters and outbox backlogs")
    topics = bus.add_subparsers(dest="topic", required=True)
    topics.add_parser("outbox", help="each service's unsent outbox")
    letters = topics.add_parser("dead-letters", help="list, show, replay or discard dead letters")
    actions = letters.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="dead letters of a queue (without --queue: counts)")
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=int, default=50)
    for action in ("show", "replay", "discard"):
        cmd = actions.add_parser(action, help=f"{action} one dead letter")
        cmd.add_argument("letter_id")
        cmd.add_argument("--queue", required=True)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from nodebyte_gateway.cli import cli_commands

    sys.exit(cli_commands.execute(args))


if __name__ == "__main__":
    main()
