"""One Execute Webhook call: URL check, pacing, `?wait=true`, and what the answer means."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from nodebyte_common.egress.httpx_transport import REFUSED
from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url
from nodebyte_notifier.discord_limits import WebhookBuckets
from nodebyte_notifier.retry_policy import Attempt

GONE = frozenset({401, 404})  # Unknown Webhook / Invalid Webhook Token


class DiscordSender:
    def __init__(
        self, http: httpx.AsyncClient, buckets: WebhookBuckets, allowed_hosts: frozenset[str]
    ) -> None:
        self.http = http
        self.buckets = buckets
        self.allowed_hosts = allowed_hosts

    async def post(self, target: str, url: str, payload: dict[str, Any]) -> Attempt:
        """Send `payload`; the URL is checked again, as the allowlist may have changed."""
        try:
            parse_webhook_url(url, self.allowed_hosts)
        except WebhookUrlError as exc:
            return Attempt(sent=False, error=f"URL refused: {exc}", permanent=True)
        self.buckets.started(target)
        try:
            response = await self.http.post(url, params={"wait": "true"}, json=payload)
        except httpx.HTTPError as exc:
            self.buckets.finished(target, None)
            if str(exc).startswith(REFUSED):
                return Attempt(sent=False, error="refused: not a public address", permanent=True)
            return Attempt(sent=False, error=type(exc).__name__)
        except BaseException:
            self.buckets.finished(target, None)
            raise
        return self._outcome(target, response)

    def _outcome(self, target: str, response: httpx.Response) -> Attempt:
        code = response.status_code
        if code == 429:
            retry_after, is_global = _rate_limit(response)
            self.buckets.finished(target, response.headers, retry_after, is_global)
            return Attempt(
                sent=False, status_code=code, error="rate limited", retry_after=retry_after
            )
        self.buckets.finished(target, response.headers)
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
