"""CloudEvents AMQP binding, binary mode: attributes as application properties.

The body is the event payload as JSON; `cloudEvents:*` headers carry id, type,
source, time, specversion and dataschema (type and version), and the W3C
trace context travels as `traceparent`/`tracestate` beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from nodebyte_common.events import Event, dataschema

PREFIX = "cloudEvents:"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class EventMeta:
    """What a consumer knows about a delivery besides its payload."""

    id: UUID
    type: str
    source: str
    time: datetime | None
    headers: dict[str, Any]
    attempt: int  # 1 for the first delivery


def event_headers(
    event: Event, event_id: UUID, source: str, trace_headers: dict[str, str] | None = None
) -> dict[str, str]:
    """The headers of `event` published now under `event_id`."""
    headers = {
        f"{PREFIX}specversion": "1.0",
        f"{PREFIX}id": str(event_id),
        f"{PREFIX}type": event.TYPE,
        f"{PREFIX}source": source,
        f"{PREFIX}time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        f"{PREFIX}dataschema": dataschema(event.TYPE, event.VERSION),
    }
    for key, value in (trace_headers or {}).items():
        headers[key] = value
        headers[f"{PREFIX}{key}"] = value  # the distributed-tracing extension
    return headers


class MalformedEnvelope(ValueError):
    """The delivery lacks the CloudEvents attributes every event must carry."""


def parse_meta(headers: dict[str, Any], attempt: int) -> EventMeta:
    try:
        event_id = UUID(str(headers[f"{PREFIX}id"]))
        event_type = str(headers[f"{PREFIX}type"])
        source = str(headers.get(f"{PREFIX}source", ""))
    except (KeyError, ValueError) as exc:
        raise MalformedEnvelope(f"missing or invalid CloudEvents attribute: {exc}") from None
    raw_time = headers.get(f"{PREFIX}time")
    try:
        time = datetime.fromisoformat(str(raw_time)) if raw_time else None
    except ValueError:
        time = None
    return EventMeta(event_id, event_type, source, time, dict(headers), attempt)
