"""The emails of account flows, queued as `email.requested` through the outbox.

Template names and `data` keys are the contract with the notifier's templates:

| template        | to          | data                                     |
|-----------------|-------------|------------------------------------------|
| verify-email    | the user    | name, email, verifyUrl*, expiresAt       |
| email-change    | new address | name, email, previousEmail, verifyUrl*, expiresAt |
| password-reset  | the user    | name, email, resetUrl*, expiresAt        |
| magic-link      | the user    | name, email, loginUrl*, expiresAt        |
| welcome         | the user    | name, email, dashboardUrl                |

Keys marked * hold a link with a single-use token (24 h; 1 h reset; 15 min
magic link) and are listed in the event's `sensitive`: the notifier renders
them into the email and nowhere else. The gateway never logs them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import asyncpg
import msgspec
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_gateway.account_tokens import Issued
from nodebyte_gateway.timestamps import iso

SOURCE = "nodebyte/gateway"


def display_name(user: asyncpg.Record) -> str:
    return user["first_name"] or user["username"] or user["email"].split("@", 1)[0]


class AccountEmails:
    def __init__(
        self, app_url: str, encryption_keys: str = "", encryption_key_id: str = ""
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self._keys = (encryption_keys, encryption_key_id)
        self._sealer: Sealer | None = None

    def _sealer_of(self) -> Sealer:
        """Links are capabilities: they travel sealed, opened only by the notifier."""
        if self._sealer is None:
            try:
                self._sealer = Sealer.from_settings(*self._keys)
            except SealingError:
                raise ApiError(503, "Email is not configured (ENCRYPTION_KEYS)") from None
        return self._sealer

    def _link(self, path: str, token: str) -> str:
        return f"{self.app_url}{path}?{urlencode({'token': token})}"

    async def verify_email(self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued) -> None:
        await self._send(
            conn,
            to=user["email"],
            subject="Verify your email",
            template="verify-email",
            data=self._base(
                user, t.expires_at, verifyUrl=self._link("/auth/verify-email", t.token)
            ),
            sensitive=["verifyUrl"],
        )

    async def email_change(
        self, conn: asyncpg.Connection, user: asyncpg.Record, new_email: str, t: Issued
    ) -> None:
        data = self._base(user, t.expires_at, verifyUrl=self._link("/auth/verify-email", t.token))
        data.update(email=new_email, previousEmail=user["email"])
        await self._send(
            conn,
            to=new_email,
            subject="Confirm your new email address",
            template="email-change",
            data=data,
            sensitive=["verifyUrl"],
        )

    async def password_reset(
        self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued
    ) -> None:
        await self._send(
            conn,
            to=user["email"],
            subject="Reset your password",
            template="password-reset",
            data=self._base(
                user, t.expires_at, resetUrl=self._link("/auth/reset-password", t.token)
            ),
            sensitive=["resetUrl"],
        )

    async def magic_link(self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued) -> None:
        await self._send(
            conn,
            to=user["email"],
            subject="Your sign-in link",
            template="magic-link",
            data=self._base(user, t.expires_at, loginUrl=self._link("/auth/magic-link", t.token)),
            sensitive=["loginUrl"],
        )

    async def welcome(self, conn: asyncpg.Connection, user: asyncpg.Record) -> None:
        await self._send(
            conn,
            to=user["email"],
            subject="Welcome to NodeByte",
            template="welcome",
            data={
                "name": display_name(user),
                "email": user["email"],
                "dashboardUrl": f"{self.app_url}/dashboard",
            },
            sensitive=[],
        )

    @staticmethod
    def _base(user: asyncpg.Record, expires_at: datetime, **link: str) -> dict[str, str | None]:
        return {
            "name": display_name(user),
            "email": user["email"],
            "expiresAt": iso(expires_at),
            **link,
        }

    async def _send(
        self,
        conn: asyncpg.Connection,
        *,
        to: str,
        subject: str,
        template: str,
        data: dict,
        sensitive: list[str],
    ) -> None:
        email_id = uuid6.uuid7()
        secret = {key: data.pop(key) for key in sensitive if key in data}
        sealed = (
            self._sealer_of().seal(
                msgspec.json.encode(secret).decode(), events.email_data_context(email_id)
            )
            if secret
            else None
        )
        event = events.EmailRequested(
            email_id=email_id,
            to=[to],
            subject=subject,
            template=template,
            data=data,
            sealed_data=sealed,
        )
        await outbox.enqueue(conn, event, source=SOURCE)
