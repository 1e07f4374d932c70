from __future__ import annotations

from nodebyte_common.settings import CommonSettings


class SyncSettings(CommonSettings, kw_only=True, frozen=True):
    pterodactyl_url: str
    pterodactyl_api_key: str
    pterodactyl_client_api_key: str = ""
    sync_batch_size: int = 100  # panel page size
    panel_timeout_seconds: float = 15.0
    panel_retry_base_delay: float = 0.5
    port: int = 8081
