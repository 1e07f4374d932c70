"""The gateway's OpenAPI document describes what a frontend needs to generate a client:
every write's request body, every answer's type, every guarded route's 401 and 403.

Built offline from the app (the document is what the routes declare)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nodebyte_devstack.config import StackConfig
from nodebyte_gateway.app import build_app
from nodebyte_gateway.edge.openapi_errors import document_error_envelope
from nodebyte_gateway.edge.openapi_links import document_links

WRITES = ("post", "put", "patch")
METHODS = ("get", *WRITES, "delete")


@pytest.fixture(scope="module")
def document(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    config = StackConfig.isolated("postgresql://postgres@127.0.0.1:5432/postgres", "amqp://x")
    for name, value in config.service_env("gateway").items():
        monkeypatch_module.setenv(name, value)
    app = build_app()
    document_error_envelope(app)
    document_links(app)
    return msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def typed(operation: dict[str, Any]) -> bool:
    """A success answer with a schema that says something (not `{}`), or a 204."""
    for status, answer in operation["responses"].items():
        if status == "204":
            return True
        if status.startswith("2"):
            return any(media.get("schema") for media in answer.get("content", {}).values())
    return False


def test_every_write_declares_its_request_body(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if method.lower() in WRITES and "requestBody" not in operation
    ]
    assert missing == []


def test_every_operation_declares_a_typed_answer(document: dict[str, Any]) -> None:
    untyped = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if not typed(operation)
    ]
    assert untyped == []


def test_every_guarded_operation_documents_401_and_403(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if operation.get("security") and not {"401", "403"} <= operation["responses"].keys()
    ]
    assert missing == []
    assert all("429" in operation["responses"] for _, _, operation in operations(document))


def test_errors_are_documented_in_the_one_envelope(document: dict[str, Any]) -> None:
    for _, _, operation in operations(document):
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                assert schema["required"] == ["success", "error", "code"]


def test_answers_are_named_component_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"Node", "Server", "Alert", "NodeCreate", "ServerCreate"} <= schemas.keys()


# Create routes and the routes that take what they made (the stateful tests follow these).
LINKED = {
    "POST /api/templates": {
        "GET /api/templates/{template_id}",
        "DELETE /api/templates/{template_id}",
    },
    "POST /api/alert-rules": {
        "PUT /api/alert-rules/{rule_id}",
        "DELETE /api/alert-rules/{rule_id}",
    },
    "POST /api/nodes": {"GET /api/nodes/{node_id}", "PUT /api/nodes/{node_id}"},
    "POST /api/servers": {"GET /api/servers/{server_id}", "DELETE /api/servers/{server_id}"},
    "POST /api/tasks": {"GET /api/tasks/{item_id}", "PUT /api/tasks/{item_id}"},
    "POST /api/admin/scheduler/jobs": {"GET /api/admin/scheduler/jobs/{item_id}"},
    "POST /api/admin/roles": {
        "PUT /api/admin/roles/{role_id}",
        "DELETE /api/admin/roles/{role_id}",
    },
    "POST /api/admin/api-keys": {"DELETE /api/admin/api-keys/{key_id}"},
    "POST /api/v1/dashboard/account/ssh-keys": {
        "DELETE /api/v1/dashboard/account/ssh-keys/{key_id}"
    },
    "POST /api/admin/database-hosts": {"DELETE /api/admin/database-hosts/{host_id}"},
    "POST /api/v1/email/queue": {"GET /api/v1/email/{email_id}"},
    "POST /api/v1/webhook/dispatch": {"GET /api/v1/webhook/dispatch/{dispatch_id}"},
    "POST /api/admin/users": {"GET /api/v1/auth/users/{user_id}"},
    "POST /api/v1/sync/full": {"GET /api/v1/sync/status/{log_id}"},
    "POST /api/nodes/{node_id}/deployment-token": {"GET /api/deploy/{token}"},
    "POST /api/servers/{server_id}/backups": {
        "DELETE /api/servers/{server_id}/backups/{backup_id}",
        "POST /api/servers/{server_id}/backups/{backup_id}/restore",
    },
}


def links(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(source route, link's target operationId, link) for every link of a success answer."""
    return [
        (f"{method} {path}", link["operationId"], link)
        for method, path, operation in operations(document)
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for link in answer.get("links", {}).values()
    ]


def test_create_routes_link_to_the_routes_that_take_what_they_made(
    document: dict[str, Any],
) -> None:
    by_id = {op["operationId"]: f"{m} {p}" for m, p, op in operations(document)}
    found: dict[str, set[str]] = {}
    for source, target, _ in links(document):
        found.setdefault(source, set()).add(by_id.get(target, f"unknown {target}"))
    missing = {
        source: sorted(targets - found.get(source, set()))
        for source, targets in LINKED.items()
        if targets - found.get(source, set())
    }
    assert not missing, missing


def test_every_link_names_a_real_operation_and_its_path_parameters(
    document: dict[str, Any],
) -> None:
    by_id = {op["operationId"]: (p, op) for _, p, op in operations(document)}
    wrong = []
    for source, target, link in links(document):
        if target not in by_id:
            wrong.append(f"{source} -> unknown operation {target}")
            continue
        _, operation = by_id[target]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        source_path = source.split(" ", 1)[1]
        for name, value in link["parameters"].items():
            from_request = value.removeprefix("$request.path.")
            if name not in names or (
                value.startswith("$request.path.") and f"{{{from_request}}}" not in source_path
            ):
                wrong.append(f"{source} -> {target}: {name}={value}")
            elif not value.startswith(("$response.body#/data/", "$request.path.")):
                wrong.append(f"{source} -> {target}: {name}={value} is no answer field")
    assert not wrong, wrong
    assert len(links(document)) >= 40  # every create route's items, not a few


def test_every_operation_documents_the_edges_400(document: dict[str, Any]) -> None:
    """A query string the edge cannot take (NUL characters) is a 400 on any route."""
    missing = [f"{m} {p}" for m, p, op in operations(document) if "400" not in op["responses"]]
    assert not missing, missing


def test_every_page_number_is_bounded(document: dict[str, Any]) -> None:
    """An unbounded page reaches an owner's OFFSET (GET /api/templates answered 502)."""
    unbounded = [
        f"{m} {p}"
        for m, p, op in operations(document)
        for parameter in op.get("parameters", [])
        if parameter["name"] == "page"
        and parameter["schema"].get("type") == "integer"
        and "maximum" not in parameter["schema"]
    ]
    assert not unbounded, unbounded


def test_optional_fields_keep_their_bounds_on_their_branch(document: dict[str, Any]) -> None:
    """`Annotated[int, Meta(ge=0)] | UnsetType` lost its zero bound, and its other bounds
    sat beside the oneOf: schemathesis sent -1 as valid data (PUT /api/tasks/{id})."""
    schemas = document["components"]["schemas"]
    jitter = schemas["TaskUpdate"]["properties"]["jitterSeconds"]
    assert jitter["oneOf"][0] == {"type": "integer", "minimum": 0, "maximum": 3600}
    cores = schemas["NodeUpdate"]["properties"]["maxCpuCores"]["oneOf"][0]
    assert cores["exclusiveMinimum"] == 0
    assert "maximum" not in schemas["NodeUpdate"]["properties"]["maxCpuCores"]
    variables = schemas["VariablesUpdate"]["properties"]["variables"]
    assert variables["minProperties"] == 1
    assert "pattern" in variables["propertyNames"]


def test_no_bound_is_beyond_what_the_services_take(document: dict[str, Any]) -> None:
    """A path id documented up to 2**63 - 1 is written as a float that rounds up: ids
    past the services' own limit were documented as valid."""
    too_large = [
        f"{m} {p} {parameter['name']}"
        for m, p, op in operations(document)
        for parameter in op.get("parameters", [])
        if parameter["schema"].get("maximum", 0) > 2**53
    ]
    assert not too_large, too_large
