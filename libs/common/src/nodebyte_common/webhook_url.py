"""Which webhook URLs may be called (notifier, alert rules) and how one is shown.

Discord's own hosts over https, or a host the operator allowlisted (the local
emulator); always the Execute Webhook path; never credentials, query or fragment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from nodebyte_common.sealing import mask

DISCORD_HOSTS = frozenset({"discord.com", "discordapp.com"})
WEBHOOK_PATH = re.compile(r"^/api(?:/v\d{1,2})?/webhooks/(\d{1,25})/([A-Za-z0-9_-]{1,200})/?$")
MAX_URL_LENGTH = 2048


class WebhookUrlError(ValueError):
    pass


@dataclass(frozen=True)
class WebhookUrl:
    url: str
    host: str
    hook_id: str
    token: str

    @property
    def masked(self) -> str:
        """What responses and logs may show: everything but the token's body."""
        origin = self.url.split("/api/", 1)[0]
        return f"{origin}/api/webhooks/{self.hook_id}/{mask(self.token)}"


def host_key(host: str, port: int | None) -> str:
    return f"{host}:{port}" if port else host


def parse_webhook_url(url: str, allowed_hosts: frozenset[str] = frozenset()) -> WebhookUrl:
    """Accept Discord's webhook URLs and the allowlisted hosts; refuse the rest."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or url != url.strip():
        raise WebhookUrlError("the webhook URL is malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlError("the webhook URL is malformed") from None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlError("a webhook URL may not carry credentials")
    if parts.query or parts.fragment:
        raise WebhookUrlError("a webhook URL may not carry a query or fragment")
    match = WEBHOOK_PATH.match(parts.path)
    if match is None:
        raise WebhookUrlError("a webhook URL's path is /api/webhooks/<id>/<token>")
    allowed = {h.lower() for h in allowed_hosts}
    if host in allowed or host_key(host, port) in allowed:
        if parts.scheme not in ("http", "https"):
            raise WebhookUrlError("webhook URLs are http(s)")
    elif host in DISCORD_HOSTS:
        if parts.scheme != "https" or port not in (None, 443):
            raise WebhookUrlError("a Discord webhook URL is https://discord.com/api/webhooks/…")
    else:
        raise WebhookUrlError(f"webhook host {host or '(none)'} is not allowed")
    return WebhookUrl(url=url, host=host, hook_id=match.group(1), token=match.group(2))


def check_webhook_url(url: str, allowed_hosts: frozenset[str] = frozenset()) -> str:
    return parse_webhook_url(url, allowed_hosts).url
