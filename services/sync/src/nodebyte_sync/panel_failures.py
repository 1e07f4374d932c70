"""What this service answers when the panel fails a call made for a request.

Always a 424 (`dependency_failure`): the panel being down, unconfigured or
refusing is not this service failing, and the gateway relays the public status.
"""

from __future__ import annotations

from nodebyte_common.circuit_breaker import CircuitOpenError
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError
from nodebyte_common.pterodactyl import PanelClient, PanelError
from nodebyte_sync.panel_connection import PanelConnection, PanelNotConfigured


def client_of(panel: PanelConnection) -> PanelClient:
    try:
        return panel.client()
    except PanelNotConfigured as exc:
        raise dependency_failure(
            503, f"The panel is not configured: {exc}", "PANEL_NOT_CONFIGURED"
        ) from None


def answer(exc: CircuitOpenError | PanelError, failed: str) -> ApiError:
    """`failed` says what did not happen ("The panel could not be read")."""
    if isinstance(exc, CircuitOpenError):
        return dependency_failure(503, f"The panel is unavailable: {exc}", "PANEL_UNAVAILABLE")
    # The category (`http_404`, `timeout`, …), never the panel's own words.
    return dependency_failure(502, f"{failed}: {exc.category}", "UPSTREAM_ERROR")
