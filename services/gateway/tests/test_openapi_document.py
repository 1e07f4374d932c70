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

WRITES = ("post", "put", "patch")
METHODS = ("get", *WRITES, "delete")


@pytest.fixture(scope="module")
def document(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    config = StackConfig.isolated("postgresql://postgres@127.0.0.1:5432/postgres", "amqp://x")
    for name, value in config.service_env("gateway").items():
        monkeypatch_module.setenv(name, value)
    app = build_app()
    document_error_envelope(app)
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
