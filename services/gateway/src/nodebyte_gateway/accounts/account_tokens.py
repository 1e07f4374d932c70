"""Single-use tokens sent by email: verification, email change, reset, magic link.

Each is a 256-bit secret shown once (in the email's link) and stored as its
SHA-256; consuming it is one atomic UPDATE, so it works exactly once and only
before it expires. Issuing one drops the user's unused tokens of that purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_gateway.accounts import tokens

Purpose = Literal["verify_email", "email_change", "password_reset", "magic_link", "unlock"]

LIFETIME_SECONDS: dict[Purpose, int] = {
    "verify_email": 24 * 3600,
    "email_change": 24 * 3600,
    "password_reset": 3600,
    "magic_link": 15 * 60,
    "unlock": 24 * 3600,
}
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Consumed:
    user_id: UUID
    purpose: Purpose
    new_email: str | None


async def issue(
    conn: asyncpg.Connection, user_id: UUID, purpose: Purpose, new_email: str | None = None
) -> Issued:
    """A new token (inside the caller's transaction); the user's row is locked first, so
    two requests at once still leave only the later one's link working."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    await conn.execute(
        "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose,
    )
    token = tokens.new_secret()
    expires_at = await conn.fetchval(
        """INSERT INTO account_tokens (id, user_id, purpose, token_hash, new_email, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
           RETURNING expires_at""",
        uuid6.uuid7(),
        user_id,
        purpose,
        tokens.digest(token),
        new_email,
        LIFETIME_SECONDS[purpose],
    )
    return Issued(token, expires_at)


async def consume(
    conn: asyncpg.Connection, token: str, purposes: tuple[Purpose, ...]
) -> Consumed | None:
    """Use a token once; None when it is unknown, used, expired or of another purpose."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = await conn.fetchrow(
        """UPDATE account_tokens SET used_at = now()
           WHERE token_hash = $1 AND purpose = ANY($2::text[])
             AND used_at IS NULL AND expires_at > now()
           RETURNING user_id, purpose, new_email""",
        tokens.digest(token),
        list(purposes),
    )
    if row is None:
        return None
    return Consumed(row["user_id"], row["purpose"], row["new_email"])
