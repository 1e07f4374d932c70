"""Users for tests and local poking: created through the admin API with a
service key, signed in through the public API (nothing behind the API's back).

    user = await create_signed_in_user(gateway_url, api_key, roles=["SUPER_ADMIN"])
    httpx.get(..., headers=user.headers)
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from nodebyte_common import events
from nodebyte_common.sealing import Sealer


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
    """Create a user with `client` (which carries an admin-capable API key)."""
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


class OutboxMailbox:
    """The account emails the gateway queued (its outbox's `email.requested`
    events), read with an admin connection: where tests find the links."""

    def __init__(self, conn: asyncpg.Connection, encryption_keys: str) -> None:
        self.conn = conn
        self.sealer = Sealer.from_settings(encryption_keys)

    async def messages(self, to: str, template: str | None = None) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT payload FROM gateway.outbox
               WHERE type = 'email.requested' ORDER BY seq"""
        )
        found = [json.loads(bytes(row["payload"])) for row in rows]
        return [
            m for m in found if to in m["to"] and (template is None or m["template"] == template)
        ]

    async def latest(self, to: str, template: str) -> dict[str, Any]:
        messages = await self.messages(to, template)
        if not messages:
            raise AssertionError(f"no {template} email to {to}")
        return messages[-1]

    async def link_token(self, to: str, template: str) -> str:
        """The token of the link in the latest `template` email to `to`."""
        message = await self.latest(to, template)
        (url,) = self.secrets(message).values()
        return parse_qs(urlsplit(url).query)["token"][0]

    def secrets(self, message: dict[str, Any]) -> dict[str, Any]:
        """What the gateway sealed for the notifier (the link), opened."""
        sealed = message.get("sealed_data")
        if not sealed:
            return {}
        return json.loads(self.sealer.open(sealed, events.email_data_context(message["email_id"])))
