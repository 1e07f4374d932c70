"""The subset of Laravel validation rules that egg variables use, with Laravel 10 messages."""

import re
from collections.abc import Callable

Failure = tuple[str, str, str]  # (field, rule, message)
_TRUTHY = (True, False, 0, 1, "0", "1", "true", "false")
_TYPE_RULES = frozenset({"string", "integer", "int", "numeric", "boolean"})
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def request_input(value: object) -> object:
    """A JSON value after Laravel's TrimStrings and ConvertEmptyStringsToNull middleware."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def stored_string(value: object) -> str:
    """What PHP writes into a string column for a request value (null becomes empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def split_rules(rules: str) -> list[str]:
    """Split on `|` like Laravel, except that a regex rule keeps any `|` it contains."""
    parts: list[str] = []
    for index, part in enumerate(rules.split("|")):
        if part.startswith(("regex:", "not_regex:")):
            parts.append("|".join(rules.split("|")[index:]))
            break
        if part:
            parts.append(part)
    return parts


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()) is not None


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _php_regex(rule_argument: str) -> re.Pattern[str]:
    """Turn `/pattern/flags` into a Python pattern; PHP and Python agree on simple syntax."""
    delimiter = rule_argument[0]
    body, _, flags = rule_argument[1:].rpartition(delimiter)
    return re.compile(body, re.IGNORECASE if "i" in flags else 0)


def _size(value: object, numeric: bool) -> float:
    if numeric and _is_number(value):
        return float(str(value))
    return len(str(value))


def _check_rule(name: str, arg: str, value: object, numeric: bool) -> str | None:
    """The tail of Laravel's message ("The value field <tail>") for a failure, else None."""
    unit = "" if numeric else " characters"
    checks: dict[str, Callable[[], str | None]] = {
        "string": lambda: None if isinstance(value, str) else "must be a string.",
        "integer": lambda: None if _is_int(value) else "must be an integer.",
        "int": lambda: None if _is_int(value) else "must be an integer.",
        "numeric": lambda: None if _is_number(value) else "must be a number.",
        "boolean": lambda: None if value in _TRUTHY else "must be true or false.",
        "max": lambda: (
            None
            if _size(value, numeric) <= float(arg)
            else f"must not be greater than {arg}{unit}."
        ),
        "min": lambda: (
            None if _size(value, numeric) >= float(arg) else f"must be at least {arg}{unit}."
        ),
        "between": lambda: _between(value, arg, numeric, unit),
        "regex": lambda: None if _php_regex(arg).search(str(value)) else "format is invalid.",
        "alpha_num": lambda: (
            None
            if re.fullmatch(r"[^\W_]+", str(value))
            else "must only contain letters and numbers."
        ),
        "alpha_dash": lambda: (
            None
            if re.fullmatch(r"[\w-]+", str(value))
            else "must only contain letters, numbers, dashes, and underscores."
        ),
        "url": lambda: None if _URL.match(str(value)) else "must be a valid URL.",
    }
    check = checks.get(name)
    return None if check is None else check()


def _message(label: str, name: str, arg: str, value: object, numeric: bool) -> str | None:
    if name == "in":
        return None if str(value) in arg.split(",") else f"The selected {label} is invalid."
    tail = _check_rule(name, arg, value, numeric)
    return None if tail is None else f"The {label} field {tail}"


def _between(value: object, arg: str, numeric: bool, unit: str) -> str | None:
    low, high = (float(x) for x in arg.split(","))
    low_text, high_text = arg.split(",")
    size = _size(value, numeric)
    return None if low <= size <= high else f"must be between {low_text} and {high_text}{unit}."


def validate(field: str, value: object, rules: str, label: str | None = None) -> list[Failure]:
    """Failures for one field. Empty strings count as null (ConvertEmptyStringsToNull).

    `label` is the attribute name in messages; Laravel defaults it to the field name
    with underscores as spaces.
    """
    label = label or field.replace("_", " ")
    if isinstance(value, str) and value.strip() == "":
        value = None
    parsed = [(r.partition(":")[0], r.partition(":")[2]) for r in split_rules(rules)]
    names = {name for name, _ in parsed}
    if value is None and "required" in names:
        # A failed implicit rule stops validation of the field.
        return [(field, "required", f"The {label} field is required.")]
    if value is None and "nullable" in names:
        return []
    if value is None:
        # Present but null: only the type rules can still fail.
        parsed = [(n, a) for n, a in parsed if n in _TYPE_RULES]
    numeric = bool(names & {"integer", "int", "numeric"})
    failures: list[Failure] = []
    for name, arg in parsed:
        message = _message(label, name, arg, value, numeric)
        if message is not None:
            failures.append((field, name, message))
    return failures


def validate_fields(body: dict, rules: dict[str, str]) -> list[Failure]:
    """Validate a request body; optional fields that are absent are not checked at all."""
    failures: list[Failure] = []
    for field, field_rules in rules.items():
        names = {r.partition(":")[0] for r in split_rules(field_rules)}
        if field not in body and ("sometimes" in names or "required" not in names):
            continue
        failures.extend(validate(field, body.get(field), field_rules))
    return failures
