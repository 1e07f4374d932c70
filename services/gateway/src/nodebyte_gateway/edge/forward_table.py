"""Public routes that an owning service answers, declared as one table.

A `Forward` says: this public path and method, guarded by this permission, is
the owner's internal path, takes this body and these query parameters (the
contract's Structs, validated here before the owner sees them) and answers this
envelope type (decoded from the owner's answer, so an answer outside the
contract is a 502 here, not a surprise in a client). `forward_routes` builds the
Litestar handlers from the table: their signatures are the contract, so the
OpenAPI document shows each request body, parameter and answer as it is.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from litestar import route
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from nodebyte_common.contracts.envelope import Empty
from nodebyte_common.contracts.query import query_parameter, wire_value
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.context import GatewayContext

EMPTY = Empty()
PATH_TYPES: dict[str, type] = {"uuid": UUID, "str": str, "int": int}
PATH_PARAMETER = re.compile(r"{(\w+):(\w+)}")
ACTIONS = ("POST", "PUT", "PATCH")  # a body even when they take no input: it must be empty


@dataclass(frozen=True)
class Forward:
    method: str
    path: str  # public, in Litestar's syntax: "/api/nodes/{node_id:uuid}"
    internal: str  # the owner's path; `{name}` for each path parameter
    permission: str
    answer: Any  # the envelope type the owner answers, e.g. Answer[Node]
    summary: str
    body: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None  # each field one query parameter
    status: int = 200
    audit: dict[str, Any] | None = None  # a change's `audit.action(...)`
    # What the gateway adds to the owner's answer (e.g. a URL only it knows).
    then: Callable[[Any], Any] | None = None


def forward_routes(
    ctx: GatewayContext, owner: str, tags: Sequence[str], table: Sequence[Forward]
) -> list[HTTPRouteHandler]:
    client = ctx.client(owner)
    return [_route(ctx, client, list(tags), spec) for spec in table]


def _route(
    ctx: GatewayContext, client: ServiceClient, tags: list[str], spec: Forward
) -> HTTPRouteHandler:
    handler = route(
        spec.path,
        http_method=[spec.method],
        guards=[ctx.require(spec.permission)],
        tags=tags,
        summary=spec.summary,
        status_code=spec.status,
        opt=spec.audit,
        name=f"{spec.method} {spec.path}",
    )
    return handler(_endpoint(client, spec))


def _endpoint(client: ServiceClient, spec: Forward) -> Callable[..., Awaitable[Any]]:
    path_names = [name for name, _ in PATH_PARAMETER.findall(spec.path)]
    query_fields = msgspec.structs.fields(spec.query) if spec.query else ()

    async def endpoint(**given: Any) -> Any:
        path = spec.internal.format(**{name: given[name] for name in path_names})
        params = {
            f.encode_name: wire_value(given[f.name])
            for f in query_fields
            if given[f.name] is not None
        }
        body = given.get("data")
        answer = await client.call_as(
            spec.answer,
            spec.method,
            path,
            params=params or None,
            json=None if body == EMPTY else body,
        )
        return spec.then(answer) if spec.then else answer

    parameters = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=FromPath[PATH_TYPES[kind]]
        )
        for name, kind in PATH_PARAMETER.findall(spec.path)
    ]
    if spec.body is not None or spec.method in ACTIONS:
        parameters.append(_body_parameter(spec.body or Empty))
    parameters += [query_parameter(f) for f in query_fields]
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=spec.answer)  # type: ignore[attr-defined]
    endpoint.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": spec.answer}
    endpoint.__name__ = endpoint.__qualname__ = _name(spec)
    return endpoint


def _body_parameter(body: type[msgspec.Struct]) -> inspect.Parameter:
    """`data`; a body whose every field may be left out may be left out whole."""
    if any(f.required for f in msgspec.structs.fields(body)):
        return inspect.Parameter("data", inspect.Parameter.KEYWORD_ONLY, annotation=JSONBody[body])
    return inspect.Parameter(
        "data", inspect.Parameter.KEYWORD_ONLY, annotation=JSONBody[body | None], default=None
    )


def _name(spec: Forward) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{spec.method}_{spec.path}").strip("_").lower()
    return words
