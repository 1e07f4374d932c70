"""Real upstreams for `make up`: which emulator wiring a shell variable replaces.

When any trigger of an upstream is set in the environment, the local stack stops
wiring that upstream's emulator: every variable of the group is left to the
shell (set ones pass through, unset ones take the service's default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Upstream:
    name: str
    triggers: tuple[str, ...]
    variables: tuple[str, ...]  # the triggers and what the emulator wiring sets with them


UPSTREAMS = (
    Upstream(
        "Pterodactyl panel",
        ("PTERODACTYL_URL",),
        (
            "PTERODACTYL_URL",
            "PTERODACTYL_API_KEY",
            "PTERODACTYL_CLIENT_API_KEY",
            "PANEL_RETRY_BASE_DELAY",
            "PANEL_TIMEOUT_SECONDS",
        ),
    ),
    Upstream(
        "Hytale",
        (
            "HYTALE_ENVIRONMENT",
            "HYTALE_USE_STAGING",
            "HYTALE_OAUTH_URL",
            "HYTALE_ACCOUNT_DATA_URL",
            "HYTALE_SESSIONS_URL",
        ),
        ("HYTALE_OAUTH_URL", "HYTALE_ACCOUNT_DATA_URL", "HYTALE_SESSIONS_URL"),
    ),
    Upstream(
        "Discord",
        ("DISCORD_WEBHOOK_URL",),
        ("DISCORD_WEBHOOK_URL", "WEBHOOK_ALLOWED_HOSTS", "WEBHOOK_RETRY_BASE_DELAY"),
    ),
    Upstream(
        "email",
        ("EMAIL_PROVIDER", "RESEND_API_KEY", "SMTP_HOST"),
        (
            "EMAIL_PROVIDER",
            "RESEND_API_URL",
            "RESEND_API_KEY",
            "SMTP_HOST",
            "SMTP_PORT",
            "SMTP_USERNAME",
            "SMTP_PASSWORD",
            "SMTP_CA_FILE",
            "EMAIL_RETRY_BASE_DELAY",
        ),
    ),
    Upstream("sender address", ("EMAIL_FROM",), ("EMAIL_FROM",)),
    Upstream("admin address", ("ADMIN_EMAIL_TO",), ("ADMIN_EMAIL_TO",)),
)


def real_upstreams(environ: Mapping[str, str]) -> list[Upstream]:
    """The upstreams the environment points elsewhere than at the emulators."""
    return [u for u in UPSTREAMS if any(environ.get(name) for name in u.triggers)]
