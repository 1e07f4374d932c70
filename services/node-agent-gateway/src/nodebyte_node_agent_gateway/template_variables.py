"""A template's variables: their values for a server, checked against the rules.

Every problem is collected (never only the first), so a 400 names each missing or
invalid variable at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from nodebyte_common.envelope import ApiError
from nodebyte_common.server_templates import TemplateVariable, VariableProblem, VariableRules

INTEGER = re.compile(r"^-?[0-9]+$")
BOOLEANS = frozenset({"true", "false", "1", "0"})


def declared(raw: list[dict[str, object]]) -> list[TemplateVariable]:
    """The variables as stored (jsonb) back into their Struct."""
    return msgspec.convert(raw, list[TemplateVariable])


def rule_problem(value: str, rules: VariableRules | None) -> str | None:
    """Why `value` breaks `rules`, or None when it keeps them."""
    if rules is None:
        return None
    if rules.type == "integer":
        if not INTEGER.match(value):
            return "must be a whole number"
        if rules.min is not None and int(value) < rules.min:
            return f"must be at least {rules.min}"
        if rules.max is not None and int(value) > rules.max:
            return f"must be at most {rules.max}"
    if rules.type == "boolean" and value.lower() not in BOOLEANS:
        return "must be true or false"
    if rules.min_length is not None and len(value) < rules.min_length:
        return f"must be at least {rules.min_length} characters"
    if rules.max_length is not None and len(value) > rules.max_length:
        return f"must be at most {rules.max_length} characters"
    if rules.options is not None and value not in rules.options:
        return f"must be one of: {', '.join(rules.options)}"
    if rules.pattern is not None and not re.fullmatch(rules.pattern, value):
        return f"must match {rules.pattern}"
    return None


def resolve(
    variables: list[TemplateVariable],
    current: Mapping[str, str],
    given: Mapping[str, str],
    *,
    editable_only: bool,
) -> tuple[dict[str, str], list[VariableProblem]]:
    """The values after `given` is applied over `current` (defaults fill the rest)."""
    by_name = {v.name: v for v in variables}
    problems = [
        VariableProblem(name, "is not a variable of this template")
        for name in given
        if name not in by_name
    ]
    if editable_only:
        problems += [
            VariableProblem(name, "is not user-editable")
            for name in given
            if name in by_name and not by_name[name].user_editable
        ]
    values: dict[str, str] = {}
    for variable in variables:
        value = given.get(variable.name, current.get(variable.name, variable.default))
        if value is None or value == "":
            if variable.required:
                problems.append(VariableProblem(variable.name, "is required"))
            continue
        problem = rule_problem(value, variable.rules)
        if problem is not None:
            problems.append(VariableProblem(variable.name, problem))
        values[variable.name] = value
    return values, problems


def refuse(problems: list[VariableProblem]) -> ApiError:
    """The 400 naming each problem: "Missing required template variables: A, B; …"."""
    missing = [p.name for p in problems if p.problem == "is required"]
    invalid = [f"{p.name} {p.problem}" for p in problems if p.problem != "is required"]
    parts = []
    if missing:
        parts.append(f"Missing required template variables: {', '.join(missing)}")
    if invalid:
        parts.append(f"Invalid template variables: {'; '.join(invalid)}")
    return ApiError(
        400, ". ".join(parts), "INVALID_VARIABLES", {"variables": msgspec.to_builtins(problems)}
    )


def check_rules(variables: list[TemplateVariable]) -> list[VariableProblem]:
    """A template's own mistakes: bad patterns, duplicate names, defaults breaking rules."""
    problems, seen = [], set()
    for variable in variables:
        if variable.name in seen:
            problems.append(VariableProblem(variable.name, "is declared twice"))
        seen.add(variable.name)
        rules = variable.rules
        if rules is not None and rules.pattern is not None:
            try:
                re.compile(rules.pattern)
            except re.error as exc:
                problems.append(VariableProblem(variable.name, f"has a bad pattern: {exc}"))
                continue
        if variable.default not in (None, ""):
            problem = rule_problem(variable.default, rules)
            if problem is not None:
                problems.append(VariableProblem(variable.name, f"default {problem}"))
    return problems
