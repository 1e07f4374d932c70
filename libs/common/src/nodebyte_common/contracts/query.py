"""A query Struct as a route's query parameters, on both sides of a seam.

Each field of a query Struct is one query parameter (its wire name the field's
encode name, its limits the field's msgspec.Meta). The gateway forwards with
the Struct (see the gateway's forward_table) and the owner's route takes it
whole with `takes_query`, so neither restates a parameter the other declares.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec
from litestar.params import QueryParameter

LIMITS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")
Q = TypeVar("Q", bound=msgspec.Struct)
UNIONS = (Union, types.UnionType)


def query_parameter(field: msgspec.structs.FieldInfo) -> inspect.Parameter:
    """One field as a keyword parameter Litestar reads from the query string."""
    default = inspect.Parameter.empty if field.required else field.default
    return inspect.Parameter(
        field.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[
            field.type, QueryParameter(name=field.encode_name, **limits(field.type))
        ],
        default=default,
    )


def limits(annotation: Any) -> dict[str, Any]:
    """The contract's msgspec.Meta limits (of an optional value's type too), as Litestar's."""
    found: dict[str, Any] = {}
    for arg in get_args(annotation) if get_origin(annotation) in UNIONS else ():
        found |= limits(arg)
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, msgspec.Meta):
            for name in LIMITS:
                if getattr(meta, name, None) is not None:
                    found[name] = getattr(meta, name)
    return found


def wire_params(query: msgspec.Struct) -> dict[str, Any]:
    """A query Struct as the parameters to send: None left out, booleans as words."""
    return {
        f.encode_name: wire_value(getattr(query, f.name))
        for f in msgspec.structs.fields(query)
        if getattr(query, f.name) is not None
    }


def wire_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def takes_query(
    struct: type[Q],
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Give a handler its query as one `query: <struct>` argument.

    The handler Litestar sees takes the Struct's fields as query parameters
    (beside the handler's other parameters) and passes them on as the Struct.
    """
    fields = msgspec.structs.fields(struct)

    def wrap(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        signature = inspect.signature(handler, eval_str=True)
        others = [p for name, p in signature.parameters.items() if name != "query"]

        async def endpoint(**given: Any) -> Any:
            query = struct(**{f.name: given.pop(f.name) for f in fields})
            return await handler(query=query, **given)

        parameters = others + [query_parameter(f) for f in fields]
        endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        endpoint.__annotations__ = {p.name: p.annotation for p in parameters} | {
            "return": signature.return_annotation
        }
        endpoint.__name__ = endpoint.__qualname__ = handler.__name__
        endpoint.__module__ = handler.__module__
        return endpoint

    return wrap
