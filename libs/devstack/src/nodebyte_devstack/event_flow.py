"""What each service's code builds and reads of the catalogued events, read from its source.

Producers: every call of an event Struct (`events.SyncFailed(...)`) and every call that
hands a dict literal to one (`_convert({...}, events.SyncRequested)`) is a site; the
keywords (or keys) it passes are the fields it sets. Consumers: every function with a
parameter annotated with event Structs (`e: events.AlertRaised`, unions too) reads the
fields it takes of that parameter (`e.node_id`), or of the attribute an `__init__` keeps
it in (`self.request.kind`). Handlers, embed builders and email builders are all such
functions, so what a consumer reads is derived from its code, never restated by hand.
Emails the same way: every `email_catalogue.X(...)` is a site of X's template (a
`**self._base(...)` spread counts the keys the dict literal `_base` returns).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from nodebyte_common import email_catalogue, events

CLASSES: dict[str, type[events.Event]] = {cls.__name__: cls for cls in events.CATALOGUE.values()}
# The emails' data Structs, by the name of their template.
EMAILS: dict[str, str] = {cls.__name__: name for name, cls in email_catalogue.TEMPLATES.items()}
EVERY_FIELD = "*"  # a site that spreads a mapping into the Struct (`**kwargs`)


@dataclass(frozen=True)
class Site:
    """One place a service builds an event."""

    event_type: str
    fields: frozenset[str]
    where: str  # path:line


@dataclass
class ServiceFlow:
    service: str
    sites: list[Site] = field(default_factory=list)
    emails: list[Site] = field(default_factory=list)  # email data built (template = type)
    # event type -> field -> where it is read (path:line, every place)
    reads: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    # reads of names an event does not have (a renamed field): "type.name" -> where
    unknown_reads: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def built(self, event_type: str) -> list[Site]:
        return [s for s in self.sites if s.event_type == event_type]

    def fields_set(self, event_type: str) -> set[str]:
        return set().union(*(s.fields for s in self.built(event_type)))


def defaulted_fields(event_type: str) -> set[str]:
    """The fields of a type a producer may leave out (they have a default)."""
    cls = events.CATALOGUE[event_type]
    return {f.name for f in msgspec.structs.fields(cls) if not f.required}


def _event_class(node: ast.expr) -> str | None:
    """`events.X` naming a catalogued Struct -> its type."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "events"
        and node.attr in CLASSES
    ):
        return CLASSES[node.attr].TYPE
    return None


def _email_class(node: ast.expr) -> str | None:
    """`email_catalogue.X` naming an email's data Struct -> its template."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "email_catalogue"
        and node.attr in EMAILS
    ):
        return EMAILS[node.attr]
    return None


def _returned_keys(tree: ast.AST) -> dict[str, set[str]]:
    """Functions of a module that return one dict literal -> its keys (for `**f(...)`)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            returns = [r.value for r in ast.walk(node) if isinstance(r, ast.Return)]
            if len(returns) == 1 and isinstance(returns[0], ast.Dict):
                keys = [k.value if isinstance(k, ast.Constant) else None for k in returns[0].keys]
                if all(isinstance(k, str) for k in keys):
                    found[node.name] = set(keys)
    return found


def _spread_keys(value: ast.expr, returned: dict[str, set[str]]) -> set[str] | None:
    """The keys `**value` passes when `value` calls a function of the module returning a
    dict literal (`**self._base(user)`); None when the code does not say."""
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        return returned.get(name or "")
    return None


def _annotated_types(annotation: ast.expr | None) -> list[str]:
    """The event types an annotation names (`events.A`, `events.A | events.B`)."""
    if annotation is None:
        return []
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _annotated_types(annotation.left) + _annotated_types(annotation.right)
    found = _event_class(annotation)
    return [found] if found else []


def _keywords(call: ast.Call, returned: dict[str, set[str]]) -> frozenset[str]:
    names: set[str] = set()
    for keyword in call.keywords:
        spread = _spread_keys(keyword.value, returned) if keyword.arg is None else None
        if keyword.arg is None and spread is None:
            return frozenset({EVERY_FIELD})
        names |= spread if keyword.arg is None else {keyword.arg}  # type: ignore[arg-type]
    return frozenset(names)


def email_sites(tree: ast.AST, where: str) -> Iterator[Site]:
    """Where a module builds an email's data (`email_catalogue.Welcome(...)`)."""
    returned = _returned_keys(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (template := _email_class(node.func)):
            yield Site(template, _keywords(node, returned), f"{where}:{node.lineno}")


def _sites(tree: ast.AST, where: str) -> Iterator[Site]:
    returned = _returned_keys(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        built = _event_class(node.func)
        if built is not None:
            yield Site(built, _keywords(node, returned), f"{where}:{node.lineno}")
            continue
        # A dict literal converted into a Struct: `convert({...}, events.X)`.
        targets = [t for t in (_event_class(a) for a in node.args) if t]
        literals = [a for a in node.args if isinstance(a, ast.Dict)]
        if len(targets) == 1 and literals:
            keys = {
                k.value if isinstance(k, ast.Constant) else None for d in literals for k in d.keys
            }
            # `{**payload, ...}` may set any field: what the mapping holds is not in the code.
            spread = None in keys
            names = {k for k in keys if isinstance(k, str)}
            fields = frozenset({EVERY_FIELD} if spread else names)
            yield Site(targets[0], fields, f"{where}:{node.lineno}")


def _functions(tree: ast.AST) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Every function with the name of its class ('' when it is in none)."""
    methods: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods.update({item: node.name for item in node.body})
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, methods.get(node, "")


def _reads(tree: ast.AST, where: str, flow: ServiceFlow) -> None:
    kept: dict[tuple[str, str], list[str]] = {}  # (class, self attribute) -> event types
    functions = list(_functions(tree))
    for function, owner in functions:
        params = {
            a.arg: types
            for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)
            if (types := _annotated_types(a.annotation))
        }
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                _note(flow, params.get(node.value.id, []), node.attr, where, node.lineno)
            if function.name == "__init__" and isinstance(node, ast.Assign):
                _keep(node, params, owner, kept)
    for function, owner in functions:
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self"
            ):
                types = kept.get((owner, node.value.attr), [])
                _note(flow, types, node.attr, where, node.lineno)


def _keep(
    node: ast.Assign, params: dict[str, list[str]], owner: str, kept: dict[tuple[str, str], list]
) -> None:
    """`self.request = request` in an `__init__`: reads of `self.request.x` count."""
    if isinstance(node.value, ast.Name) and node.value.id in params:
        for target in node.targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                kept[(owner, target.attr)] = params[node.value.id]


def _note(flow: ServiceFlow, types: list[str], name: str, where: str, line: int) -> None:
    """A read of `name` from an event of one of `types` (a union reads it from those that
    have it); a name none of them has is noted as unknown."""
    known = False
    for event_type in types:
        cls = events.CATALOGUE[event_type]
        if name in {f.name for f in msgspec.structs.fields(cls)}:
            flow.reads[event_type][name].append(f"{where}:{line}")
        known = known or hasattr(cls, name)  # a field, TYPE, VERSION, a method
    if types and not known:
        flow.unknown_reads[f"{'|'.join(types)}.{name}"].append(f"{where}:{line}")


def service_flow(root: Path, service: str) -> ServiceFlow:
    """Scan `services/<service>/src` of the checkout at `root`."""
    flow = ServiceFlow(service)
    for path in sorted((root / "services" / service / "src").rglob("*.py")):
        where = str(path.relative_to(root))
        tree = ast.parse(path.read_text(), filename=where)
        flow.sites.extend(_sites(tree, where))
        flow.emails.extend(email_sites(tree, where))
        _reads(tree, where, flow)
    return flow
