"""The emails of account flows, queued as `email.requested` through the outbox.

What each template needs is declared once, in `nodebyte_common.email_catalogue`,
which the notifier renders from. Fields a template lists in `SENSITIVE` hold a
link with a single-use token (24 h; 1 h reset; 15 min magic link): they travel
sealed in `sealed_data`, opened only by the notifier. The gateway never logs them.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import asyncpg
import msgspec
import uuid6

from nodebyte_common import email_catalogue, events, outbox
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_gateway.accounts import account_tokens
from nodebyte_gateway.accounts.account_tokens import Issued

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
        url = self._link("/auth/verify-email", t.token)
        await self._send(
            conn, user["email"], email_catalogue.VerifyEmail(**self._base(user, t), verify_url=url)
        )

    async def email_change(
        self, conn: asyncpg.Connection, user: asyncpg.Record, new_email: str, t: Issued
    ) -> None:
        email = email_catalogue.EmailChange(
            name=display_name(user),
            new_email=new_email,
            previous_email=user["email"],
            verify_url=self._link("/auth/verify-email", t.token),
            expires_at=email_catalogue.time_text(t.expires_at),
        )
        await self._send(conn, new_email, email)

    async def password_reset(
        self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued
    ) -> None:
        url = self._link("/auth/reset-password", t.token)
        minutes = account_tokens.LIFETIME_SECONDS["password_reset"] // 60
        email = email_catalogue.PasswordReset(
            **self._base(user, t), reset_url=url, expires_in_minutes=minutes
        )
        await self._send(conn, user["email"], email)

    async def magic_link(self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued) -> None:
        url = self._link("/auth/magic-link", t.token)
        await self._send(
            conn, user["email"], email_catalogue.MagicLink(**self._base(user, t), login_url=url)
        )

    async def unlock(
        self, conn: asyncpg.Connection, user: asyncpg.Record, t: Issued, locked_until: datetime
    ) -> None:
        email = email_catalogue.AccountUnlock(
            **self._base(user, t),
            unlock_url=self._link("/auth/unlock", t.token),
            locked_until=email_catalogue.time_text(locked_until),
        )
        await self._send(conn, user["email"], email)

    async def welcome(self, conn: asyncpg.Connection, user: asyncpg.Record) -> None:
        email = email_catalogue.Welcome(
            name=display_name(user), email=user["email"], dashboard_url=f"{self.app_url}/dashboard"
        )
        await self._send(conn, user["email"], email)

    @staticmethod
    def _base(user: asyncpg.Record, t: Issued) -> dict[str, str]:
        return {
            "name": display_name(user),
            "email": user["email"],
            "expires_at": email_catalogue.time_text(t.expires_at),
        }

    async def _send(
        self, conn: asyncpg.Connection, to: str, email: email_catalogue.EmailData
    ) -> None:
        email_id = uuid6.uuid7()
        data = email_catalogue.wire_data(email)
        secret = {key: data.pop(key) for key in email.SENSITIVE if key in data}
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
            subject=email.SUBJECT,
            template=email.TEMPLATE,
            data=data,
            sealed_data=sealed,
        )
        await outbox.enqueue(conn, event, source=SOURCE)
