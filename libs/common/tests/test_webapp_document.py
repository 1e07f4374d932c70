"""What every service's app says about itself: `Allow` on OPTIONS lists every method of
the path, and a Struct body is documented as msgspec checks it."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Litestar, get, patch, post
from litestar.openapi import OpenAPIConfig
from litestar.params import JSONBody
from litestar.testing import TestClient

from nodebyte_common.webapp import create_app

Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Closed(msgspec.Struct, forbid_unknown_fields=True):
    scopes: list[Scope] = []


class Open(msgspec.Struct):
    name: str = ""


@get("/things")
async def list_things() -> None: ...


@post("/things")
async def add_thing(data: JSONBody[Closed]) -> None: ...


@get("/things/{thing_id:int}")
async def read_thing(thing_id: int) -> None: ...


@patch("/things/{thing_id:int}")
async def change_thing(thing_id: int, data: JSONBody[Open]) -> None: ...


def app() -> Litestar:
    return create_app(
        service="test",
        route_handlers=[list_things, add_thing, read_thing, change_thing],
        readiness={},
        openapi_config=OpenAPIConfig(title="test", version="1"),
    )


def test_options_allows_every_method_the_path_has() -> None:
    with TestClient(app()) as client:
        assert client.options("/things").headers["allow"] == "GET, OPTIONS, POST"
        assert client.options("/things/1").headers["allow"] == "GET, OPTIONS, PATCH"
        refused = client.put("/things")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, OPTIONS, POST"


def test_a_struct_refusing_unknown_fields_is_a_closed_object() -> None:
    schemas = app().openapi_schema.to_schema()["components"]["schemas"]
    assert schemas["Closed"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["Open"]


def test_the_constraints_of_a_lists_items_are_documented() -> None:
    schemas = app().openapi_schema.to_schema()["components"]["schemas"]
    assert schemas["Closed"]["properties"]["scopes"]["items"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
    }
