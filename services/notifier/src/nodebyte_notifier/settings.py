from __future__ import annotations

from typing import Literal

from nodebyte_common.settings import CommonSettings


class NotifierSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8083
    # The system webhook that receives sync and alert notifications (empty: none).
    discord_webhook_url: str = ""
    # Hosts ("host" or "host:port") webhook URLs may point at besides Discord's own;
    # requests to them may reach private addresses (the local emulator).
    webhook_allowed_hosts: str = ""
    webhook_max_attempts: int = 8
    webhook_retry_base_delay: float = 1.0
    webhook_timeout_seconds: float = 10.0
    # Discord requests at once (each webhook is also paced by its bucket).
    webhook_max_in_flight: int = 64

    # Email: "resend", "smtp", or "" to pick Resend when RESEND_API_KEY is set, else SMTP.
    email_provider: Literal["", "resend", "smtp"] = ""
    email_from: str = "NodeByte <noreply@nodebyte.host>"
    # re_...
    resend_api_key: str = ""
    resend_api_url: str = "https://api.resend.com"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_ca_file: str = ""  # trust this CA (PEM) instead of the system's
    email_max_attempts: int = 8
    email_retry_base_delay: float = 2.0
    email_timeout_seconds: float = 30.0
    # Who hears about critical alerts, failed syncs and disabled webhooks by email.
    admin_email_to: str = ""

    # A claimed delivery's lease, renewed every third of it while its request runs: a
    # worker that dies (or loses the database this long) has its deliveries re-sent.
    delivery_lease_seconds: float = 15.0

    # Sent and failed deliveries are kept this long, then purged.
    delivery_retention_days: int = 30
