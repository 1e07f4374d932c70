"""EncodedJson: sent as it is, or through Litestar's response when more is added."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import ResponseHeader
from litestar.testing import create_test_client

from nodebyte_gateway.edge.encoded_response import EncodedJson

BODY = b'{"success":true,"data":{"n":1}}'


def test_the_bytes_are_the_answer() -> None:
    @get("/plain")
    async def plain() -> Any:
        return EncodedJson(BODY)

    with create_test_client([plain]) as client:
        answer = client.get("/plain")
    assert answer.status_code == 200
    assert answer.content == BODY
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-length"] == str(len(BODY))


def test_headers_added_by_the_route_or_the_response_are_kept() -> None:
    @get("/route-header", response_headers=[ResponseHeader(name="x-route", value="1")])
    async def route_header() -> Any:
        return EncodedJson(BODY)

    @get("/own-header")
    async def own_header() -> Any:
        response = EncodedJson(BODY, status_code=202)
        response.headers["x-own"] = "2"
        return response

    with create_test_client([route_header, own_header]) as client:
        by_route = client.get("/route-header")
        by_response = client.get("/own-header")
    assert (by_route.headers["x-route"], by_route.content) == ("1", BODY)
    assert (by_response.status_code, by_response.headers["x-own"]) == (202, "2")
    assert by_response.content == BODY
