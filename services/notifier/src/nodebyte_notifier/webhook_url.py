"""Which webhook URLs the notifier may call (no SSRF through a webhook URL)."""

from __future__ import annotations

from urllib.parse import urlsplit

DISCORD_HOSTS = frozenset({"discord.com", "discordapp.com"})


class WebhookUrlError(ValueError):
    pass


def check_webhook_url(url: str, extra_hosts: frozenset[str] = frozenset()) -> str:
    """Accept Discord's webhook URLs (https) and the allowlisted hosts; refuse the rest."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in DISCORD_HOSTS:
        if parts.scheme != "https" or not parts.path.startswith("/api/webhooks/"):
            raise WebhookUrlError("a Discord webhook URL is https://discord.com/api/webhooks/…")
        return url
    allowed = {h.lower() for h in extra_hosts}
    hostport = f"{host}:{parts.port}" if parts.port else host
    if host in allowed or hostport in allowed:
        if parts.scheme not in ("http", "https"):
            raise WebhookUrlError("webhook URLs are http(s)")
        return url
    raise WebhookUrlError(f"webhook host {host or '(none)'} is not allowed")
