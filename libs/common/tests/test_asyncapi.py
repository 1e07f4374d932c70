from nodebyte_common.asyncapi import asyncapi_document
from nodebyte_common.events import CATALOGUE
from nodebyte_common.topology import SUBSCRIPTIONS


def test_document_describes_every_event_and_consumer() -> None:
    doc = asyncapi_document("nodebyte")
    assert doc["asyncapi"] == "3.0.0"
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(CATALOGUE)
    for message in doc["components"]["messages"].values():
        payload = message["payload"]
        assert "$ref" in payload or payload.get("type") == "object"
        assert "cloudEvents:id" in message["headers"]["required"]
    assert set(doc["operations"]) == {f"{s.service}.{s.purpose}" for s in SUBSCRIPTIONS}
    assert doc["channels"]["events"]["bindings"]["amqp"]["exchange"]["name"] == "nodebyte.events"


def test_schemas_resolve() -> None:
    doc = asyncapi_document()
    components = doc["components"]["schemas"]
    for message in doc["components"]["messages"].values():
        ref = message["payload"].get("$ref", "")
        if ref:
            assert ref.rsplit("/", 1)[-1] in components
    assert components["SyncRequested"]["properties"]["sync_log_id"]["format"] == "uuid"
