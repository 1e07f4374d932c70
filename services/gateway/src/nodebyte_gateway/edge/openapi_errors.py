"""Make the OpenAPI document describe our error envelope, not Litestar's default.

Litestar documents a validation failure as `{status_code, detail, extra}`; the
gateway answers every error in the one envelope. At start-up the generated
document's error responses are rewritten to the envelope's schema, so clients
(and the schemathesis tests) see what is really sent.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

ENVELOPE = Schema(
    type=OpenAPIType.OBJECT,
    required=["success", "error", "code"],
    properties={
        "success": Schema(type=OpenAPIType.BOOLEAN, const=False),
        "error": Schema(type=OpenAPIType.STRING, description="A human-readable message"),
        "code": Schema(type=OpenAPIType.STRING, description="A machine-readable code"),
        "details": Schema(description="What exactly was wrong, when known"),
    },
    description="The error envelope",
)


# The refusals every route of a kind can answer, whatever its handler does.
GUARDED_ERRORS = {
    "401": "No valid credentials (Bearer token, X-API-Key or ?api_key=)",
    "403": "The caller lacks the permission this route needs",
}
COMMON_ERRORS = {
    "429": "Too many requests from this caller or address (see Retry-After)",
}
INPUT_ERROR = ("400", "The request's body, path or query is not valid")
NOT_FOUND = ("404", "What the path names does not exist")


# A route's opt: the multipart body it parses itself (streamed), for the document.
MULTIPART_BODY = "multipart_body"


def document_error_envelope(app: Litestar) -> None:
    schema = app.openapi_schema  # generated once and cached; served as it is after this
    _document_multipart_bodies(app)
    for path, path_item in (schema.paths or {}).items():
        for operation in (
            path_item.get,
            path_item.post,
            path_item.put,
            path_item.patch,
            path_item.delete,
        ):
            if operation is None or not operation.responses:
                continue
            _add_refusals(path, operation)
            _optional_body(operation)
            for status, response in operation.responses.items():
                if status.startswith(("4", "5")) and isinstance(response, OpenAPIResponse):
                    response.content = {"application/json": OpenAPIMediaType(schema=ENVELOPE)}
                elif isinstance(response, OpenAPIResponse):
                    _any_of_answers(response)
    for component in (schema.components.schemas or {}).values() if schema.components else ():
        _numbers_once(component)


def _document_multipart_bodies(app: Litestar) -> None:
    """Routes that stream a multipart body take no `data`: their body is declared in opt."""
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            form = (handler.opt or {}).get(MULTIPART_BODY)
            item = paths.get(_document_path(route.path))
            if form is None or item is None:
                continue
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if operation is not None:
                    operation.request_body = RequestBody(
                        content={"multipart/form-data": OpenAPIMediaType(schema=form)},
                        required=True,
                    )


def _document_path(path: str) -> str:
    """`/a/{id:uuid}` as the document writes it: `/a/{id}`."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def _numbers_once(schema: Any) -> None:
    """`int | float` is documented as oneOf integer/number, which an integer matches twice
    (so fails: oneOf means exactly one): a JSON number already admits integers."""
    if isinstance(schema, Schema):
        choices = schema.one_of or []
        kinds = {c.type for c in choices if isinstance(c, Schema)}
        if OpenAPIType.INTEGER in kinds and OpenAPIType.NUMBER in kinds:
            schema.one_of = [
                c for c in choices if not (isinstance(c, Schema) and c.type == OpenAPIType.INTEGER)
            ]
        for child in (
            *(schema.one_of or ()),
            *(schema.any_of or ()),
            *(schema.properties or {}).values(),
            schema.items,
            schema.additional_properties,
        ):
            _numbers_once(child)


def _any_of_answers(response: OpenAPIResponse) -> None:
    """An answer that is one of several Structs (`A | B`) is documented as anyOf: both
    may fit one answer (an empty list is a list of either), which oneOf would refuse."""
    for media in (response.content or {}).values():
        schema = media.schema
        if isinstance(schema, Schema) and schema.one_of and schema.any_of is None:
            schema.any_of, schema.one_of = schema.one_of, None


def _optional_body(operation: Operation) -> None:
    """A body the route takes as `X | None` may be left out: say so."""
    body = operation.request_body
    if not isinstance(body, RequestBody) or not body.content:
        return
    for media in body.content.values():
        schema = media.schema
        if isinstance(schema, Schema) and any(
            isinstance(choice, Schema) and choice.type == OpenAPIType.NULL
            for choice in schema.one_of or ()
        ):
            body.required = False


def _add_refusals(path: str, operation: Operation) -> None:
    """The statuses a route can refuse with, by what it is: guarded, with input, naming
    something by path. A route's own refusals (409, 413 …) it declares itself."""
    refusals = dict(COMMON_ERRORS)
    if operation.security:
        refusals.update(GUARDED_ERRORS)
    # Every route: the edge refuses a query string it cannot take (NUL characters, bad
    # encoding) before any handler, whether or not the route declares parameters.
    refusals[INPUT_ERROR[0]] = INPUT_ERROR[1]
    if "{" in path:
        refusals[NOT_FOUND[0]] = NOT_FOUND[1]
    for status, description in refusals.items():
        operation.responses.setdefault(status, OpenAPIResponse(description=description))  # type: ignore[union-attr]


class ServerSentEvent(msgspec.Struct, omit_defaults=True):
    """One event of a text/event-stream: its name and its data (JSON text)."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


def event_stream(description: str) -> dict[int, ResponseSpec]:
    """A route's `responses=`: its 200 is a text/event-stream of the named events."""
    return {
        200: ResponseSpec(
            data_container=ServerSentEvent,
            media_type="text/event-stream",
            description=description,
        )
    }


def refusals(statuses: dict[int, str]) -> dict[int, ResponseSpec]:
    """A route's `responses=`: the refusals of its own (409 a name in use, 401 a token
    that is no good ...), beyond those of its kind that `_add_refusals` documents; each
    answered in the envelope."""
    return {
        status: ResponseSpec(data_container=None, description=description)
        for status, description in statuses.items()
    }


def byte_stream(description: str) -> dict[int, ResponseSpec]:
    """A route's `responses=`: its 200 is a file's bytes, streamed."""
    return {
        200: ResponseSpec(
            data_container=bytes, media_type="application/octet-stream", description=description
        )
    }
