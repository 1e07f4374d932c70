"""What a settings Struct documents about each variable: name, default and comment.

The comment lines right above a field and the comment beside it are its
documentation, so the settings class stays the only place a variable is declared
and described; `.env.example` is written from here (`nodebyte_devstack.env_example`).
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass

import msgspec

_LINT_MARKER = re.compile(r"\s*noqa:.*$")


@dataclass(frozen=True)
class Variable:
    name: str  # the environment variable
    default: str  # as it would be written in an env file; empty when none
    doc: str
    required: bool


def variables(cls: type[msgspec.Struct]) -> list[Variable]:
    """Every variable `cls` reads, in declaration order, with its documentation."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, msgspec.Struct):
            docs.update(_field_comments(klass))
    return [
        Variable(
            name=f.encode_name.upper(),
            default=_written(f.default),
            doc=docs.get(f.name, ""),
            required=f.required,
        )
        for f in msgspec.structs.fields(cls)
    ]


def _written(default: object) -> str:
    if default is msgspec.NODEFAULT or default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _field_comments(klass: type) -> dict[str, str]:
    """Field name → the comments above it and beside it, in `klass`'s own body."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found = {}
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = _doc_at(node.lineno, comments, lines)
    return {name: doc for name, doc in found.items() if doc}


def _doc_at(line: int, comments: dict[int, str], lines: list[str]) -> str:
    above = []
    previous = line - 1
    while previous in comments and lines[previous - 1].strip().startswith("#"):
        above.insert(0, comments[previous])
        previous -= 1
    beside = [comments[line]] if line in comments else []
    text = " ".join(above + beside)
    return _LINT_MARKER.sub(" ", text).strip()
