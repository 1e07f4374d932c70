"""The tap's judgement of one published message (the integration stacks run it on all)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import msgspec

from nodebyte_common import events
from nodebyte_common.cloudevents import PREFIX, event_headers
from nodebyte_devstack.event_tap import message_problems

SYNCED = events.PanelUsersSynced(
    sync_log_id=UUID(int=1),
    as_of=datetime.now(UTC),
    users=[events.PanelUser(id=1, email="a@b.test", username="a")],
)


def judged(event: events.Event, source: str = "nodebyte/sync", **changes: object) -> list[str]:
    event_id = uuid4()
    headers: dict[str, object] = dict(event_headers(event, event_id, source))
    body = msgspec.to_builtins(event)
    for path, value in changes.items():
        if path.startswith("header_"):
            headers[f"{PREFIX}{path.removeprefix('header_')}"] = value
        elif path == "user_extra":
            body["users"][0]["nickname"] = value
        else:
            body[path] = value
    return message_problems(event.TYPE, headers, msgspec.json.encode(body), str(event_id))


def test_an_event_as_the_outbox_publishes_it_passes() -> None:
    assert judged(SYNCED) == []


def test_a_field_the_catalogue_does_not_declare_is_caught_at_any_depth() -> None:
    assert judged(SYNCED, renamed_field=1) == [
        "$.renamed_field is not declared by PanelUsersSynced"
    ]
    assert judged(SYNCED, user_extra="x") == ["$.users[0].nickname is not declared by PanelUser"]


def test_a_type_its_source_does_not_declare_is_caught() -> None:
    (problem,) = judged(SYNCED, source="nodebyte/gateway")
    assert "gateway does not declare publishing 'panel_users.synced'" in problem


def test_headers_that_disagree_with_the_catalogue_are_caught() -> None:
    assert judged(SYNCED, header_dataschema="urn:nodebyte:events:panel_users.synced:v2") == [
        "dataschema 'urn:nodebyte:events:panel_users.synced:v2' is not v1"
    ]
    assert judged(SYNCED, header_specversion="0.3") == ["specversion is not 1.0"]
    assert judged(SYNCED, header_type="sync.completed")[0] == (
        "routing key 'panel_users.synced' is not its type"
    )


def test_a_body_that_does_not_decode_is_caught() -> None:
    (problem,) = judged(SYNCED, as_of="yesterday")
    assert problem.startswith("body does not decode as PanelUsersSynced")
