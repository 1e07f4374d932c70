"""What a request may carry: the one place every service decodes its callers' input.

Strings that PostgreSQL cannot store (a NUL character), bytes that are not
UTF-8 and JSON nested deeper than any of our bodies are refused here, as
`BadInput`, before they reach a handler, a query or an owning service. The
envelope turns `BadInput` into a 400 (`decode_body`); `webapp` checks every
request's path, query string and JSON body with `request_problem` at the edge.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

import msgspec

T = TypeVar("T")

MAX_JSON_DEPTH = 64  # far deeper than any body we accept; msgspec itself fails near 1000
_NUL = "\x00"


class BadInput(ValueError):
    """Input that no route accepts: the message says why, for a 400."""


def decode_json(raw: bytes, type_: type[T] = Any) -> T:  # type: ignore[assignment]
    """`raw` decoded strictly as `type_`: BadInput for anything we refuse."""
    try:
        value = _typed(raw, type_)
    except msgspec.ValidationError as exc:
        raise BadInput(f"Invalid request body: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise BadInput("The request body is not valid JSON") from None
    except RecursionError:
        raise BadInput(_too_deep()) from None
    problem = value_problem(value if type_ is Any else msgspec.to_builtins(value))
    if problem:
        raise BadInput(problem)
    return value


def _typed(raw: bytes, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError:
        if type_ is Any:  # type: ignore[comparison-overlap]
            raise
        # JSON has one kind of number: `2.0` is the integer 2 (JSON Schema says so, and so
        # our documents), which msgspec's strict decoding refuses where an `int` is due.
        # Whole floats are taken as integers, then the value is checked strictly again.
        whole, changed = _whole_numbers(msgspec.json.decode(raw))
        if not changed:
            raise
        return msgspec.convert(whole, type_)


def _whole_numbers(value: Any) -> tuple[Any, bool]:
    """`value` with each float that is a whole number as an int, and whether any was."""
    if isinstance(value, float) and value.is_integer():
        return int(value), True
    if isinstance(value, list):
        items = [_whole_numbers(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, dict):
        pairs = {key: _whole_numbers(item) for key, item in value.items()}
        return {key: item for key, (item, _) in pairs.items()}, any(
            changed for _, changed in pairs.values()
        )
    return value, False


def value_problem(value: Any) -> str | None:
    """Why a decoded JSON value is refused: a NUL in a string or key, or nesting too deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                return "Text must not contain NUL characters"
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return _too_deep()
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def query_problem(raw: bytes) -> str | None:
    """Why a raw query string is refused: an (escaped) NUL, or bytes that are not UTF-8."""
    if b"%" not in raw and raw.isascii():
        return None if b"\x00" not in raw else "The query string must not contain NUL characters"
    decoded = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in decoded:
        return "The query string must not contain NUL characters"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "The query string is not valid UTF-8"
    return None


def path_problem(path: str, raw_path: bytes | None) -> str | None:
    """Why a request path is refused: a NUL, or escaped bytes that are not UTF-8."""
    if _NUL in path:
        return "The path must not contain NUL characters"
    if raw_path and (b"%" in raw_path or not raw_path.isascii()):
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return "The path is not valid UTF-8"
    return None


def json_body_problem(raw: bytes, type_: Any = Any) -> str | None:
    """Why a JSON body is refused, as `type_` (strictly: `"1"` is no number); None for an
    empty body (the route decides on that)."""
    if not raw.strip():
        return None
    try:
        decode_json(raw, type_)
    except BadInput as exc:
        return str(exc)
    return None


def _too_deep() -> str:
    return f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
