"""Consume one queue of the topology with FastStream: decode, de-duplicate, apply, ack.

- A delivery that cannot be decoded (no CloudEvents id/type, a type the queue
  does not handle, a body that does not match the catalogue) is rejected to the
  dead-letter queue at once: retrying cannot fix it.
- A handler raising `PermanentFailure` is dead-lettered too.
- Any other exception is transient: the delivery waits a growing delay, is
  returned to the queue and tried again; the quorum queue's delivery limit
  dead-letters it when the retries are spent.
- `on(...)` handlers run in one transaction with the inbox claim, so the effect
  and the record that it happened commit together; a redelivered event is
  acknowledged without running the handler again. `on_long(...)` handlers
  manage their own transactions and call `inbox.claim` in their last one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry import trace

from nodebyte_common import inbox
from nodebyte_common.backoff import exponential_delay
from nodebyte_common.cloudevents import EventMeta, MalformedEnvelope, parse_meta
from nodebyte_common.events import Event
from nodebyte_common.observability import (
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_RETRIED,
    extract_trace_context,
    tracer,
)
from nodebyte_common.topology import Subscription

log = logging.getLogger(__name__)

TxHandler = Callable[[asyncpg.Connection, Any, EventMeta], Awaitable[None]]
LongHandler = Callable[[Any, EventMeta], Awaitable[None]]


class PermanentFailure(Exception):
    """The event can never be processed; dead-letter it instead of retrying."""


@dataclass(frozen=True)
class _Route:
    event_cls: type[Event]
    handler: TxHandler | LongHandler
    transactional: bool


class EventConsumer:
    """The handlers of one subscription (one queue) of a service."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        prefix: str,
        prefetch: int = 32,
        retry_base_delay: float = 0.2,
    ) -> None:
        self.subscription = subscription
        self.pool: asyncpg.Pool | None = None
        self.queue = subscription.queue(prefix)
        self.name = f"{subscription.service}.{subscription.purpose}"  # inbox consumer name
        self.prefetch = prefetch
        self.retry_base_delay = retry_base_delay
        self._routes: dict[str, _Route] = {}

    def on(self, event_cls: type[Event]) -> Callable[[TxHandler], TxHandler]:
        """Register a handler run inside the inbox transaction: `(conn, event, meta)`."""
        return self._register(event_cls, transactional=True)

    def on_long(self, event_cls: type[Event]) -> Callable[[LongHandler], LongHandler]:
        """Register a handler that manages its own transactions: `(event, meta)`."""
        return self._register(event_cls, transactional=False)

    def _register(self, event_cls: type[Event], *, transactional: bool) -> Callable[[Any], Any]:
        if event_cls.TYPE not in self.subscription.event_types:
            raise ValueError(f"{self.queue} is not bound to {event_cls.TYPE}")

        def decorator(fn: Any) -> Any:
            self._routes[event_cls.TYPE] = _Route(event_cls, fn, transactional)
            return fn

        return decorator

    def attach(self, broker: RabbitBroker, pool: asyncpg.Pool) -> None:
        """Subscribe to the queue (declared by the topology, so not re-declared here)."""
        self.pool = pool
        subscriber = broker.subscriber(
            RabbitQueue(self.queue, declare=False),
            channel=Channel(prefetch_count=self.prefetch),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
        )
        subscriber(self._deliver)

    async def _deliver(self, body: bytes, message: RabbitMessage) -> None:
        headers = dict(message.raw_message.headers or {})
        attempt = int(headers.get("x-delivery-count", 0)) + 1
        try:
            meta = parse_meta(headers, attempt)
            route = self._routes[meta.type]
            event = msgspec.json.decode(body, type=route.event_cls)
        except (MalformedEnvelope, KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(
                message, headers.get("cloudEvents:type", "?"), "undecodable", exc
            )
            return
        context = extract_trace_context(headers)
        with tracer().start_as_current_span(
            f"consume {meta.type}", context=context, kind=trace.SpanKind.CONSUMER
        ):
            await self._process(message, route, event, meta)

    async def _process(
        self, message: RabbitMessage, route: _Route, event: Event, meta: EventMeta
    ) -> None:
        try:
            outcome = await self._apply(route, event, meta)
        except PermanentFailure as exc:
            await self._dead_letter(message, meta.type, "permanent", exc)
            return
        except Exception:
            log.exception(
                "event handler failed; will retry",
                extra={"event_id": str(meta.id), "event_type": meta.type, "attempt": meta.attempt},
            )
            EVENTS_RETRIED.labels(self.subscription.service, self.queue, meta.type).inc()
            await asyncio.sleep(exponential_delay(meta.attempt, base=self.retry_base_delay))
            await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(self.subscription.service, self.queue, meta.type, outcome).inc()

    async def _apply(self, route: _Route, event: Event, meta: EventMeta) -> str:
        if not route.transactional:
            await route.handler(event, meta)  # type: ignore[call-arg]
            return "processed"
        assert self.pool is not None, "attach() the consumer first"
        async with self.pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, self.name, meta.id):
                return "duplicate"
            await route.handler(conn, event, meta)  # type: ignore[call-arg]
        return "processed"

    async def _dead_letter(
        self, message: RabbitMessage, event_type: str, reason: str, exc: BaseException
    ) -> None:
        log.warning(
            "event dead-lettered",
            extra={
                "queue": self.queue,
                "event_type": event_type,
                "reason": reason,
                "detail": str(exc)[:500],
            },
        )
        EVENTS_DEAD_LETTERED.labels(self.subscription.service, self.queue, event_type, reason).inc()
        await message.reject(requeue=False)


async def _raw_body(message: Any) -> bytes:
    """Skip FastStream's JSON decoding: the catalogue decodes into Structs."""
    return bytes(message.body)
