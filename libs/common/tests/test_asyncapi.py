from nodebyte_common.asyncapi import asyncapi_document
from nodebyte_common.events import CATALOGUE
from nodebyte_common.topology import PUBLISHES, STREAMS, SUBSCRIPTIONS


def test_document_describes_every_event_and_consumer() -> None:
    doc = asyncapi_document("nodebyte")
    assert doc["asyncapi"] == "3.0.0"
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert names == set(CATALOGUE)
    for message in doc["components"]["messages"].values():
        payload = message["payload"]
        assert "$ref" in payload or payload.get("type") == "object"
        assert "cloudEvents:id" in message["headers"]["required"]
    receives = {n for n, o in doc["operations"].items() if o["action"] == "receive"}
    assert receives == {f"{s.service}.{s.purpose}" for s in SUBSCRIPTIONS + STREAMS}
    assert doc["channels"]["events"]["bindings"]["amqp"]["exchange"]["name"] == "nodebyte.events"


def test_schemas_resolve() -> None:
    doc = asyncapi_document()
    components = doc["components"]["schemas"]
    for message in doc["components"]["messages"].values():
        ref = message["payload"].get("$ref", "")
        if ref:
            assert ref.rsplit("/", 1)[-1] in components
    assert components["SyncRequested"]["properties"]["sync_log_id"]["format"] == "uuid"


def test_each_producer_is_a_send_operation_of_what_it_publishes() -> None:
    operations = asyncapi_document()["operations"]
    sends = {n: o for n, o in operations.items() if o["action"] == "send"}
    assert set(sends) == {f"{service}.publish" for service in PUBLISHES}
    sent = [m["$ref"].rsplit("/", 1)[-1] for m in sends["sync.publish"]["messages"]]
    assert sent == [t.replace(".", "_") for t in PUBLISHES["sync"]]
