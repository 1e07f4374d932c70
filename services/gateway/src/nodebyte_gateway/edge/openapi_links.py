"""OpenAPI `links` from each create route to the routes that take what it made.

A link tells a client (and schemathesis' stateful phase) that the id in a create
route's answer is the path parameter of its read, update and delete routes. They are
derived from the routes, never listed beside them: a POST whose answer carries
`data.id` links to the routes of its path plus one parameter
(`POST /api/templates` -> `GET|PUT|DELETE /api/templates/{template_id}`). A create
route whose items live elsewhere (or also deeper), or whose answer names the id
otherwise, says so in its own `opt` (`Creates`), where the route is declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import Link, OpenAPIResponse, Operation, Reference, Schema

# A route's opt: the `Creates` that says where its items are when they are not under it.
CREATES = "creates"
METHODS = ("get", "put", "patch", "post", "delete")
PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Creates:
    """A create route's items: the paths of the routes that take what it made (the new
    id is their last parameter; `prefix/{*}` stands for `prefix/{any name}`), and where
    the new id is in its answer."""

    items: tuple[str, ...]
    id: str = "/data/id"  # a JSON pointer into the answer's body


def document_links(app: Litestar) -> None:
    schema = app.openapi_schema
    paths = schema.paths or {}
    components = (schema.components.schemas or {}) if schema.components else {}
    declared = _declared(app)
    for path, item in paths.items():
        operation = item.post
        if operation is None or not operation.responses:
            continue
        answer = _success(operation)
        if answer is None:
            continue
        creates = declared.get(path) or _derived(path, answer, components)
        if creates is None:
            continue
        links = dict(_links(path, creates, paths))
        if links:
            answer.links = {**(answer.links or {}), **links}


def _declared(app: Litestar) -> dict[str, Creates]:
    """The document path of each POST route that declares its `Creates` in opt."""
    found: dict[str, Creates] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            creates = (handler.opt or {}).get(CREATES)
            if creates is not None and "POST" in handler.http_methods:
                found[re.sub(r"{(\w+):\w+}", r"{\1}", route.path)] = creates
    return found


def _success(operation: Operation) -> OpenAPIResponse | None:
    for status, answer in sorted((operation.responses or {}).items()):
        if status.startswith("2") and isinstance(answer, OpenAPIResponse):
            return answer
    return None


def _derived(path: str, answer: OpenAPIResponse, components: dict[str, Any]) -> Creates | None:
    """A POST answering `data.id` makes the items of the routes one parameter under it."""
    if not _answers_data_id(answer, components):
        return None
    return Creates(items=(f"{path}/{{*}}",))


def _answers_data_id(answer: OpenAPIResponse, components: dict[str, Any]) -> bool:
    media = (answer.content or {}).get("application/json")
    body = _resolve(media.schema if media else None, components)
    data = _resolve((body.properties or {}).get("data") if body else None, components)
    return data is not None and "id" in (data.properties or {})


def _resolve(schema: Any, components: dict[str, Any]) -> Schema | None:
    while isinstance(schema, Reference):
        schema = components.get(schema.ref.rsplit("/", 1)[-1])
    return schema if isinstance(schema, Schema) else None


def _links(source: str, creates: Creates, paths: dict[str, Any]) -> Iterator[tuple[str, Link]]:
    """A link to each operation at one of the items' paths, its new-id parameter from
    the answer, the source's own path parameters (a server's id) passed on."""
    for items in creates.items:
        for path, item in paths.items():
            new_id = _new_id(path, items)
            if new_id is None:
                continue
            for method in METHODS:
                operation: Operation | None = getattr(item, method)
                if operation is None or (path == source and method == "post"):
                    continue
                yield _name(method, path), _link(source, path, operation, new_id, creates)


def _new_id(path: str, items: str) -> str | None:
    """The parameter that takes the new id when `path` is the items' path: its last one,
    or, for `prefix/{*}`, the one of `prefix/{any}`."""
    prefix, _, last = items.rpartition("/")
    if last == "{*}":
        parameter = PARAMETER.fullmatch(path.removeprefix(prefix + "/"))
        return parameter.group(1) if parameter and path.startswith(prefix + "/") else None
    names = PARAMETER.findall(path)
    return names[-1] if path == items and names else None


def _link(source: str, target: str, operation: Operation, new_id: str, creates: Creates) -> Link:
    passed_on = set(PARAMETER.findall(source))
    parameters = {new_id: f"$response.body#{creates.id}"}
    for name in PARAMETER.findall(target):
        if name != new_id and name in passed_on:
            parameters[name] = f"$request.path.{name}"
    return Link(
        operation_id=operation.operation_id,
        parameters=parameters,
        description=f"The `{new_id}` of what this made",
    )


def _name(method: str, path: str) -> str:
    """A link's name (a component key: letters, digits, `._-`), from the target route."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{method.upper()} {path}").strip("_")
