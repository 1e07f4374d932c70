"""Users for tests and local poking: created through the admin API with the
stack's admin key, signed in through the public API (nothing behind the API's back).

    user = await create_signed_in_user(gateway_url, admin_api_key, roles=["SUPER_ADMIN"])
    httpx.get(..., headers=user.headers)

The admin key is minted as an operator mints one: `nodebyte api-keys create`.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from nodebyte_common import events
from nodebyte_common.sealing import Sealer
from nodebyte_devstack.config import StackConfig
from nodebyte_gateway.cli import cli_accounts

ADMIN_KEY_NAME = "devstack-admin"


async def mint_admin_key(config: StackConfig) -> str:
    """A `*` API key minted as `nodebyte api-keys create` mints it, in the stack's database."""
    key = await cli_accounts.create_key(
        name=ADMIN_KEY_NAME,
        scopes=["*"],
        expires_days=None,
        database_url=config.service_env("gateway")["DATABASE_URL"],
    )
    return key["key"]


@dataclass
class SignedInUser:
    id: str
    email: str
    password: str
    roles: list[str]
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def new_password() -> str:
    return "Pw1-" + secrets.token_urlsafe(12)


def new_email(label: str = "user") -> str:
    return f"{label}-{secrets.token_hex(6)}@example.test"


async def create_user(
    client: httpx.AsyncClient,
    *,
    roles: list[str],
    email: str | None = None,
    password: str | None = None,
    verified: bool = True,
) -> tuple[dict[str, Any], str]:
    """Create a user with `client` (which carries the stack's admin key)."""
    password = password or new_password()
    response = await client.post(
        "/api/admin/users",
        json={
            "email": email or new_email(roles[0].lower() if roles else "user"),
            "password": password,
            "roles": roles,
            "emailVerified": verified,
        },
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating a user failed: {response.status_code} {response.text}")
    return response.json()["data"]["user"], password


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers={}
    )
    if response.status_code != 200:
        raise RuntimeError(f"signing in failed: {response.status_code} {response.text}")
    return response.json()["data"]


async def create_signed_in_user(
    gateway_url: str, api_key: str, *, roles: list[str], email: str | None = None
) -> SignedInUser:
    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"X-API-Key": api_key}, timeout=20
    ) as client:
        user, password = await create_user(client, roles=roles, email=email)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=20) as anonymous:
        tokens = await sign_in(anonymous, user["email"], password)
    return SignedInUser(
        id=user["id"],
        email=user["email"],
        password=password,
        roles=roles,
        access_token=tokens["accessToken"],
        refresh_token=tokens["refreshToken"],
    )


class Mailbox:
    """The account emails, seen from both ends: as the gateway queued them (its
    outbox's `email.requested` events, read with an admin connection, to check what
    travels sealed) and as the user receives them (the mail sink's inbox, where the
    tests find the links they follow)."""

    def __init__(self, conn: asyncpg.Connection, encryption_keys: str, mail_sink_url: str) -> None:
        self.conn = conn
        self.sealer = Sealer.from_settings(encryption_keys)
        self.mail_sink_url = mail_sink_url

    async def messages(self, to: str, template: str | None = None) -> list[dict[str, Any]]:
        """The `email.requested` events queued for `to`, oldest first."""
        rows = await self.conn.fetch(
            """SELECT payload FROM gateway.outbox
               WHERE type = 'email.requested' ORDER BY seq"""
        )
        found = [json.loads(bytes(row["payload"])) for row in rows]
        return [
            m for m in found if to in m["to"] and (template is None or m["template"] == template)
        ]

    async def latest(self, to: str, template: str, timeout: float = 10) -> dict[str, Any]:
        """The latest `template` email queued for `to`, waited for: flows that must not
        show in their answer's timing (forgot-password, magic link) queue after answering."""
        return (await self.at_least(to, template, 1, timeout))[-1]

    async def at_least(
        self, to: str, template: str, count: int, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The `template` emails queued for `to`, once there are `count` of them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(messages := await self.messages(to, template)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {count} {template} emails to {to}")
            await asyncio.sleep(0.05)
        return messages

    def secrets(self, message: dict[str, Any]) -> dict[str, Any]:
        """What the gateway sealed for the notifier (the link), opened."""
        sealed = message.get("sealed_data")
        if not sealed:
            return {}
        return json.loads(self.sealer.open(sealed, events.email_data_context(message["email_id"])))

    async def delivered(self, to: str, template: str, timeout: float = 20) -> dict[str, Any]:
        """The mail sink's copy of the latest `template` email queued for `to`."""
        email_id = (await self.latest(to, template))["email_id"]
        return await wait_for_mail(self.mail_sink_url, to, email_id, timeout)

    async def link(self, to: str, template: str) -> str:
        """The link the user reads in the latest `template` email to `to`."""
        mail = await self.delivered(to, template)
        return link_in(mail)

    async def link_token(self, to: str, template: str) -> str:
        """The token of that link, as the frontend's page would take it from the URL."""
        return parse_qs(urlsplit(await self.link(to, template)).query)["token"][0]


def is_mail_of(mail: dict[str, Any], email_id: str) -> bool:
    """Whether the sink's `mail` is the notifier's delivery of `email_id` (Resend or SMTP)."""
    headers = mail.get("headers") or {}
    return headers.get("X-Entity-Ref-ID") == email_id or (mail.get("message_id") or "").startswith(
        f"<{email_id}@"
    )


async def wait_for_mail(
    mail_sink_url: str, to: str, email_id: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=mail_sink_url, timeout=10) as sink:
        while True:
            inbox = (await sink.get("/_emulator/messages", params={"to": to})).json()
            found = [mail for mail in inbox if is_mail_of(mail, email_id)]
            if found:
                return found[-1]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"email {email_id} to {to} never reached the mail sink")
            await asyncio.sleep(0.1)


def link_in(mail: dict[str, Any]) -> str:
    """The one link with a token in a delivered mail, the same in its text and HTML parts."""
    in_text = set(re.findall(r"https?://\S+token=[\w.~-]+", mail["text"] or ""))
    in_html = {
        html.unescape(u) for u in re.findall(r'href="([^"]+token=[^"]+)"', mail["html"] or "")
    }
    if len(in_text) != 1 or in_text != in_html:
        raise AssertionError(f"expected one link, the same in text and HTML: {in_text} {in_html}")
    return in_text.pop()
