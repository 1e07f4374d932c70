from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest

from nodebyte_common import events
from nodebyte_common.events import CATALOGUE, SECRET_FIELD_MARKERS

DESIGN_TYPES = {
    "sync.requested",
    "sync.progress",
    "sync.completed",
    "sync.failed",
    "sync.cancelled",
    "sync.cancel_requested",
    "token.refreshed",
    "session.created",
    "session.refreshed",
    "session.deleted",
    "email.requested",
    "email.sent",
    "email.failed",
    "webhook.dispatch_requested",
    "webhook.delivered",
    "node.connected",
    "node.disconnected",
    "node.health_reported",
    "server.state_changed",
    "server.command_requested",
    "server.command_failed",
    "backup.completed",
    "alert.raised",
    "alert.resolved",
    "settings.changed",
    "job.fired",
}


def test_every_event_type_of_the_design_is_catalogued() -> None:
    assert set(CATALOGUE) >= DESIGN_TYPES


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_no_event_carries_a_secret(event_type: str) -> None:
    for field in msgspec.structs.fields(CATALOGUE[event_type]):
        assert not any(marker in field.name.lower() for marker in SECRET_FIELD_MARKERS), field.name


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_routing_key_and_version(event_type: str) -> None:
    cls = CATALOGUE[event_type]
    assert event_type == cls.TYPE
    assert cls.VERSION >= 1


def test_roundtrip_through_json() -> None:
    event = events.SyncRequested(
        sync_log_id=uuid4(), kind="locations", requested_by="me", requested_at=datetime.now(UTC)
    )
    assert events.decode(event.TYPE, events.encode(event)) == event


def test_decode_refuses_a_body_of_the_wrong_shape() -> None:
    with pytest.raises(msgspec.ValidationError):
        events.decode("sync.requested", b'{"sync_log_id": 5}')
    with pytest.raises(KeyError):
        events.decode("no.such.type", b"{}")
