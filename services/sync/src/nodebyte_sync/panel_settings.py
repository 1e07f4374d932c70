"""Panel connection and sync settings, owned by the sync service.

The row in `panel_settings` is the source of truth; the environment seeds it on
first start. Keys are sealed at rest (AES-256-GCM, key id kept with the value)
and leave this module only masked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from nodebyte_common.contracts import sync as contract
from nodebyte_common.egress import EgressPolicy, EgressRefused
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, mask

APP_KEY_CONTEXT = "sync:panel_application_key"
CLIENT_KEY_CONTEXT = "sync:panel_client_key"

EDITABLE = {
    "panelUrl": "panel_url",
    "applicationKey": "application_key",
    "clientKey": "client_key",
    "pageSize": "page_size",
    "fetchConcurrency": "fetch_concurrency",
    "subusersEnabled": "subusers_enabled",
    "subusersBatchSize": "subusers_batch_size",
    "logRetentionDays": "log_retention_days",
}


@dataclass(frozen=True)
class PanelSettings:
    panel_url: str = ""
    application_key: str = ""
    client_key: str = ""
    page_size: int = 500
    fetch_concurrency: int = 8
    subusers_enabled: bool = True
    subusers_batch_size: int = 100
    log_retention_days: int = 30

    def public_view(self) -> contract.PanelSettings:
        """What an admin sees: keys masked, never whole."""
        return contract.PanelSettings(
            panel_url=self.panel_url,
            application_key=mask(self.application_key) or "",
            client_key=mask(self.client_key) or "",
            application_key_set=bool(self.application_key),
            client_key_set=bool(self.client_key),
            page_size=self.page_size,
            fetch_concurrency=self.fetch_concurrency,
            subusers_enabled=self.subusers_enabled,
            subusers_batch_size=self.subusers_batch_size,
            log_retention_days=self.log_retention_days,
        )


def same_panel(a: str, b: str) -> bool:
    """Whether two panel URLs name the same panel (case of scheme and host, trailing /)."""

    def key(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip())
        return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port, parts.path)

    try:
        return key(a.rstrip("/")) == key(b.rstrip("/"))
    except ValueError:
        return False


def check_panel_url(url: str, egress: EgressPolicy) -> None:
    try:
        egress.check_url(url)
    except EgressRefused as exc:
        raise ApiError(400, f"`$.panelUrl` is refused: {exc}", "INVALID_PANEL_URL") from None


def checked_changes(
    current: PanelSettings, changes: dict[str, Any], egress: EgressPolicy
) -> dict[str, Any]:
    """`changes` as they may be saved: a new panel URL is one egress allows, and it comes
    with its application key (the saved keys were given for the old panel, and would be
    sent to the new one). The client key of the old panel is dropped unless a new one is given.
    """
    url = changes.get("panel_url")
    if url is None or same_panel(url, current.panel_url):
        return changes
    if "application_key" not in changes:
        raise ApiError(
            400,
            "A new panel URL must come with its application key (`$.applicationKey`)",
            "PANEL_KEY_REQUIRED",
        )
    check_panel_url(url, egress)
    return {"client_key": "", **changes}


class PanelSettingsStore:
    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    async def seed(self, conn: asyncpg.Connection, initial: PanelSettings) -> None:
        """Write the environment's settings unless settings were saved before."""
        await conn.execute(
            """INSERT INTO panel_settings (panel_url, application_key_sealed, client_key_sealed,
                                           page_size, subusers_enabled, subusers_batch_size,
                                           updated_by)
               VALUES ($1, $2, $3, $4, $5, $6, 'environment') ON CONFLICT (id) DO NOTHING""",
            initial.panel_url,
            self._seal(initial.application_key, APP_KEY_CONTEXT),
            self._seal(initial.client_key, CLIENT_KEY_CONTEXT),
            initial.page_size,
            initial.subusers_enabled,
            initial.subusers_batch_size,
        )

    async def load(self, conn: asyncpg.Connection) -> PanelSettings:
        row = await conn.fetchrow("SELECT * FROM panel_settings")
        if row is None:
            return PanelSettings()
        return PanelSettings(
            panel_url=row["panel_url"] or "",
            application_key=self._open(row["application_key_sealed"], APP_KEY_CONTEXT),
            client_key=self._open(row["client_key_sealed"], CLIENT_KEY_CONTEXT),
            page_size=row["page_size"],
            fetch_concurrency=row["fetch_concurrency"],
            subusers_enabled=row["subusers_enabled"],
            subusers_batch_size=row["subusers_batch_size"],
            log_retention_days=row["log_retention_days"],
        )

    async def save(
        self,
        conn: asyncpg.Connection,
        current: PanelSettings,
        changes: dict[str, Any],
        changed_by: str | None,
    ) -> PanelSettings:
        updated = replace(current, **changes)
        await conn.execute(
            """UPDATE panel_settings SET panel_url = $1, application_key_sealed = $2,
                      client_key_sealed = $3, page_size = $4, fetch_concurrency = $5,
                      subusers_enabled = $6, subusers_batch_size = $7, log_retention_days = $8,
                      updated_at = now(), updated_by = $9""",
            updated.panel_url,
            self._seal(updated.application_key, APP_KEY_CONTEXT),
            self._seal(updated.client_key, CLIENT_KEY_CONTEXT),
            updated.page_size,
            updated.fetch_concurrency,
            updated.subusers_enabled,
            updated.subusers_batch_size,
            updated.log_retention_days,
            changed_by,
        )
        return updated

    def _seal(self, value: str, context: str) -> str | None:
        return self.sealer.seal(value, context) if value else None

    def _open(self, sealed: str | None, context: str) -> str:
        return self.sealer.open(sealed, context) if sealed else ""
