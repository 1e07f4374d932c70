"""The panel client of this process, rebuilt when the panel settings change.

Its circuit breaker outlives single syncs, so the admin API can show it and an
admin can reset it (the reference's "restart polling").
"""

from __future__ import annotations

import asyncpg

from nodebyte_common.circuit_breaker import CircuitBreaker
from nodebyte_common.contracts.sync import Circuit
from nodebyte_common.egress import EgressPolicy
from nodebyte_common.pterodactyl import PanelClient
from nodebyte_sync.panel_settings import PanelSettings, PanelSettingsStore

LIVE_TIMEOUT = 3.0  # seconds: a live read answers within the gateway's 5 s wait


class PanelNotConfigured(RuntimeError):
    pass


class PanelConnection:
    def __init__(
        self,
        store: PanelSettingsStore,
        *,
        timeout: float,
        retry_base_delay: float,
        max_attempts: int,
        egress: EgressPolicy,
    ) -> None:
        self.store = store
        self.egress = egress  # the panel URL is chosen by an admin: it obeys the policy
        self.timeout = timeout
        self.retry_base_delay = retry_base_delay
        self.max_attempts = max_attempts
        self.breaker = CircuitBreaker("pterodactyl", failure_threshold=5, reset_timeout=30.0)
        self.settings = PanelSettings()
        self._client: PanelClient | None = None
        self._live: PanelClient | None = None

    async def refresh(self, conn: asyncpg.Connection) -> PanelSettings:
        """Reload the settings; a changed URL or key gets a new client."""
        settings = await self.store.load(conn)
        if _connection_changed(self.settings, settings):
            await self.aclose()
            self._client = self._live = None
        self.settings = settings
        return settings

    def client(self) -> PanelClient:
        if not self.settings.panel_url or not self.settings.application_key:
            raise PanelNotConfigured("the panel URL and application key are not configured")
        if self._client is None:
            self._client = self.build(self.settings)
        return self._client

    def live_client(self) -> PanelClient:
        """The Client API for reads a caller waits on: one try, a short timeout, and the
        same circuit breaker as the syncs (one panel, up or down for both)."""
        if not self.settings.panel_url or not self.settings.client_key:
            raise PanelNotConfigured("the panel URL and client API key are not configured")
        if self._live is None:
            self._live = PanelClient(
                self.settings.panel_url,
                application_key=self.settings.application_key,
                client_key=self.settings.client_key,
                timeout=min(self.timeout, LIVE_TIMEOUT),
                max_attempts=1,
                breaker=self.breaker,
                egress=self.egress,
            )
        return self._live

    def build(self, settings: PanelSettings) -> PanelClient:
        return PanelClient(
            settings.panel_url,
            application_key=settings.application_key,
            client_key=settings.client_key,
            timeout=self.timeout,
            retry_base_delay=self.retry_base_delay,
            max_attempts=self.max_attempts,
            breaker=self.breaker,
            egress=self.egress,
        )

    def breaker_view(self) -> Circuit:
        snap = self.breaker.snapshot()
        return Circuit(
            state=snap.state,
            consecutive_failures=snap.consecutive_failures,
            last_error=snap.last_error,
        )

    async def aclose(self) -> None:
        for client in (self._client, self._live):
            if client is not None:
                await client.aclose()


def _connection_changed(old: PanelSettings, new: PanelSettings) -> bool:
    return (old.panel_url, old.application_key, old.client_key) != (
        new.panel_url,
        new.application_key,
        new.client_key,
    )
