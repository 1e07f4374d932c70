"""The AsyncAPI 3.0 document of the event catalogue, built from the msgspec Structs.

FastStream cannot describe msgspec payloads, so the document is generated here:
one channel (the topic exchange), one message per event type with its JSON
schema, one receive operation per consumer queue of the topology (and per stream a
replica binds for itself), and one send operation per producing service.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nodebyte_common.cloudevents import PREFIX
from nodebyte_common.events import CATALOGUE, dataschema
from nodebyte_common.topology import EXTERNAL, PUBLISHES, STREAMS, SUBSCRIPTIONS, exchange_name

CLOUDEVENTS_HEADERS = {
    "type": "object",
    "required": [f"{PREFIX}{a}" for a in ("specversion", "id", "type", "source", "time")],
    "properties": {
        f"{PREFIX}specversion": {"type": "string", "const": "1.0"},
        f"{PREFIX}id": {"type": "string", "format": "uuid"},
        f"{PREFIX}type": {"type": "string"},
        f"{PREFIX}source": {"type": "string"},
        f"{PREFIX}time": {"type": "string", "format": "date-time"},
        f"{PREFIX}dataschema": {"type": "string"},
        "traceparent": {"type": "string"},
    },
}


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi_document(prefix: str = "nodebyte", version: str = "0.1.0") -> dict[str, Any]:
    types = sorted(CATALOGUE)
    (schemas, components) = msgspec.json.schema_components(
        [CATALOGUE[t] for t in types], ref_template="#/components/schemas/{name}"
    )
    messages = {
        _message_name(t): {
            "name": t,
            "title": CATALOGUE[t].__name__,
            "summary": (CATALOGUE[t].__doc__ or "").strip().splitlines()[0]
            if CATALOGUE[t].__doc__
            else t,
            "contentType": "application/json",
            "headers": CLOUDEVENTS_HEADERS,
            "payload": schema,
            "bindings": {"amqp": {"messageType": t, "bindingVersion": "0.3.0"}},
            "x-dataschema": dataschema(t, CATALOGUE[t].VERSION),
            "x-version": CATALOGUE[t].VERSION,
        }
        for t, schema in zip(types, schemas, strict=True)
    }
    exchange = exchange_name(prefix)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "NodeByte events",
            "version": version,
            "description": "Every event of the platform. Routing key = event type; CloudEvents "
            "AMQP binary mode (attributes in `cloudEvents:*` headers).",
        },
        "defaultContentType": "application/json",
        "channels": {
            "events": {
                "address": "{eventType}",
                "parameters": {"eventType": {"enum": types}},
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": exchange,
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                        },
                        "bindingVersion": "0.3.0",
                    }
                },
            }
        },
        "operations": _receive_operations(prefix) | _send_operations(),
        "components": {"messages": messages, "schemas": components},
    }


def _refs(event_types: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/events/messages/{_message_name(t)}"} for t in event_types]


def _receive_operations(prefix: str) -> dict[str, Any]:
    queues = {
        f"{sub.service}.{sub.purpose}": (sub, f"queue {sub.queue(prefix)}") for sub in SUBSCRIPTIONS
    } | {
        f"{sub.service}.{sub.purpose}": (sub, "an exclusive queue of each replica")
        for sub in STREAMS
    }
    return {
        name: {
            "action": "receive",
            "channel": {"$ref": "#/channels/events"},
            "summary": f"{sub.service} consumes from {where}",
            "messages": _refs(sub.event_types),
        }
        for name, (sub, where) in queues.items()
    }


def _send_operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for service, types in PUBLISHES.items():
        operation = {
            "action": "send",
            "channel": {"$ref": "#/channels/events"},
            "summary": f"{service} publishes through its outbox",
            "messages": _refs(types),
        }
        unread = [f"`{t}`: {EXTERNAL[t]}." for t in types if t in EXTERNAL]
        if unread:
            operation["description"] = "Consumed by no service here: " + " ".join(unread)
        operations[f"{service}.publish"] = operation
    return operations
