"""The egress policy over real HTTP: the panel client (aiohttp) reaches a private address
only when the operator allowed its host, checks every DNS answer, and tells failures as
categories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar, Response, get

from nodebyte_common.egress import AllowedHosts, EgressPolicy, EgressRefused
from nodebyte_common.pterodactyl import PanelClient, PanelError
from nodebyte_emulators.server import BackgroundServer


@get("/api/application/locations")
async def locations() -> dict[str, object]:
    return {"object": "list", "data": []}


@get("/api/application/moved")
async def moved() -> Response[bytes]:
    return Response(b"", status_code=302, headers={"location": "http://169.254.169.254/"})


@pytest.fixture(scope="module")
def panel() -> Iterator[str]:
    with BackgroundServer(Litestar([locations, moved])) as url:
        yield url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3:8080/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://0.0.0.0:5432/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "https://panel.example.com@127.0.0.1/",  # credentials trick
        "ftp://panel.example.com/",
        "http:///nohost",
    ],
)
def test_urls_naming_what_may_not_be_reached_are_refused(url: str) -> None:
    with pytest.raises(EgressRefused):
        EgressPolicy().check_url(url)


def test_public_names_and_allowed_hosts_pass_the_url_check() -> None:
    EgressPolicy().check_url("https://panel.example.com/")
    EgressPolicy().check_url("https://162.159.135.232/")
    allowed = EgressPolicy(AllowedHosts.parse("127.0.0.1:8090, lan-panel"))
    allowed.check_url("http://127.0.0.1:8090/")
    allowed.check_url("http://LAN-panel/")
    with pytest.raises(EgressRefused):
        allowed.check_url("http://127.0.0.1:8091/")  # the port is part of what was allowed


async def test_the_panel_client_reaches_a_private_panel_only_when_allowed(panel: str) -> None:
    host = panel.removeprefix("http://")
    refused = PanelClient(panel, application_key="k" * 10, max_attempts=1, egress=EgressPolicy())
    with pytest.raises(PanelError) as caught:
        await refused.application("/locations")
    assert caught.value.category == "refused_address"
    await refused.aclose()

    allowed = PanelClient(
        panel,
        application_key="k" * 10,
        max_attempts=1,
        egress=EgressPolicy(AllowedHosts.parse(host)),
    )
    assert (await allowed.application("/locations"))["data"] == []
    with pytest.raises(PanelError) as redirected:
        await allowed.application("/moved")  # never followed
    assert redirected.value.category == "http_302"
    await allowed.aclose()


async def test_every_dns_answer_is_checked_before_connecting(panel: str) -> None:
    port = int(panel.rsplit(":", 1)[1])
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["162.159.135.232", "127.0.0.1"]  # one private answer is enough to refuse

    client = PanelClient(
        f"http://panel.example.com:{port}",
        application_key="k" * 10,
        max_attempts=1,
        egress=EgressPolicy(resolver=rebinding),
    )
    with pytest.raises(PanelError) as caught:
        await client.application("/locations")
    assert caught.value.category == "refused_address"
    assert answers == ["panel.example.com"]
    await client.aclose()
