"""Send queued webhook deliveries; retry with growing delay; honour 429 `retry_after`.

A delivery is leased (`sending`, `lease_until`) before the HTTP call and
settled after it; a notifier that dies mid-call leaves a lease that expires,
and the delivery is sent again (Discord has no idempotency key, so that window
of one request is the only place a duplicate can come from).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import httpx
import uuid6

from nodebyte_common.backoff import exponential_delay

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
CLAIM_BATCH = 20
NOTIFY_CHANNEL = "notifier_deliveries"


async def enqueue(
    conn: asyncpg.Connection, source_event_id: UUID, target: str, payload: dict
) -> None:
    await conn.execute(
        """INSERT INTO webhook_deliveries (id, source_event_id, target, payload)
           VALUES ($1, $2, $3, $4) ON CONFLICT (source_event_id, target) DO NOTHING""",
        uuid6.uuid7(),
        source_event_id,
        target,
        payload,
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


@dataclass(frozen=True)
class Attempt:
    """What an HTTP attempt came to."""

    sent: bool
    status_code: int | None
    error: str | None
    retry_after: float | None = None  # the upstream asked us to wait this long
    permanent: bool = False


class DeliveryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        targets: dict[str, str],
        *,
        max_attempts: int,
        retry_base_delay: float,
        timeout: float,
    ) -> None:
        self.pool = pool
        self.targets = targets  # target name -> URL, held in memory only
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._wake = asyncio.Event()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self) -> None:
        async with self.pool.acquire() as listener:
            await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
            try:
                while True:
                    if await self.deliver_due() == 0:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 1.0)
            finally:
                await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def deliver_due(self) -> int:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """UPDATE webhook_deliveries SET status = 'sending', attempts = attempts + 1,
                          lease_until = now() + make_interval(secs => $2)
                   WHERE id IN (SELECT id FROM webhook_deliveries
                                WHERE (status = 'queued' AND next_attempt_at <= now())
                                   OR (status = 'sending' AND lease_until < now())
                                ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, target, payload, attempts""",
                CLAIM_BATCH,
                LEASE_SECONDS,
            )
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> None:
        attempt = await self._post(row["target"], row["payload"])
        await self._settle(row["id"], row["attempts"], attempt)

    async def _post(self, target: str, payload: dict) -> Attempt:
        url = self.targets.get(target)
        if url is None:
            return Attempt(False, None, f"webhook {target} is not configured", permanent=True)
        try:
            response = await self._http.post(url, params={"wait": "true"}, json=payload)
        except httpx.HTTPError as exc:
            return Attempt(False, None, type(exc).__name__)
        code = response.status_code
        if code < 300:
            return Attempt(True, code, None)
        if code == 429:
            return Attempt(False, code, "rate limited", retry_after=_retry_after(response))
        return Attempt(False, code, f"HTTP {code}", permanent=400 <= code < 500)

    async def _settle(self, delivery_id: UUID, attempts: int, a: Attempt) -> None:
        async with self.pool.acquire() as conn:
            if a.sent:
                await conn.execute(
                    """UPDATE webhook_deliveries SET status = 'sent', sent_at = now(),
                              last_status_code = $2, last_error = NULL WHERE id = $1""",
                    delivery_id,
                    a.status_code,
                )
                return
            give_up = a.permanent or (a.retry_after is None and attempts >= self.max_attempts)
            delay = (
                a.retry_after
                if a.retry_after is not None
                else exponential_delay(attempts, base=self.retry_base_delay, cap=300)
            )
            await conn.execute(
                """UPDATE webhook_deliveries SET status = $2, last_status_code = $3,
                          last_error = $4, next_attempt_at = now() + make_interval(secs => $5)
                   WHERE id = $1""",
                delivery_id,
                "failed" if give_up else "queued",
                a.status_code,
                a.error,
                delay,
            )
        if give_up:
            log.warning(
                "webhook delivery failed", extra={"delivery_id": str(delivery_id), "error": a.error}
            )


def _retry_after(response: httpx.Response) -> float:
    """Discord's `retry_after` (seconds, JSON body) or the `Retry-After` header."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return float(response.json()["retry_after"])
    with contextlib.suppress(ValueError, KeyError):
        return float(response.headers["Retry-After"])
    return 1.0
