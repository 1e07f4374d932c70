"""Which webhook URLs are accepted, and how they are shown."""

from __future__ import annotations

import pytest

from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url

TOKEN = "AbCdEf_0123456789-token"


@pytest.mark.parametrize(
    "url",
    [
        f"https://discord.com/api/webhooks/123456/{TOKEN}",
        f"https://discordapp.com/api/webhooks/123456/{TOKEN}",
        f"https://discord.com/api/v10/webhooks/123456/{TOKEN}",
    ],
)
def test_discord_webhook_urls_are_accepted(url: str) -> None:
    parsed = parse_webhook_url(url)
    assert parsed.hook_id == "123456"
    assert parsed.token == TOKEN
    assert TOKEN not in parsed.masked
    assert parsed.masked.endswith(TOKEN[-4:])


@pytest.mark.parametrize(
    "url",
    [
        f"http://discord.com/api/webhooks/1/{TOKEN}",
        f"https://discord.com:444/api/webhooks/1/{TOKEN}",
        f"https://evil.test/api/webhooks/1/{TOKEN}",
        f"https://discord.com.evil.test/api/webhooks/1/{TOKEN}",
        f"https://x:y@discord.com/api/webhooks/1/{TOKEN}",
        f"https://discord.com@evil.test/api/webhooks/1/{TOKEN}",
        f"https://discord.com/api/webhooks/1/{TOKEN}?thread_id=1",
        f"https://discord.com/api/webhooks/1/{TOKEN}#x",
        "https://discord.com/api/webhooks/notanumber/abc",
        "https://discord.com/api/channels/1/messages",
        f" https://discord.com/api/webhooks/1/{TOKEN}",
        "https://[::1/api/webhooks/1/x",
        "",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlError):
        parse_webhook_url(url)


def test_an_allowlisted_host_and_port_may_be_http() -> None:
    allowed = frozenset({"127.0.0.1:8091"})
    assert parse_webhook_url("http://127.0.0.1:8091/api/webhooks/1/t", allowed).host == "127.0.0.1"
    with pytest.raises(WebhookUrlError):
        parse_webhook_url("http://127.0.0.1:8092/api/webhooks/1/t", allowed)
    with pytest.raises(WebhookUrlError):
        parse_webhook_url("ftp://127.0.0.1:8091/api/webhooks/1/t", allowed)
