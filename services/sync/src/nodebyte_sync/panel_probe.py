"""Checking that a panel URL and application key work, without touching the sync's client.

A probe makes one request with its own client and circuit breaker: a wrong URL
tried from the admin page must neither wait through the sync's retries nor
open the breaker that stops real syncs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nodebyte_common.circuit_breaker import CircuitBreaker
from nodebyte_common.pterodactyl import PanelClient, PanelError, parse_list
from nodebyte_sync.panel_settings import PanelSettings

NOT_CONFIGURED = "the panel URL and application key are not configured"
# The gateway waits 5 s for an internal answer; a probe must be done before that.
PROBE_SECONDS = 3.0


async def probe(settings: PanelSettings, timeout: float = PROBE_SECONDS) -> dict[str, Any]:
    """{ok, latencyMs, error, locations}: one page of locations read with these settings."""
    if not settings.panel_url or not settings.application_key:
        return {"ok": False, "latencyMs": None, "error": NOT_CONFIGURED}
    client = PanelClient(
        settings.panel_url,
        application_key=settings.application_key,
        timeout=timeout,
        max_attempts=1,
        breaker=CircuitBreaker("pterodactyl-probe"),
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            body = await client.application("/locations", {"per_page": 1})
        locations = parse_list(body).total
    except TimeoutError:
        return {
            "ok": False,
            "latencyMs": _since(started),
            "error": f"the panel did not answer within {timeout:g} s",
        }
    except PanelError as exc:
        return {"ok": False, "latencyMs": _since(started), "error": describe(exc)}
    except (ValueError, TypeError, KeyError, AttributeError):  # answered, but not as a panel does
        return {"ok": False, "latencyMs": _since(started), "error": "not a Pterodactyl panel"}
    finally:
        await client.aclose()
    return {"ok": True, "latencyMs": _since(started), "error": None, "locations": locations}


def describe(exc: PanelError) -> str:
    """An admin-readable reason; never the key (the panel does not echo it)."""
    if exc.status in (401, 403):
        return f"the panel refused the application API key (HTTP {exc.status})"
    if exc.status is not None:
        return f"the panel answered HTTP {exc.status}: {str(exc)[:200]}"
    return str(exc)[:300]  # "panel unreachable: ConnectError", "panel answered 503"


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
