"""`nodebyte`: operate a NodeByte deployment from a shell.

    nodebyte users create-admin --email you@example.com      (asks for a password)
    nodebyte users create --email e --role SUPPORT_TEAM --password-stdin
    nodebyte api-keys create --name ci --scope sync.write    (prints the key once)
    nodebyte api-keys list [--all] | nodebyte api-keys revoke <id>
    nodebyte sync [full|locations] [--skip-users] [--no-follow]
    nodebyte status
    nodebyte bus dead-letters list|show|replay|discard [<id>] [--queue Q]; nodebyte bus outbox

User and key commands use the gateway database (DATABASE_URL, the gateway's
role). `sync` and `status` use the HTTP API: NODEBYTE_GATEWAY_URL (default
http://127.0.0.1:8080) with NODEBYTE_API_KEY (or BACKEND_API_KEY), and the
services' URLs (SYNC_URL, NOTIFIER_URL, …) as the gateway reads them.
`bus` uses the admin API with NODEBYTE_API_KEY. `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from nodebyte_common.settings import SettingsError
from nodebyte_gateway import cli_accounts, cli_bus, cli_stack
from nodebyte_gateway.cli_accounts import CliFailure
from nodebyte_gateway.cli_stack import SyncFailed

ADMIN_ROLE = "SUPER_ADMIN"


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
    cli_bus.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    console = Console(stderr=args.json)  # with --json, stdout is JSON only
    try:
        code = asyncio.run(run(args, console))
    except (CliFailure, SyncFailed, SettingsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        code = 2
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/red] cannot reach the gateway: {type(exc).__name__}: {exc}")
        code = 3
    sys.exit(code)


async def run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "users":
        roles = [ADMIN_ROLE] if args.action == "create-admin" else (args.roles or ["MEMBER"])
        user = await cli_accounts.create_user(
            email=args.email,
            password=cli_accounts.read_password(args.password_stdin),
            roles=roles,
            username=args.username,
            verified=not args.unverified,
        )
        return _emit(
            args, console, user, f"created {user['email']} ({', '.join(roles)}) id {user['id']}"
        )
    if args.command == "api-keys":
        return await _api_keys(args, console)
    if args.command == "sync":
        return await _sync(args, console)
    if args.command == "bus":
        data = await cli_bus.run(args)
        return _emit(args, console, data, cli_bus.summary(args, data))
    return await _status(args, console)


async def _api_keys(args: argparse.Namespace, console: Console) -> int:
    if args.action == "create":
        key = await cli_accounts.create_key(
            name=args.name, scopes=args.scopes, expires_days=args.expires_days
        )
        text = f"created key {key['id']} ({', '.join(key['scopes'])}); store it now:\n{key['key']}"
        return _emit(args, console, key, text)
    if args.action == "revoke":
        key = await cli_accounts.revoke_key(args.key_id)
        return _emit(args, console, key, f"revoked {key['id']} ({key['name']})")
    keys = await cli_accounts.list_keys(args.all)
    table = Table("id", "name", "prefix", "scopes", "last used", "revoked")
    for k in keys:
        table.add_row(
            k["id"],
            k["name"],
            k["prefix"],
            " ".join(k["scopes"]),
            k["lastUsedAt"] or "-",
            k["revokedAt"] or "-",
        )
    return _emit(args, console, keys, table)


async def _sync(args: argparse.Namespace, console: Console) -> int:
    settings = cli_stack.stack_settings()
    if not settings.key():
        raise CliFailure("set NODEBYTE_API_KEY (or BACKEND_API_KEY) to an API key with sync.write")
    async with httpx.AsyncClient(
        base_url=settings.gateway_url, headers={"X-API-Key": settings.key()}, timeout=15
    ) as client:
        log_id = await cli_stack.trigger_sync(client, args.kind, args.skip_users, args.requested_by)
        if args.no_follow:
            return _emit(
                args, console, {"sync_log_id": log_id, "status": "PENDING"}, f"queued {log_id}"
            )
        status = await cli_stack.follow_sync(client, log_id, console=console, timeout=args.timeout)
    summary = f"sync {log_id}: {status['status']}, {status['itemsSynced']} items synced"
    if status.get("error"):
        summary += f" ({status['error']})"
    _emit(args, console, status, summary)
    return 0 if status["status"] == "COMPLETED" else 1


async def _status(args: argparse.Namespace, console: Console) -> int:
    results = await cli_stack.readiness(cli_stack.stack_settings().services(), args.timeout)
    table = Table("service", "ready", "url", "detail", "ms")
    for name, r in results.items():
        mark = "[green]ready[/green]" if r["ready"] else "[red]NOT READY[/red]"
        table.add_row(name, mark, r["url"], r["detail"], str(r.get("ms", "-")))
    _emit(args, console, results, table)
    return 0 if all(r["ready"] for r in results.values()) else 1


def _emit(args: argparse.Namespace, console: Console, data: Any, human: Any) -> int:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        console.print(human)
    return 0


if __name__ == "__main__":
    main()
