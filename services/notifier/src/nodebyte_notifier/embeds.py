"""Discord embeds for the notifications the notifier sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nodebyte_common import events

GREEN, RED, YELLOW = 0x2ECC71, 0xE74C3C, 0xF1C40F
FOOTER = {"text": "NodeByte sync"}


def _embed(title: str, colour: int, description: str, fields: list[dict[str, Any]]) -> dict:
    return {
        "username": "NodeByte",
        "embeds": [
            {
                "title": title,
                "description": description,
                "color": colour,
                "fields": fields,
                "timestamp": datetime.now(UTC).isoformat(),
                "footer": FOOTER,
            }
        ],
    }


def _field(name: str, value: object, inline: bool = True) -> dict[str, Any]:
    return {"name": name, "value": str(value)[:1024] or "-", "inline": inline}


def sync_completed(e: events.SyncCompleted) -> dict[str, Any]:
    counts = ", ".join(f"{k}: {v}" for k, v in e.counts.items()) or "-"
    return _embed(
        "✅ Sync completed",
        GREEN,
        f"The {e.kind} sync finished successfully.",
        [
            _field("Duration", f"{e.duration_seconds:.1f}s"),
            _field("Items synced", e.items_synced),
            _field("Items failed", e.items_failed),
            _field("Entities", counts, inline=False),
            _field("Sync log", e.sync_log_id, inline=False),
        ],
    )


def sync_failed(e: events.SyncFailed) -> dict[str, Any]:
    return _embed(
        "❌ Sync failed",
        RED,
        f"The {e.kind} sync failed.",
        [
            _field("Error", e.error, inline=False),
            _field("Step", e.step or "-"),
            _field("Duration", f"{e.duration_seconds:.1f}s"),
            _field("Items synced", e.items_synced),
            _field("Sync log", e.sync_log_id, inline=False),
        ],
    )


def sync_cancelled(e: events.SyncCancelled) -> dict[str, Any]:
    return _embed(
        "⚠️ Sync cancelled",
        YELLOW,
        f"The {e.kind} sync was cancelled.",
        [
            _field("Step", e.step or "-"),
            _field("Items synced", e.items_synced),
            _field("Duration", f"{e.duration_seconds:.1f}s"),
            _field("Sync log", e.sync_log_id, inline=False),
        ],
    )
