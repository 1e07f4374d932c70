"""State of the Discord webhook emulator: received messages, webhook states, limits."""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .faults import Faults
from .ratelimit import FixedWindowLimiter, Verdict, whole_seconds
from .stats import RequestStats
from .strict_counters import StrictCounters, content_digest

_DISCORD_EPOCH_MS = 1_420_070_400_000
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
INVALID_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    # Discord allows roughly 5 executions per 2 s per webhook.
    rate_limit: bool = False
    limit: int = 5
    window: float = 2.0
    # Requests per `global_window` seconds across all webhooks before a global 429
    # (Discord: about 50 a second); 0: no global limit.
    global_limit: int = 0
    global_window: float = 1.0


GLOBAL = "*global*"  # the key of the global limit among the buckets


def bucket_of(webhook_id: str) -> str:
    """A stable opaque bucket hash per webhook, shaped like Discord's."""
    return hashlib.sha256(f"webhook:{webhook_id}".encode()).hexdigest()[:32]


def limit_headers(verdict: Verdict, bucket: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(verdict.limit),
        "x-ratelimit-remaining": str(verdict.remaining),
        "x-ratelimit-reset": f"{verdict.reset_at:.3f}",
        "x-ratelimit-reset-after": f"{verdict.reset_after:.3f}",
        "x-ratelimit-bucket": bucket,
    }


def throttled(verdict: Verdict, bucket: str, retry_after: float) -> tuple[dict, dict[str, str]]:
    """Discord's 429 body and headers, for a real bucket or an injected fault."""
    headers = {
        **limit_headers(verdict, bucket),
        "retry-after": str(whole_seconds(retry_after)),
        "x-ratelimit-scope": "user",
    }
    body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3)}
    return {**body, "global": False}, headers


def global_throttled(retry_after: float) -> tuple[dict, dict[str, str]]:
    """Discord's answer when the global limit is hit: no bucket headers, `global: true`."""
    headers = {
        "retry-after": str(whole_seconds(retry_after)),
        "x-ratelimit-global": "true",
        "x-ratelimit-scope": "global",
    }
    body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3)}
    return {**body, "global": True}, headers


class Hub:
    """Everything the Discord routes and gate share."""

    def __init__(self, config: DiscordConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.stats = RequestStats()
        self.limiter = FixedWindowLimiter(config.limit, config.window, config.rate_limit)
        limit = config.global_limit
        self.global_limiter = FixedWindowLimiter(limit or 50, config.global_window, limit > 0)
        self.counters = StrictCounters()
        self.messages: list[dict] = []
        self.states: dict[tuple[str, str], int] = {}
        self._sequence = 0

    def refusal(self, webhook_id: str, token: str) -> tuple[int, dict] | None:
        """The configured 404/401 answer for a webhook, or None if it accepts messages."""
        status = self.states.get((webhook_id, token))
        if status == 404:
            return 404, UNKNOWN_WEBHOOK
        if status == 401:
            return 401, INVALID_TOKEN
        return None

    def snowflake(self) -> str:
        self._sequence = (self._sequence + 1) & 0xFFF
        millis = int(time.time() * 1000) - _DISCORD_EPOCH_MS
        return str((millis << 22) | self._sequence)

    def record(self, webhook_id: str, token: str, payload: dict, meta: dict) -> dict:
        entry = {
            "id": self.snowflake(),
            "webhook_id": webhook_id,
            "token": token,
            "body": payload,
            "received_at": datetime.now(UTC).isoformat(),
            **meta,
        }
        self.messages.append(entry)
        self.counters.delivered(content_digest(webhook_id, payload))
        return entry


def channel_of(webhook_id: str) -> str:
    return str(10**17 + int(hashlib.sha256(webhook_id.encode()).hexdigest()[:12], 16))


def message_object(entry: dict) -> dict:
    """The message Discord returns for `?wait=true`."""
    body = entry["body"]
    return {
        "id": entry["id"],
        "type": 0,
        "content": body.get("content") or "",
        "channel_id": channel_of(entry["webhook_id"]),
        "author": {
            "bot": True,
            "id": entry["webhook_id"],
            "username": body.get("username") or "NodeByte",
            "avatar": None,
            "discriminator": "0000",
        },
        "attachments": [],
        "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": bool(body.get("tts")),
        "timestamp": entry["received_at"],
        "edited_timestamp": None,
        "flags": body.get("flags") or 0,
        "components": [],
        "webhook_id": entry["webhook_id"],
    }


def webhook_object(webhook_id: str, token: str) -> dict:
    """What `GET /webhooks/{id}/{token}` returns for an incoming webhook."""
    return {
        "application_id": None,
        "avatar": None,
        "channel_id": channel_of(webhook_id),
        "guild_id": "100000000000000000",
        "id": webhook_id,
        "name": "NodeByte",
        "type": 1,
        "token": token,
    }
