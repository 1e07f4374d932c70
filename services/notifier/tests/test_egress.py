"""The webhook HTTP client never reaches a private address that is not allowlisted:
not by naming it, not through DNS, not through a redirect (over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar, Response, post
from litestar.params import FromPath

from nodebyte_common.egress import is_public
from nodebyte_common.egress.httpx_transport import guarded_client
from nodebyte_emulators.server import BackgroundServer
from nodebyte_notifier.discord_limits import DiscordLimiter
from nodebyte_notifier.discord_sender import DiscordSender


@post("/api/webhooks/{hook:str}/{token:str}", status_code=200)
async def answer(hook: FromPath[str], token: FromPath[str]) -> Response:
    if hook == "302":  # sends the client on to the cloud metadata address
        return Response(b"", status_code=302, headers={"location": "http://169.254.169.254/"})
    return Response({"id": "42"}, status_code=200)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with BackgroundServer(Litestar([answer])) as url:
        yield url


def host_of(url: str) -> str:
    return url.removeprefix("http://")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fc00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("2002:0a00:0001::1", False),  # 6to4 around 10.0.0.1
        ("162.159.135.232", True),  # one of discord.com's
        ("2606:4700::6810:84e5", True),
    ],
)
def test_only_global_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_an_allowlisted_host_is_reached(server: str) -> None:
    async with guarded_client([host_of(server)], timeout=5) as client:
        response = await client.post(f"{server}/api/webhooks/1/t", json={})
    assert response.status_code == 200


async def test_a_loopback_host_that_is_not_allowlisted_is_refused(server: str) -> None:
    async with guarded_client([], timeout=5) as client:
        with pytest.raises(httpx.ConnectError, match="refused"):
            await client.post(f"{server}/api/webhooks/1/t", json={})


async def test_a_public_name_that_resolves_privately_is_refused() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["162.159.135.232", "10.0.0.7"]  # one private answer is enough to refuse

    async with guarded_client([], timeout=5, resolver=rebinding) as client:
        with pytest.raises(httpx.ConnectError, match="refused"):
            await client.post("https://discord.com/api/webhooks/1/t", json={})


async def test_a_redirect_is_never_followed(server: str) -> None:
    allowed = frozenset({host_of(server)})
    async with guarded_client(allowed, timeout=5) as client:
        sender = DiscordSender(client, DiscordLimiter(), allowed)
        attempt = await sender.post(
            "t", f"{server}/api/webhooks/302/t", {"content": "x"}, max_wait=1.0
        )
    assert attempt.sent is False
    assert attempt.permanent is True
    assert attempt.status_code == 302
    assert attempt.error == "HTTP 302: redirect refused"


async def test_the_sender_checks_the_url_again(server: str) -> None:
    async with guarded_client([], timeout=5) as client:
        sender = DiscordSender(client, DiscordLimiter(), frozenset())
        attempt = await sender.post(
            "t", f"{server}/api/webhooks/1/t", {"content": "x"}, max_wait=1.0
        )
    assert attempt.permanent is True
    assert attempt.error is not None
    assert attempt.error.startswith("URL refused")
