"""Discord messages (rich embeds) for what the notifier announces.

Every message keeps within Discord's embed limits and disables mentions, so
text that came from a request can never ping @everyone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from nodebyte_common import events

GREEN, RED, AMBER, BLUE, GREY, PURPLE = 0x22C55E, 0xEF4444, 0xF59E0B, 0x3B82F6, 0x6B7280, 0x8B5CF6
SEVERITY_COLOURS = {"info": BLUE, "warning": AMBER, "critical": RED}
SEVERITY_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}  # noqa: RUF001
USERNAME = "NodeByte"
MAX_FIELDS, MAX_TOTAL = 25, 6000

# Titles and colours of dispatched events the frontend sends (as the reference did).
DISPATCH_STYLES: dict[str, tuple[str, int]] = {
    "sync.started": ("🔄 Sync started", BLUE),
    "sync.completed": ("✅ Sync completed", GREEN),
    "sync.failed": ("❌ Sync failed", RED),
    "sync.cancelled": ("⚠️ Sync cancelled", AMBER),
    "user.registered": ("👤 New user registered", PURPLE),
    "server.created": ("🖥️ Server created", 0x6366F1),
    "server.suspended": ("⚠️ Server suspended", AMBER),
    "support.ticket_created": ("🎫 New support ticket", 0x0EA5E9),
}


def _clip(text: object, limit: int) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def field(name: str, value: object, inline: bool = True) -> dict[str, Any]:
    return {"name": _clip(name, 256) or "-", "value": _clip(value, 1024) or "-", "inline": inline}


def message(
    title: str,
    colour: int,
    description: str,
    fields: list[dict[str, Any]],
    footer: str = "NodeByte Notifications",
) -> dict[str, Any]:
    embed = {
        "title": _clip(title, 256),
        "description": _clip(description, 4096),
        "color": colour,
        "fields": _within_total(title, description, footer, fields[:MAX_FIELDS]),
        "timestamp": datetime.now(UTC).isoformat(),
        "footer": {"text": footer},
    }
    return {"username": USERNAME, "embeds": [embed], "allowed_mentions": {"parse": []}}


def _within_total(title: str, description: str, footer: str, fields: list[dict]) -> list[dict]:
    """Drop trailing fields until the embed fits Discord's 6,000-character total."""
    used = len(title) + len(description) + len(footer)
    kept = []
    for f in fields:
        used += len(f["name"]) + len(f["value"])
        if used > MAX_TOTAL - 100:
            break
        kept.append(f)
    return kept


def _seconds(duration: float) -> str:
    return f"{duration:.1f}s"


def sync_completed(e: events.SyncCompleted) -> dict[str, Any]:
    counts = ", ".join(f"{k}: {v}" for k, v in e.counts.items()) or "-"
    return message(
        "✅ Sync completed",
        GREEN,
        f"The {e.kind} sync finished successfully.",
        [
            field("Duration", _seconds(e.duration_seconds)),
            field("Items synced", e.items_synced),
            field("Items failed", e.items_failed),
            field("Entities", counts, inline=False),
            field("Sync log", e.sync_log_id, inline=False),
        ],
        footer="NodeByte sync",
    )


def sync_failed(e: events.SyncFailed) -> dict[str, Any]:
    return message(
        "❌ Sync failed",
        RED,
        f"The {e.kind} sync failed.",
        [
            field("Error", e.error, inline=False),
            field("Step", e.step or "-"),
            field("Duration", _seconds(e.duration_seconds)),
            field("Items synced", e.items_synced),
            field("Sync log", e.sync_log_id, inline=False),
        ],
        footer="NodeByte sync",
    )


def sync_cancelled(e: events.SyncCancelled) -> dict[str, Any]:
    return message(
        "⚠️ Sync cancelled",
        AMBER,
        f"The {e.kind} sync was cancelled.",
        [
            field("Step", e.step or "-"),
            field("Items synced", e.items_synced),
            field("Duration", _seconds(e.duration_seconds)),
            field("Sync log", e.sync_log_id, inline=False),
        ],
        footer="NodeByte sync",
    )


def alert_raised(e: events.AlertRaised) -> dict[str, Any]:
    fields = [field("Severity", e.severity.upper()), field("Rule", e.rule_type)]
    if e.node_id:
        fields.append(field("Node", e.node_id, inline=False))
    if e.server_id:
        fields.append(field("Server", e.server_id, inline=False))
    fields.append(field("Alert", e.alert_id, inline=False))
    return message(
        f"{SEVERITY_ICONS.get(e.severity, '⚠️')} {e.title}",
        SEVERITY_COLOURS.get(e.severity, AMBER),
        e.message,
        fields,
        footer="NodeByte alerts",
    )


def alert_resolved(e: events.AlertResolved) -> dict[str, Any]:
    return message(
        "✅ Alert resolved",
        GREEN,
        "An alert is no longer firing.",
        [field("Alert", e.alert_id, inline=False), field("Resolved by", e.resolved_by or "-")],
        footer="NodeByte alerts",
    )


def node_disconnected(e: events.NodeDisconnected) -> dict[str, Any]:
    return message(
        "🔌 Node disconnected",
        AMBER,
        "A node agent lost its connection.",
        [
            field("Node", e.node_id, inline=False),
            field("Reason", e.reason),
            field("At", e.disconnected_at.isoformat()),
        ],
        footer="NodeByte nodes",
    )


def _label(key: str) -> str:
    """`itemsSynced` / `items_synced` → `Items synced`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ")
    return words[:1].upper() + words[1:].lower()


def dispatched(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A dispatched event: its known title, or a generic notification, with its data."""
    title, colour = DISPATCH_STYLES.get(event, ("📢 Notification", GREY))
    fields = [
        field(_label(k), v, inline=len(str(v)) <= 40)
        for k, v in data.items()
        if isinstance(v, str | int | float | bool) and str(v) != ""
    ]
    return message(title, colour, f"Event: {event}", fields)


def test_message(webhook_name: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return message(
        "🧪 Webhook Test",
        GREEN,
        "This is a test message to verify webhook connectivity",
        [
            field("Status", "✅ Webhook is working correctly"),
            field("Webhook", webhook_name),
            field("Test Time", now),
        ],
        footer="NodeByte Webhook Test",
    )


def webhook_disabled(e: events.WebhookDisabled) -> dict[str, Any]:
    return message(
        "⚠️ Webhook disabled",
        AMBER,
        f"Discord no longer accepts the webhook “{e.name}”, so it was disabled. "
        "Fix its URL and enable it again in the admin settings.",
        [field("Answer", f"HTTP {e.status_code}: {e.reason}"), field("Webhook", e.webhook_id)],
    )


def settings_changed(e: events.SettingsChanged) -> dict[str, Any]:
    shown = e.shown or dict.fromkeys(e.keys, "changed")
    return message(
        "⚙️ Settings changed",
        BLUE,
        f"{e.changed_by or 'Someone'} changed the {e.owner} settings.",
        [field(name, value) for name, value in sorted(shown.items())],
        footer="NodeByte settings",
    )
