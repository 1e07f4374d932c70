"""A tap on a stack's event exchange: every event a service publishes, held to the catalogue.

The tap is one queue bound to `#`, so it sees every message of the exchange (and the
alternate exchange's `unrouted` queue sees none while it is there). `drain` takes what
came since the last drain and says what is wrong with each message a service published
(its CloudEvents source names a service, "nodebyte/<service>"): a type the service does
not declare, headers that are missing or disagree with the body, or a body that does
not decode strictly into its Struct (a field the catalogue does not declare included).
Messages tests publish themselves (source "test..." or none, poison messages) are not
a service's and are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

import aio_pika
import msgspec
from msgspec import inspect

from nodebyte_common import events
from nodebyte_common.cloudevents import PREFIX
from nodebyte_common.topology import (
    SOURCE_PREFIX,
    UndeclaredPublication,
    check_publishes,
    declare_topology,
)

MAX_HELD = 100_000  # messages kept between drains; past it the oldest are dropped
DRAIN_TIMEOUT = 30.0


def message_problems(
    routing_key: str, headers: Mapping[str, Any], body: bytes, message_id: str | None
) -> list[str]:
    """What is wrong with one published event (empty when nothing is)."""
    event_type = str(headers.get(f"{PREFIX}type", ""))
    cls = events.CATALOGUE.get(event_type)
    if cls is None:
        return [f"type {event_type!r} is not catalogued"]
    problems = _header_problems(routing_key, headers, cls, message_id)
    try:
        check_publishes(str(headers.get(f"{PREFIX}source", "")), event_type)
    except UndeclaredPublication as exc:
        problems.append(str(exc))
    try:
        msgspec.json.decode(body, type=cls)
        problems += _unknown_fields(msgspec.json.decode(body), _type_info(cls), "$")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        problems.append(f"body does not decode as {cls.__name__}: {exc}")
    return problems


@cache
def _type_info(cls: type[events.Event]) -> inspect.Type:
    return inspect.type_info(cls)


def _header_problems(
    routing_key: str, headers: Mapping[str, Any], cls: type[events.Event], message_id: str | None
) -> list[str]:
    problems = []
    if routing_key != cls.TYPE:
        problems.append(f"routing key {routing_key!r} is not its type")
    if headers.get(f"{PREFIX}specversion") != "1.0":
        problems.append("specversion is not 1.0")
    if headers.get(f"{PREFIX}dataschema") != events.dataschema(cls.TYPE, cls.VERSION):
        problems.append(f"dataschema {headers.get(f'{PREFIX}dataschema')!r} is not v{cls.VERSION}")
    try:
        event_id = str(UUID(str(headers.get(f"{PREFIX}id"))))
        if message_id != event_id:
            problems.append("the AMQP message id is not the event id")
    except ValueError:
        problems.append("id is not a UUID")
    try:
        datetime.fromisoformat(str(headers.get(f"{PREFIX}time")))
    except ValueError:
        problems.append("time is not an ISO 8601 timestamp")
    return problems


def _unknown_fields(value: Any, kind: inspect.Type, path: str) -> list[str]:
    """Keys the catalogue does not declare, at any depth of nested Structs."""
    if isinstance(kind, inspect.StructType) and isinstance(value, dict):
        declared = {f.encode_name: f.type for f in kind.fields}
        name = kind.cls.__name__
        found = [f"{path}.{key} is not declared by {name}" for key in value if key not in declared]
        for key, item in value.items():
            if key in declared:
                found += _unknown_fields(item, declared[key], f"{path}.{key}")
        return found
    if isinstance(kind, inspect.ListType) and isinstance(value, list):
        item = kind.item_type
        return [p for i, v in enumerate(value) for p in _unknown_fields(v, item, f"{path}[{i}]")]
    if isinstance(kind, inspect.DictType) and isinstance(value, dict):
        return [
            p for k, v in value.items() for p in _unknown_fields(v, kind.value_type, f"{path}.{k}")
        ]
    if isinstance(kind, inspect.UnionType):
        structs = [t for t in kind.types if isinstance(t, inspect.StructType)]
        if len(structs) == 1:
            return _unknown_fields(value, structs[0], path)
    return []


def _from_a_service(headers: Mapping[str, Any]) -> bool:
    return str(headers.get(f"{PREFIX}source", "")).startswith(SOURCE_PREFIX)


class EventTap:
    """Declare with `open`, read with `drain`, remove with `close` (each on its own
    connection, so a synchronous fixture can call them through `asyncio.run`)."""

    def __init__(self, amqp_url: str, prefix: str) -> None:
        self.amqp_url = amqp_url
        self.prefix = prefix
        self.queue = f"{prefix}.test-tap"
        self.seen = 0  # service events checked so far

    async def open(self) -> None:
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            exchange = await declare_topology(channel, self.prefix)
            queue = await channel.declare_queue(
                self.queue,
                durable=False,
                arguments={"x-max-length": MAX_HELD, "x-overflow": "drop-head"},
            )
            await queue.bind(exchange, routing_key="#")

    async def drain(self) -> list[str]:
        """What is wrong with the service events that arrived since the last drain.

        Takes as many messages as the queue held when asked (a passive declare), so a
        drain costs one connection when nothing came; later ones wait for the next."""
        problems: list[str] = []
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            queue = await channel.declare_queue(self.queue, passive=True)
            waiting = queue.declaration_result.message_count or 0
            if waiting == 0:
                return []
            async with asyncio.timeout(DRAIN_TIMEOUT), queue.iterator(no_ack=True) as messages:
                async for message in messages:
                    problems += self._check(message)
                    waiting -= 1
                    if waiting == 0:
                        break
        return problems

    def _check(self, message: aio_pika.abc.AbstractIncomingMessage) -> list[str]:
        headers = message.headers or {}
        if not _from_a_service(headers):
            return []
        self.seen += 1
        found = message_problems(
            message.routing_key or "", headers, message.body, message.message_id
        )
        source = headers.get(f"{PREFIX}source")
        return [f"{message.routing_key} from {source} ({message.message_id}): {p}" for p in found]

    async def close(self) -> None:
        async with await aio_pika.connect(self.amqp_url) as connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)
