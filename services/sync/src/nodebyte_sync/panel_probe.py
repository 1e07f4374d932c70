"""Checking that a panel URL and application key work, without touching the sync's client.

A probe makes one request with its own client and circuit breaker: a wrong URL
tried from the admin page must neither wait through the sync's retries nor
open the breaker that stops real syncs.
"""

from __future__ import annotations

import asyncio
import time

from nodebyte_common.circuit_breaker import CircuitBreaker
from nodebyte_common.contracts.probes import ConnectionCheck
from nodebyte_common.egress import EgressPolicy
from nodebyte_common.egress.failures import describe
from nodebyte_common.pterodactyl import PanelClient, PanelError, parse_list
from nodebyte_sync.panel_settings import PanelSettings

# Failures are told as a category and a fixed sentence, never with what the far end
# answered: a probe of any URL must not become a way to read internal services.
MESSAGES = {
    "not_configured": "the panel URL and application key are not configured",
    "not_a_panel": "the server answered, but not as a Pterodactyl panel does",
    "http_401": "the panel refused the application API key (HTTP 401)",
    "http_403": "the panel refused the application API key (HTTP 403)",
}
# The gateway waits 5 s for an internal answer; a probe must be done before that.
PROBE_SECONDS = 3.0


async def probe(
    settings: PanelSettings, egress: EgressPolicy, timeout: float = PROBE_SECONDS
) -> ConnectionCheck:
    """One page of locations: how many there are, or the failure's category and words."""
    if not settings.panel_url or not settings.application_key:
        return _failed("not_configured", None)
    client = PanelClient(
        settings.panel_url,
        application_key=settings.application_key,
        timeout=timeout,
        max_attempts=1,
        breaker=CircuitBreaker("pterodactyl-probe"),
        egress=egress,
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            body = await client.application("/locations", {"per_page": 1})
        locations = parse_list(body).total
    except TimeoutError:
        return _failed("timeout", started)
    except PanelError as exc:
        return _failed(exc.category, started)
    except (ValueError, TypeError, KeyError, AttributeError):  # answered, but not as a panel does
        return _failed("not_a_panel", started)
    finally:
        await client.aclose()
    return ConnectionCheck(ok=True, latency_ms=_since(started), locations=locations)


def _failed(category: str, started: float | None) -> ConnectionCheck:
    return ConnectionCheck(
        ok=False,
        latency_ms=None if started is None else _since(started),
        error=category,
        message=MESSAGES.get(category) or describe(category),
    )


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
