from __future__ import annotations

from nodebyte_common.settings import CommonSettings


class NotifierSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8083
    # The system webhook that receives sync notifications (empty: none).
    discord_webhook_url: str = ""
    # Hosts webhook URLs may point at, besides Discord's own.
    webhook_allowed_hosts: str = ""
    webhook_max_attempts: int = 8
    webhook_retry_base_delay: float = 1.0
    webhook_timeout_seconds: float = 10.0
