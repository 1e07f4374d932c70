"""What the admin page shows of the notifier's mail set-up, and the mail probe.

Mail is configured by environment only: these values are read-only and never
include a key or a password.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from nodebyte_common.contracts.notify import MailSettings
from nodebyte_common.contracts.probes import ConnectionCheck
from nodebyte_notifier.email_providers import EmailProvider

# The gateway waits 5 s for an internal answer; a probe must be done before that.
PROBE_SECONDS = 3.0


@dataclass(frozen=True)
class MailStatus:
    provider: EmailProvider | None
    sender: str
    admin_recipients: list[str]
    system_webhook: bool

    def view(self) -> MailSettings:
        return MailSettings(
            emailProvider=self.provider.name if self.provider else None,
            emailConfigured=self.provider is not None,
            emailFrom=self.sender,
            adminEmailTo=self.admin_recipients,
            discordWebhookConfigured=self.system_webhook,
        )

    async def probe(self, timeout: float = PROBE_SECONDS) -> ConnectionCheck:
        """Can the configured provider take mail now?"""
        if self.provider is None:
            return ConnectionCheck(ok=False, error="no email provider is configured")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                error = await self.provider.check()
        except TimeoutError:
            error = f"the {self.provider.name} server did not answer within {timeout:g} s"
        latency = round((time.perf_counter() - started) * 1000)
        return ConnectionCheck(
            ok=error is None, latency_ms=latency, error=error, provider=self.provider.name
        )
