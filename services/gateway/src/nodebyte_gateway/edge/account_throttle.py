"""Limits of the account flows per account, beside the per-address `auth` class.

An attacker spread over many addresses still gets `account` requests a minute
against one email, and a stranger can make us mail one address at most `mail`
times an hour (password reset and magic link together). The mail limit is
silent: the answer is the same whether a mail went out, so it reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nodebyte_common.envelope import ApiError
from nodebyte_gateway.edge.rate_limit import RateLimiter

log = logging.getLogger(__name__)


class AccountThrottle:
    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def spend(self, email: str) -> None:
        """One request naming `email`; 429 when it has had its share."""
        verdict = await self.limiter.check_subject("account", email)
        if not verdict.allowed:
            raise ApiError(
                429,
                f"Too many requests for this account. Try again in {verdict.retry_after} seconds.",
                "RATE_LIMITED",
                {"retryAfter": verdict.retry_after},
                headers={"Retry-After": str(verdict.retry_after)},
            )

    async def mail(self, email: str, send: Callable[[str], Awaitable[None]]) -> None:
        """`send(email)` unless the address had its mails this hour. Run after the
        answer has gone, so neither the mail nor the limit shows in its timing."""
        try:
            if (await self.limiter.check_subject("mail", email)).allowed:
                await send(email)
        except Exception:
            log.exception("an account email was not queued")
