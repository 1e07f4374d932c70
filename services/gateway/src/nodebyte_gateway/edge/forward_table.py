"""Public routes that an owning service answers, declared as one table.

A `Forward` says: this public path and method, guarded by this permission, is
the owner's internal path, takes this body and these query parameters (the
contract's Structs, validated here before the owner sees them) and answers this
envelope type (decoded from the owner's answer, so an answer outside the
contract is a 502 here, not a surprise in a client). `forward_routes` builds the
Litestar handlers from the table: their signatures are the contract, so the
OpenAPI document shows each request body, parameter and answer as it is.

A few owners want more of the edge, each an option of the entry: the owner's own
success status (a device-code poll answers 202 while waiting), a rate-limit class
of the route's own, bad input refused in the owner's words (its error code, the
body decoded strictly as the owner would) and who asked (`audit`, for the owner's
audit trail) added to the body.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, route
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody
from litestar.types import ExceptionHandlersMap

from nodebyte_common.contracts.envelope import Caller, Empty
from nodebyte_common.contracts.query import query_parameter, wire_value
from nodebyte_common.envelope import ApiError, decode_body, error_response
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.edge.openapi_links import CREATES, Creates

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
    # None: a body whose every field may be left out may be left out whole.
    body_optional: bool | None = None
    rate_limit: str | None = None  # the limiter's route class ("default" when None)
    keep_status: bool = False  # the owner's success status is the public one
    # The code bad input is refused with; the body then decoded strictly (no "1" for 1).
    invalid_code: str | None = None
    with_caller: bool = False  # the body carries who asked (`audit`: ip, user agent)
    # A create whose items are not the routes one parameter under it (openapi_links).
    creates: Creates | None = None
    refuses: dict[int, str] | None = None  # its own refusals, for the document (refusals)
    # A path parameter's type when `uuid`/`int`/`str` says too little (a range, an enum, a
    # pattern): checked and documented here, never left to the owner to refuse in its
    # own words (its internal path would reach the caller).
    path_types: dict[str, Any] | None = None

    @property
    def opt(self) -> dict[str, Any] | None:
        limit = {"rate_limit": self.rate_limit} if self.rate_limit else {}
        creates = {CREATES: self.creates} if self.creates else {}
        return {**(self.audit or {}), **limit, **creates} or None

    @property
    def body_type(self) -> type[msgspec.Struct] | None:
        """What the route reads: actions always read one (empty when they take no input)."""
        return self.body or (Empty if self.method in ACTIONS else None)

    @property
    def may_omit_body(self) -> bool:
        if self.body_optional is not None or self.body_type is None:
            return bool(self.body_optional)
        return not any(f.required for f in msgspec.structs.fields(self.body_type))


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
        responses=refusals(spec.refuses) if spec.refuses else None,
        opt=spec.opt,
        exception_handlers=_refusing(spec.invalid_code),
        name=f"{spec.method} {spec.path}",
    )
    return handler(_endpoint(client, spec))


def _refusing(code: str | None) -> ExceptionHandlersMap | None:
    """Litestar's refusals of the input (path, query, body) answered with `code`."""
    if code is None:
        return None

    def invalid(_: Request, exc: ValidationException) -> Response[Any]:
        problems = exc.extra if isinstance(exc.extra, list) else []
        first = problems[0] if problems and isinstance(problems[0], dict) else {}
        message = str(first.get("message") or exc.detail)
        if message == "'data'":  # Litestar's word for a body that is missing
            message = "A JSON body is required"
        elif first.get("key") and first.get("key") != "data":
            message = f"{message} (`{first['key']}`)"
        return error_response(ApiError(400, message, code))

    return {ValidationException: invalid}


def _endpoint(client: ServiceClient, spec: Forward) -> Callable[..., Awaitable[Any]]:
    path_names = [name for name, _ in PATH_PARAMETER.findall(spec.path)]
    query_fields = msgspec.structs.fields(spec.query) if spec.query else ()
    raw_body = spec.invalid_code is not None or spec.with_caller

    async def endpoint(**given: Any) -> Any:
        path = spec.internal.format(**{name: given[name] for name in path_names})
        params = {
            f.encode_name: wire_value(given[f.name])
            for f in query_fields
            if given[f.name] is not None
        }
        body = given.get("data")
        if raw_body and spec.body_type is not None:
            body = await _owner_body(given["request"], spec, spec.body_type)
        status, answer = await client.call_answered(
            spec.answer,
            spec.method,
            path,
            params=params or None,
            json=None if body == EMPTY else body,
        )
        if spec.then:
            answer = spec.then(answer)
        return Response(answer, status_code=status) if spec.keep_status else answer

    parameters = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=FromPath[(spec.path_types or {}).get(name, PATH_TYPES[kind])],
        )
        for name, kind in PATH_PARAMETER.findall(spec.path)
    ]
    if spec.body_type is not None:
        parameters.append(_body_parameter(spec.body_type, spec.may_omit_body))
    parameters += [query_parameter(f) for f in query_fields]
    if raw_body:
        parameters.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY,
                                            annotation=Request))  # fmt: skip
    returned = Response[spec.answer] if spec.keep_status else spec.answer  # type: ignore[name-defined]
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=returned)  # type: ignore[attr-defined]
    endpoint.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returned}
    endpoint.__name__ = endpoint.__qualname__ = _name(spec)
    return endpoint


async def _owner_body(
    request: Request, spec: Forward, body_type: type[msgspec.Struct]
) -> dict[str, Any]:
    """The body as the owner takes it: decoded strictly when the route refuses in the
    owner's words (Litestar's parse, which documents it, turns "1" into 1), with who
    asked when the owner keeps an audit trail."""
    wanted: Any = body_type | None if spec.may_omit_body else body_type
    try:
        decoded = decode_body(await request.body(), wanted)
    except ApiError as exc:
        raise ApiError(400, exc.message, spec.invalid_code) from None
    body: dict[str, Any] = msgspec.to_builtins(decoded) or {}
    if spec.with_caller:
        agent = request.headers.get("user-agent")
        caller = Caller(
            ip=request.client.host if request.client else None,
            user_agent=agent[:512] if agent else None,
        )
        body["audit"] = caller
    return body


def _body_parameter(body: type[msgspec.Struct], optional: bool) -> inspect.Parameter:
    """`data`, which an optional body may leave out whole."""
    if not optional:
        return inspect.Parameter("data", inspect.Parameter.KEYWORD_ONLY, annotation=JSONBody[body])
    return inspect.Parameter(
        "data", inspect.Parameter.KEYWORD_ONLY, annotation=JSONBody[body | None], default=None
    )


def _name(spec: Forward) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{spec.method}_{spec.path}").strip("_").lower()
    return words
