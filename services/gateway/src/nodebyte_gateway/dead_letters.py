"""The dead-letter queues (`<queue>.dlq`), read and settled by the gateway with its own
broker credentials.

The DLQs belong to the broker topology, not to any service's schema, and an
operator needs them most when the consumer behind one is broken or down; so
the gateway reads them directly instead of asking each service.

Reading never loses a message: messages are taken with `basic.get` without
acknowledging them and go back to the queue, in order, when the channel
closes. A replay republishes the message to the event exchange with its
original headers and routing key on a channel with publisher confirms, and
acknowledges the dead letter only once the broker confirmed the publish; a
discard acknowledges it. One operation per queue at a time in a replica: a
message another operation holds is invisible until it is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import aio_pika
import msgspec
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from nodebyte_common import events
from nodebyte_common.cloudevents import PREFIX, MalformedEnvelope, parse_meta
from nodebyte_common.topology import DELIVERY_LIMIT, SUBSCRIPTIONS, exchange_name

GET_TIMEOUT_SECONDS = 5.0
# Headers the broker sets on each delivery; a replay must not carry them.
BROKER_DELIVERY_HEADERS = ("x-delivery-count",)


class UnknownQueue(LookupError):
    """No subscription of the topology has this queue."""


class DeadLetterNotFound(LookupError):
    """No message with this id is in the dead-letter queue."""


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    id: str  # the CloudEvents id, or a digest of the message when it has none
    queue: str  # the subscription's queue, e.g. notifier.notifications
    eventType: str | None
    routingKey: str | None  # the routing key it was first published with
    reason: str  # the broker's: rejected (by the consumer) or delivery_limit
    problem: str | None  # why it cannot be decoded against the catalogue, if so
    attempts: int  # deliveries before it was dead-lettered (at least)
    timesDeadLettered: int
    deadLetteredAt: str | None
    headers: dict[str, Any]
    payload: Any  # the body as JSON when it is JSON, else as text


# Each subscription's short name: the queues an administrator can name (`?queue=`).
QUEUE_NAMES = tuple(f"{sub.service}.{sub.purpose}" for sub in SUBSCRIPTIONS)
QueueName = Literal[QUEUE_NAMES]  # type: ignore[valid-type]


def queues(prefix: str) -> dict[str, str]:
    """Each subscription's short name (`notifier.notifications`) → its DLQ's name."""
    return {f"{sub.service}.{sub.purpose}": sub.dead_letter_queue(prefix) for sub in SUBSCRIPTIONS}


class DeadLetterQueues:
    def __init__(self, amqp_url: str, prefix: str) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self._queues = queues(prefix)
        self._connection: AbstractRobustConnection | None = None
        self._connecting = asyncio.Lock()
        self._locks = {name: asyncio.Lock() for name in self._queues}

    @property
    def names(self) -> list[str]:
        return list(self._queues)

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def count(self, queue: str) -> int:
        async with self._holding(queue) as (channel, dlq):
            declared = await channel.declare_queue(dlq, passive=True)
            return int(declared.declaration_result.message_count or 0)

    async def list(self, queue: str, limit: int) -> list[DeadLetter]:
        """The first `limit` dead letters of `queue`, oldest first; all stay queued."""
        async with self._holding(queue) as (channel, dlq):
            source = await channel.get_queue(dlq, ensure=False)
            found: list[DeadLetter] = []
            while len(found) < limit:
                message = await source.get(no_ack=False, fail=False, timeout=GET_TIMEOUT_SECONDS)
                if message is None:
                    break
                found.append(view(queue, message))
            return found

    async def show(self, queue: str, letter_id: str) -> DeadLetter:
        async with self._holding(queue) as (channel, dlq):
            return view(queue, await _find(channel, dlq, letter_id))

    async def replay(self, queue: str, letter_id: str) -> DeadLetter:
        """Republish the dead letter where it was first published; then remove it."""
        async with self._holding(queue) as (channel, dlq):
            message = await _find(channel, dlq, letter_id)
            letter = view(queue, message)
            exchange = await channel.get_exchange(exchange_name(self.prefix), ensure=False)
            await exchange.publish(
                _republished(message),
                routing_key=letter.routingKey or letter.eventType or "",
                mandatory=True,
            )  # returns once the broker confirmed it
            await message.ack()
            return letter

    async def discard(self, queue: str, letter_id: str) -> DeadLetter:
        async with self._holding(queue) as (channel, dlq):
            message = await _find(channel, dlq, letter_id)
            await message.ack()
            return view(queue, message)

    @contextlib.asynccontextmanager
    async def _holding(self, queue: str) -> AsyncIterator[tuple[AbstractChannel, str]]:
        """A confirming channel for `queue`'s DLQ; closing it returns what was not acked."""
        if queue not in self._queues:
            raise UnknownQueue(queue)
        async with self._locks[queue]:
            connection = await self._connect()
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            try:
                yield channel, self._queues[queue]
            finally:
                await channel.close()

    async def _connect(self) -> AbstractRobustConnection:
        async with self._connecting:
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(
                    self.amqp_url, client_properties={"connection_name": "gateway dead letters"}
                )
            return self._connection


async def _find(channel: AbstractChannel, dlq: str, letter_id: str) -> AbstractIncomingMessage:
    source = await channel.get_queue(dlq, ensure=False)
    while True:
        message = await source.get(no_ack=False, fail=False, timeout=GET_TIMEOUT_SECONDS)
        if message is None:
            raise DeadLetterNotFound(letter_id)
        if letter_id_of(message) == letter_id:
            return message


def _republished(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in BROKER_DELIVERY_HEADERS}
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def letter_id_of(message: AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    event_id = headers.get(f"{PREFIX}id")
    if isinstance(event_id, str | bytes) and event_id:
        text = event_id.decode(errors="replace") if isinstance(event_id, bytes) else event_id
        return text[:100]
    digest = hashlib.sha256(message.body)
    digest.update(repr(sorted((k, str(v)) for k, v in headers.items() if k[:2] != "x-")).encode())
    return "sha256-" + digest.hexdigest()[:32]


def view(queue: str, message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    deaths = headers.get("x-death")
    death: dict[str, Any] = deaths[0] if isinstance(deaths, list) and deaths else {}
    reason = str(death.get("reason") or headers.get("x-first-death-reason") or "unknown")
    keys = death.get("routing-keys") or []
    event_type = headers.get(f"{PREFIX}type")
    return DeadLetter(
        id=letter_id_of(message),
        queue=queue,
        eventType=str(event_type) if event_type is not None else None,
        routingKey=str(keys[0]) if keys else None,
        reason=reason,
        problem=decoding_problem(queue, headers, message.body),
        attempts=DELIVERY_LIMIT + 1 if reason == "delivery_limit" else 1,
        timesDeadLettered=int(death.get("count") or 1),
        deadLetteredAt=_iso(death.get("time")),
        headers=_plain(headers),
        payload=_payload(message.body),
    )


def decoding_problem(queue: str, headers: dict[str, Any], body: bytes) -> str | None:
    """Why the consumer of `queue` cannot decode this message, or None when it can."""
    try:
        meta = parse_meta(headers, 1)
    except MalformedEnvelope as exc:
        return str(exc)
    service, _, purpose = queue.partition(".")
    handled = next(
        (s.event_types for s in SUBSCRIPTIONS if (s.service, s.purpose) == (service, purpose)), ()
    )
    if meta.type not in handled:
        return f"{queue} does not handle events of type {meta.type!r}"
    try:
        events.decode(meta.type, body)
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        return f"the body does not match {meta.type}: {exc}"
    return None


def _payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _plain(value: Any) -> Any:
    """AMQP header values as JSON: dates as ISO text, bytes as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
