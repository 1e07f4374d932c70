"""`nodebyte bus …`: the operator's view of the bus, through the admin API.

    nodebyte bus dead-letters list [--queue notifier.notifications] [--limit 50]
    nodebyte bus dead-letters show|replay|discard <id> --queue <queue>
    nodebyte bus outbox

cli.py parses these arguments. Every action goes through the gateway with
NODEBYTE_API_KEY (a key with `admin.bus.read` / `admin.bus.write`), so it is
audited like any admin call.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from rich.text import Text

from nodebyte_gateway.cli.cli_accounts import CliFailure
from nodebyte_gateway.cli.cli_stack import stack_settings

BUS = "/api/admin/bus"
LETTER_ACTIONS = {"show": "GET", "replay": "POST", "discard": "DELETE"}


async def run(args: argparse.Namespace) -> Any:
    """The `data` of the gateway's answer; CliFailure with its message otherwise."""
    settings = stack_settings()
    if not settings.key():
        raise CliFailure("set NODEBYTE_API_KEY to an API key with admin.bus.read/admin.bus.write")
    async with httpx.AsyncClient(
        base_url=settings.gateway_url, headers={"X-API-Key": settings.key()}, timeout=30
    ) as client:
        if args.topic == "outbox":
            return await _call(client, "GET", f"{BUS}/outbox", {})
        if args.action == "list":
            params: dict[str, Any] = {"limit": args.limit}
            if args.queue:
                params["queue"] = args.queue
            return await _call(client, "GET", f"{BUS}/dead-letters", params)
        path = f"{BUS}/dead-letters/{args.letter_id}"
        if args.action == "replay":
            path += "/replay"
        return await _call(client, LETTER_ACTIONS[args.action], path, {"queue": args.queue})


async def _call(client: httpx.AsyncClient, method: str, path: str, params: dict[str, Any]) -> Any:
    response = await client.request(method, path, params=params)
    body = response.json()
    if response.status_code != 200:
        raise CliFailure(f"{body.get('error', response.text)} (HTTP {response.status_code})")
    return body["data"]


def summary(args: argparse.Namespace, data: Any) -> Text:
    return Text(_summary(args, data))  # plain text: payloads are not rich markup


def _summary(args: argparse.Namespace, data: Any) -> str:
    """What a person reads (--json prints `data` instead)."""
    if args.topic == "outbox":
        return "\n".join(
            f"{row['service']:<20} backlog={row['backlog']} "
            f"oldest_unsent_s={row['oldestUnsentSeconds']}"
            + (f" ({row['error']})" if row.get("error") else "")
            for row in data
        )
    if args.action == "list" and not args.queue:
        return "\n".join(f"{row['queue']:<28} {row['deadLetters']}" for row in data)
    if args.action == "list":
        return "\n".join(_line(letter) for letter in data) or "no dead letters"
    if args.action == "show":
        return _detail(data)
    return f"{args.action}ed {data['id']} ({data['eventType']}) from {data['queue']}"


def _line(letter: dict[str, Any]) -> str:
    return (
        f"{letter['id']}  {letter['eventType'] or '?'}  {letter['reason']}  "
        f"x{letter['timesDeadLettered']}  {letter['deadLetteredAt'] or '-'}"
        + (f"  ({letter['problem']})" if letter["problem"] else "")
    )


def _detail(letter: dict[str, Any]) -> str:
    lines = [_line(letter), f"attempts: {letter['attempts']}", "headers:"]
    lines += [f"  {k}: {v}" for k, v in letter["headers"].items()]
    lines += ["payload:", f"  {letter['payload']}"]
    return "\n".join(lines)
