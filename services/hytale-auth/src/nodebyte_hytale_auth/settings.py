"""hytale-auth's settings, and the upstream endpoints they select.

`HYTALE_ENVIRONMENT` (production|staging) wins when set; otherwise
`HYTALE_USE_STAGING` picks staging. Staging replaces `hytale.com` with
`arcanitegames.ca` in every host. `HYTALE_OAUTH_URL`, `HYTALE_ACCOUNT_DATA_URL`
and `HYTALE_SESSIONS_URL` override single hosts (the emulator in a local stack).
"""

from __future__ import annotations

from dataclasses import dataclass

from nodebyte_common.settings import CommonSettings, SettingsError

PRODUCTION_DOMAIN = "hytale.com"
STAGING_DOMAIN = "arcanitegames.ca"


class HytaleAuthSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8082
    # Upstream selection.
    hytale_environment: str = ""
    # Staging: *.arcanitegames.ca instead of *.hytale.com.
    hytale_use_staging: bool = False
    # Override single hosts (a local emulator); default by environment.
    hytale_oauth_url: str = ""
    hytale_account_data_url: str = ""
    hytale_sessions_url: str = ""
    hytale_session_issuer: str = ""  # default: the sessions host of the environment
    hytale_client_id: str = "hytale-server"
    hytale_scope: str = "openid offline auth:server"
    # Audience session and identity tokens must name; empty skips the check.
    hytale_token_audience: str = "hytale-server"  # noqa: S105 - an audience, not a secret
    hytale_upstream_timeout_seconds: float = 10.0
    # JWT validation.
    hytale_jwt_leeway_seconds: int = 60
    hytale_jwks_ttl_seconds: int = 3600
    # At most one JWKS refetch per interval for unknown key ids.
    hytale_jwks_min_refetch_seconds: int = 30
    hytale_verified_token_cache_size: int = 10_000
    # Device authorization grant: our own caps on top of the upstream's.
    hytale_device_code_max_seconds: int = 1800
    hytale_device_poll_max_seconds: int = 900
    # Refresh timing: refresh this long before expiry, plus a slack that covers a
    # tick that did not come (the fallback timer's delay).
    hytale_session_refresh_lead_seconds: int = 300
    hytale_token_refresh_lead_seconds: int = 300
    # Hydra's token answer does not say how long the refresh token lives.
    hytale_refresh_token_lifetime_seconds: int = 30 * 86_400
    # Renew this much earlier still, so a missed tick loses nothing.
    hytale_refresh_slack_seconds: int = 600
    hytale_refresh_concurrency: int = 4  # each holds a pool connection during its upstream call
    # Ticks come from the scheduler (`job.fired`); without one for this long, the
    # service ticks itself every `hytale_fallback_interval_seconds`.
    hytale_tick_fallback_seconds: int = 600
    hytale_fallback_interval_seconds: int = 60
    hytale_server_logs_interval_seconds: int = 300
    hytale_server_log_retention_days: int = 30
    # Where a server's console log files are, read via the Client API.
    hytale_server_log_file_dir: str = "logs"
    hytale_cleanup_interval_seconds: int = 86_400
    hytale_ended_session_retention_days: int = 7
    # Account pool.
    hytale_default_session_limit: int = 100
    hytale_session_limit_cooldown_seconds: int = 300
    hytale_pool_metrics_interval_seconds: float = 15.0
    # Where sessions are pushed: default variable names (per egg in the database).
    hytale_session_variable: str = "HYTALE_SERVER_SESSION_TOKEN"
    hytale_identity_variable: str = "HYTALE_SERVER_IDENTITY_TOKEN"
    hytale_push_retry_base_seconds: float = 5.0
    hytale_push_retry_max_seconds: float = 600.0
    # The panel this service pushes game sessions to.
    pterodactyl_url: str
    # The panel's application API key (ptla_...).
    pterodactyl_api_key: str
    pterodactyl_client_api_key: str = ""
    panel_timeout_seconds: float = 15.0
    panel_retry_base_delay: float = 0.5


@dataclass(frozen=True)
class Endpoints:
    environment: str
    oauth: str
    account_data: str
    sessions: str
    issuer: str


def environment_of(settings: HytaleAuthSettings) -> str:
    chosen = settings.hytale_environment.strip().lower()
    if chosen == "":
        return "staging" if settings.hytale_use_staging else "production"
    if chosen not in ("production", "staging"):
        raise SettingsError(
            "environment variable HYTALE_ENVIRONMENT is invalid: expected production or staging"
        )
    return chosen


def endpoints(settings: HytaleAuthSettings) -> Endpoints:
    environment = environment_of(settings)
    domain = STAGING_DOMAIN if environment == "staging" else PRODUCTION_DOMAIN
    sessions = settings.hytale_sessions_url or f"https://sessions.{domain}"
    return Endpoints(
        environment=environment,
        oauth=(settings.hytale_oauth_url or f"https://oauth.accounts.{domain}").rstrip("/"),
        account_data=(settings.hytale_account_data_url or f"https://account-data.{domain}").rstrip(
            "/"
        ),
        sessions=sessions.rstrip("/"),
        issuer=settings.hytale_session_issuer or f"https://sessions.{domain}",
    )
