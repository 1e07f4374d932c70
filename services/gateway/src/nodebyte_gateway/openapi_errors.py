"""Make the OpenAPI document describe our error envelope, not Litestar's default.

Litestar documents a validation failure as `{status_code, detail, extra}`; the
gateway answers every error in the one envelope. At start-up the generated
document's error responses are rewritten to the envelope's schema, so clients
(and the schemathesis tests) see what is really sent.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Schema

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


def document_error_envelope(app: Litestar) -> None:
    schema = app.openapi_schema  # generated once and cached; served as it is after this
    for path_item in (schema.paths or {}).values():
        for operation in (
            path_item.get,
            path_item.post,
            path_item.put,
            path_item.patch,
            path_item.delete,
        ):
            if operation is None or not operation.responses:
                continue
            for status, response in operation.responses.items():
                if status.startswith(("4", "5")) and isinstance(response, OpenAPIResponse):
                    response.content = {"application/json": OpenAPIMediaType(schema=ENVELOPE)}
