"""Webhooks on the Discord emulator, and what they received: for the integration tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually


def hook_url(stack: Stack) -> tuple[str, str]:
    """A fresh webhook on the Discord emulator: (its id, its URL)."""
    hook_id = str(secrets.randbelow(10**17) + 10**17)
    return hook_id, f"{stack.config.url('discord')}/api/webhooks/{hook_id}/{secrets.token_hex(8)}"


async def messages_to(discord: httpx.AsyncClient, hook_id: str) -> list[dict[str, Any]]:
    return (await discord.get("/_emulator/messages", params={"webhook_id": hook_id})).json()


async def arrived(discord: httpx.AsyncClient, hook_id: str, count: int = 1) -> list[dict]:
    async def enough() -> list[dict] | None:
        found = await messages_to(discord, hook_id)
        return found if len(found) >= count else None

    return await eventually(enough, timeout=30)


def embed(message: dict[str, Any]) -> dict[str, Any]:
    return message["body"]["embeds"][0]
