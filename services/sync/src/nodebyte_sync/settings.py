from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from nodebyte_common.settings import CommonSettings


class SyncSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8081
    # Seed the panel settings on first start; afterwards they live in the database
    # and are changed through the admin API.
    pterodactyl_url: str = ""
    # The panel's application API key (ptla_...).
    pterodactyl_api_key: str = ""
    pterodactyl_client_api_key: str = ""
    # Hosts ("host" or "host:port") a panel URL may name although they are private
    # (a panel on the LAN, the local emulator); any other private address is refused.
    panel_allowed_hosts: str = ""
    # Egg variables masked in answers and sealed in the mirror besides the secret-looking
    # names and Hytale's token variables (comma-separated names).
    mirror_secret_variables: str = ""
    sync_batch_size: int = 500  # panel page size
    # Whether syncs fetch each server's subusers, and how many servers per batch of them.
    sync_subusers_enabled: bool = True
    sync_subusers_batch_size: Annotated[int, Meta(ge=1, le=100)] = 100
    panel_timeout_seconds: float = 15.0
    panel_retry_base_delay: float = 0.5
    panel_max_attempts: int = 5
    # The one-sync-at-a-time lease: renewed every third of it while a sync runs; another
    # replica takes a sync over this long after its holder went silent.
    sync_lease_seconds: float = 15.0
