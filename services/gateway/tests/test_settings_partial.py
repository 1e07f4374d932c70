"""GET /api/admin/settings with one owner down: the others' settings, the missing one named."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp import web

from nodebyte_common.contracts.notify import MailSettings
from nodebyte_common.contracts.scheduler import AutoSync
from nodebyte_common.contracts.sync import PanelSettings
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_devstack.config import free_port
from nodebyte_gateway.routes.settings_routes import aggregate, read_available
from nodebyte_gateway.settings_owners import OwnerSettings

# What the owners answer: their contracts, whole (an answer outside one is a 502).
PANEL = PanelSettings(
    panel_url="https://panel.example",
    application_key="ptla_secret_value_1234",
    client_key="",
    application_key_set=True,
    client_key_set=False,
    page_size=100,
    fetch_concurrency=4,
    subusers_enabled=False,
    subusers_batch_size=10,
    log_retention_days=30,
)
AUTO_SYNC = AutoSync(
    auto_sync_enabled=True,
    auto_sync_interval=3600,
    auto_sync_schedule=None,
    auto_sync_next_run_at=None,
    auto_sync_last_run_at=None,
    auto_sync_last_status=None,
)


@pytest.fixture
async def owners() -> AsyncIterator[dict[str, OwnerSettings]]:
    """Sync and the scheduler answer over HTTP; nothing listens where the notifier should."""
    app = web.Application()
    app.router.add_get("/internal/v1/sync/settings", _answer(PANEL))
    app.router.add_get("/internal/v1/auto-sync", _answer(AUTO_SYNC))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    up, down = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}"
    clients = [ServiceClient(name, url, "t") for name, url in (("sync", up), ("scheduler", up))]
    clients.append(ServiceClient("notifier", down, "t"))
    yield {
        "panel": OwnerSettings(clients[0], "/sync/settings", PanelSettings),
        "autoSync": OwnerSettings(clients[1], "/auto-sync", AutoSync),
        "mail": OwnerSettings(clients[2], "/email/settings", MailSettings),
    }
    for client in clients:
        await client.aclose()
    await runner.cleanup()


def _answer(data: msgspec.Struct):  # type: ignore[no-untyped-def]
    async def handler(_: web.Request) -> web.Response:
        return web.json_response({"success": True, "data": msgspec.to_builtins(data)})

    return handler


async def test_reachable_owners_are_shown_and_the_unreachable_one_named(
    owners: dict[str, OwnerSettings],
) -> None:
    merged, unreachable = await read_available(owners)
    assert unreachable == ["notifier"]
    assert merged["pterodactylUrl"] == "https://panel.example"
    assert merged["pterodactylApiKey"] != PANEL.application_key  # masked all the same
    assert merged["autoSyncInterval"] == 3600
    assert merged["emailProvider"] is None


async def test_changes_still_need_every_owner(owners: dict[str, OwnerSettings]) -> None:
    with pytest.raises(ApiError) as refused:
        await aggregate(owners)
    assert refused.value.status == 503
