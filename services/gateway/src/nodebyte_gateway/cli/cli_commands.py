"""What each `nodebyte` command does, once cli.py has parsed its arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import httpx
from rich import box
from rich.console import Console
from rich.table import Table

from nodebyte_common.settings import SettingsError
from nodebyte_gateway.cli import cli_accounts, cli_bus, cli_database, cli_local_stack, cli_stack
from nodebyte_gateway.cli.cli_accounts import CliFailure
from nodebyte_gateway.cli.cli_stack import SyncFailed

ADMIN_ROLE = "SUPER_ADMIN"


def execute(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit code."""
    console = Console(stderr=args.json)  # with --json, stdout is JSON only
    try:
        if args.command != "db":  # the local stack's DATABASE_URL is the gateway's role
            cli_local_stack.apply_local_settings()
        return asyncio.run(run(args, console))
    except (CliFailure, SyncFailed, SettingsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/red] cannot reach the gateway: {type(exc).__name__}: {exc}")
        return 3


async def run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "users":
        return await _users(args, console)
    if args.command == "api-keys":
        return await _api_keys(args, console)
    if args.command == "sync":
        return await _sync(args, console)
    if args.command == "bus":
        data = await cli_bus.run(args)
        return _emit(args, console, data, cli_bus.summary(args, data))
    if args.command == "db":
        return await _db(args, console)
    return await _status(args, console)


async def _db(args: argparse.Namespace, console: Console) -> int:
    if args.action == "list":
        rows = cli_database.listing(args.schema)
        table = Table("schema", "migration", box=box.SIMPLE_HEAD)
        for row in rows:
            table.add_row(row["schema"], row["version"])
        return _emit(args, console, rows, table)
    url = args.database or os.environ.get("DATABASE_URL")
    if not url:
        raise CliFailure(
            "set DATABASE_URL or --database to the database's URL, as a role that may act "
            "as every service's role (e.g. postgresql://postgres@127.0.0.1:5432/nodebyte)"
        )
    if args.action == "status":
        return _db_status(args, console, await cli_database.status(url, args.schema))
    echo = console.print
    if args.action == "migrate":
        done = await cli_database.migrate_schemas(url, args.schema, echo, args.role_prefix)
    elif args.action == "init":
        done = await cli_database.init(url, echo, args.role_prefix)
    else:
        confirmation = args.confirm
        if confirmation is None:
            prompt = "This drops every NodeByte schema and its data. Database name: "
            confirmation = await asyncio.to_thread(input, prompt)
        done = await cli_database.reset(url, confirmation.strip(), echo, args.role_prefix)
    applied = sum(len(v) for v in done.values())
    return _emit(args, console, done, f"{applied} migrations applied in {len(done)} schemas")


def _db_status(args: argparse.Namespace, console: Console, rows: list[dict[str, Any]]) -> int:
    table = Table("schema", "applied", "pending", "changed", box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(
            row["schema"],
            str(row["applied"]),
            "\n".join(row["pending"]) or "-",
            "\n".join(row["changed"]) or "-",
        )
    _emit(args, console, rows, table)
    return 1 if any(row["pending"] or row["changed"] for row in rows) else 0


async def _users(args: argparse.Namespace, console: Console) -> int:
    roles = [ADMIN_ROLE] if args.action == "create-admin" else (args.roles or ["MEMBER"])
    # The settings and the database first: nobody types a password for nothing.
    await cli_accounts.check_database()
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


async def _api_keys(args: argparse.Namespace, console: Console) -> int:
    if args.action == "create":
        key = await cli_accounts.create_key(
            name=args.name, scopes=args.scopes, expires_days=args.expires_days
        )
        if args.key_only and not args.json:
            print(key["key"])
            return 0
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
        raise CliFailure(
            "set NODEBYTE_API_KEY (or BACKEND_API_KEY) to an API key with sync.read and sync.write"
        )
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
    # Names and URLs are what one copies from here: never cut or folded, whatever
    # the width (80 columns in a pipe); the detail column wraps instead.
    table = Table(box=box.SIMPLE_HEAD)
    for title, cells in (("service", list(results)), ("url", [r["url"] for r in results.values()])):
        table.add_column(title, no_wrap=True, min_width=max(len(c) for c in cells))
    table.add_column("ready", no_wrap=True)
    table.add_column("ms", no_wrap=True, justify="right")
    table.add_column("detail")
    for name, r in results.items():
        mark = "[green]ready[/green]" if r["ready"] else "[red]NOT READY[/red]"
        table.add_row(name, r["url"], mark, str(r.get("ms", "-")), r["detail"])
    _emit(args, console, results, table)
    return 0 if all(r["ready"] for r in results.values()) else 1


def _emit(args: argparse.Namespace, console: Console, data: Any, human: Any) -> int:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        console.print(human)
    return 0
