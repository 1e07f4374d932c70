"""Progressive lockout of sign-ins by password, per email address.

After `THRESHOLD` failed sign-ins in a row an address is locked for a minute,
and each further lockout doubles that (up to an hour): every password check for
it answers 423 with when the lock ends, without trying the password. Unknown
addresses lock just the same, so a lockout tells nobody that an account exists;
a known one's owner is emailed a link that ends the lock (and a password reset
ends it too). A correct password clears the count.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from nodebyte_common import email_catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.accounts import account_tokens, accounts_store
from nodebyte_gateway.accounts import sign_in_lockout_store as store
from nodebyte_gateway.accounts.account_emails import AccountEmails

THRESHOLD = 5  # failures in a row that lock an address
FIRST_LOCK_SECONDS = 60.0
LONGEST_LOCK_SECONDS = 3600.0


def digest(email: str) -> bytes:
    return hashlib.sha256(email.encode()).digest()


def locked(until: datetime) -> ApiError:
    retry_after = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
    shown = email_catalogue.time_text(until)  # as the unlock email says it
    return ApiError(
        423,
        f"Too many failed sign-ins: this account is locked until {shown}. "
        "If the address has an account, we emailed its owner a link that unlocks it.",
        "ACCOUNT_LOCKED",
        {"lockedUntil": until, "retryAfter": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


class Lockout:
    def __init__(self, runtime: Runtime, emails: AccountEmails) -> None:
        self.runtime = runtime
        self.emails = emails

    async def ensure_unlocked(self, email: str) -> None:
        """423 while `email` is locked."""
        async with self.runtime.pool.acquire() as conn:
            until = await store.locked_until(conn, digest(email))
        if until is not None:
            raise locked(until)

    async def failed(self, email: str) -> None:
        """Count a failed sign-in; 423 when it locks the address (its owner is mailed)."""
        key = digest(email)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if await store.count_failure(conn, key) < THRESHOLD:
                return
            until = await store.lock(
                conn,
                key,
                threshold=THRESHOLD,
                first_seconds=FIRST_LOCK_SECONDS,
                longest_seconds=LONGEST_LOCK_SECONDS,
            )
            if until is None:
                return  # a concurrent failure locked it
            user = await accounts_store.by_email(conn, email)
            if user is not None and user["is_active"]:
                issued = await account_tokens.issue(conn, user["id"], "unlock")
                await self.emails.unlock(conn, user, issued, until)
        raise locked(until)

    async def succeeded(self, email: str) -> None:
        async with self.runtime.pool.acquire() as conn:
            await store.forget(conn, digest(email))

    async def unlock(self, token: str) -> None:
        """Use an unlock link: the address may sign in again at once."""
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            used = await account_tokens.consume(conn, token, ("unlock",))
            user = await accounts_store.by_id(conn, used.user_id) if used else None
            if user is None:
                raise ApiError(400, "The link is invalid, used or expired", "INVALID_TOKEN")
            await store.release(conn, digest(user["email"].lower()))
