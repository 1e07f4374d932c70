"""Which webhooks an event is for: by type (what it is about) and scope (who reads it).

A webhook receives an event when it is enabled, its type and scope are the
event's, and its list of event types is empty (all) or names the event.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodebyte_common.events import EVENT_NAME, WEBHOOK_SCOPES, WEBHOOK_TYPES

__all__ = ["EVENT_NAME", "WEBHOOK_SCOPES", "WEBHOOK_TYPES", "Audience", "alert_audience"]

# The type of an event by its family (the part before the first dot).
_TYPE_OF_FAMILY = {
    "sync": "SYSTEM",
    "node": "SYSTEM",
    "settings": "SYSTEM",
    "job": "SYSTEM",
    "webhook": "SYSTEM",
    "server": "GAME_SERVER",
    "backup": "GAME_SERVER",
    "session": "GAME_SERVER",
    "vps": "VPS",
    "billing": "BILLING",
    "invoice": "BILLING",
    "payment": "BILLING",
    "security": "SECURITY",
    "auth": "SECURITY",
    "support": "SUPPORT",
    "ticket": "SUPPORT",
}


@dataclass(frozen=True)
class Audience:
    event: str
    webhook_type: str
    scope: str = "ADMIN"


def audience_of(event: str, webhook_type: str | None = None, scope: str | None = None) -> Audience:
    family = event.split(".", 1)[0]
    return Audience(event, webhook_type or _TYPE_OF_FAMILY.get(family, "CUSTOM"), scope or "ADMIN")


def alert_audience(event: str, server_id: object | None) -> Audience:
    """An alert about a game server goes to GAME_SERVER webhooks, one about a node to SYSTEM."""
    return Audience(event, "GAME_SERVER" if server_id else "SYSTEM")
