"""The settings APIs of the services that own settings, and changing several at once.

Settings live with the service they configure: the panel connection with sync,
auto sync with the scheduler, mail with the notifier (read-only: environment).
A change that spans owners is validated by every owner (`dryRun`) before any
owner saves, so a refusal from one leaves all of them unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.contracts.notify import MailSettings
from nodebyte_common.contracts.scheduler import AutoSync
from nodebyte_common.contracts.sync import PanelSettings
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forwarding import answer


@dataclass(frozen=True)
class OwnerSettings:
    """One service's settings at `path`: GET reads them (the owner's contract `shape`),
    `write_method` saves them."""

    client: ServiceClient
    path: str
    shape: type[msgspec.Struct]
    write_method: str | None = None  # None: read-only through the API

    async def read(self) -> dict[str, Any]:
        """The settings by their wire names (the admin page renames them)."""
        settings = await self.client.call_as(Answer[self.shape], "GET", self.path)  # type: ignore[name-defined]
        return msgspec.to_builtins(settings.data)  # type: ignore[no-any-return]

    async def check(self, changes: dict[str, Any]) -> None:
        """Raise the owner's refusal of `changes`; saves nothing."""
        await self._write(changes, {"dryRun": "true"})

    async def apply(self, changes: dict[str, Any]) -> None:
        await self._write(changes, None)

    async def _write(self, changes: dict[str, Any], params: dict[str, str] | None) -> None:
        if self.write_method is None:
            raise RuntimeError(f"{self.client.name} settings are read-only")
        answer(*await self.client.call(self.write_method, self.path, params=params, json=changes))


def panel_settings(ctx: GatewayContext) -> OwnerSettings:
    return OwnerSettings(ctx.client("sync"), "/sync/settings", PanelSettings, "POST")


def auto_sync_settings(ctx: GatewayContext) -> OwnerSettings:
    return OwnerSettings(ctx.client("scheduler"), "/auto-sync", AutoSync, "PUT")


def mail_settings(ctx: GatewayContext) -> OwnerSettings:
    return OwnerSettings(ctx.client("notifier"), "/email/settings", MailSettings)


async def change(updates: Iterable[tuple[OwnerSettings, dict[str, Any]]]) -> None:
    """Every owner validates its part, then every owner saves it."""
    pending = [(owner, changes) for owner, changes in updates if changes]
    for owner, changes in pending:
        await owner.check(changes)
    for owner, changes in pending:
        await owner.apply(changes)
