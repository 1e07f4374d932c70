"""One Execute Webhook call: URL check, a slot from the limiter, `?wait=true`, and what
the answer means. Every path that calls Discord goes through `post`."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from nodebyte_common.egress.httpx_transport import REFUSED
from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url
from nodebyte_notifier.discord_limits import DiscordLimiter, RateLimitAnswer
from nodebyte_notifier.retry_policy import Attempt

GONE = frozenset({401, 404})  # Unknown Webhook / Invalid Webhook Token
NOT_SENT = "rate limited: not sent"  # the limiter held the request back


class DiscordSender:
    def __init__(
        self, http: httpx.AsyncClient, limiter: DiscordLimiter, allowed_hosts: frozenset[str]
    ) -> None:
        self.http = http
        self.limiter = limiter
        self.allowed_hosts = allowed_hosts

    async def post(
        self, target: str, url: str, payload: dict[str, Any], *, max_wait: float
    ) -> Attempt:
        """Send `payload` once the limiter has a slot (waiting up to `max_wait` s for one).

        The URL is checked again, as the allowlist may have changed.
        """
        try:
            parse_webhook_url(url, self.allowed_hosts)
        except WebhookUrlError as exc:
            return Attempt(sent=False, error=f"URL refused: {exc}", permanent=True)
        if not await self.limiter.acquire(target, max_wait):
            wait = self.limiter.route_wait(target)
            return Attempt(sent=False, error=NOT_SENT, retry_after=max(wait, 0.1))
        try:
            response = await self.http.post(url, params={"wait": "true"}, json=payload)
        except httpx.HTTPError as exc:
            self.limiter.abandon(target)
            if str(exc).startswith(REFUSED):
                return Attempt(sent=False, error="refused: not a public address", permanent=True)
            return Attempt(sent=False, error=type(exc).__name__)
        except BaseException:
            self.limiter.abandon(target)
            raise
        return self._outcome(target, response)

    def _outcome(self, target: str, response: httpx.Response) -> Attempt:
        code = response.status_code
        if code == 429:
            retry_after, is_global = _rate_limit(response)
            answer = RateLimitAnswer(response.headers, retry_after, is_global)
            self.limiter.learn(target, answer)
            return Attempt(
                sent=False, status_code=code, error="rate limited", retry_after=retry_after
            )
        self.limiter.learn(target, RateLimitAnswer(response.headers))
        if code < 300:
            return Attempt(sent=True, status_code=code, message_id=_message_id(response))
        if 300 <= code < 400:
            return Attempt(
                sent=False, status_code=code, error=f"HTTP {code}: redirect refused", permanent=True
            )
        if code in GONE:
            return Attempt(
                sent=False,
                status_code=code,
                error=f"HTTP {code}: {_discord_message(response)}",
                permanent=True,
                gone=True,
            )
        return Attempt(
            sent=False, status_code=code, error=f"HTTP {code}", permanent=400 <= code < 500
        )


def _message_id(response: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["id"])
    return None


def _discord_message(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        return str(response.json()["message"])[:200]
    return "refused"


def _rate_limit(response: httpx.Response) -> tuple[float, bool]:
    """Discord's `retry_after` (seconds, JSON body; else the header) and whether it is global."""
    retry_after: float | None = None
    is_global = response.headers.get("x-ratelimit-global", "").lower() == "true"
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        body = response.json()
        retry_after = float(body["retry_after"])
        is_global = is_global or bool(body.get("global"))
    if retry_after is None:
        with contextlib.suppress(KeyError, ValueError):
            retry_after = float(response.headers["retry-after"])
    return max(0.0, retry_after if retry_after is not None else 1.0), is_global
