"""Checks of what users type: emails, usernames, passwords (400 in the envelope)."""

from __future__ import annotations

import re

from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import passwords

MAX_EMAIL_LENGTH = 254
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# The addresses taken, as the OpenAPI document shows them too (schemas.Email).
EMAIL_PATTERN = rf"^[A-Za-z0-9._%+'-]+@(?:{_LABEL}\.)+[A-Za-z]{{2,}}$"
_EMAIL = re.compile(EMAIL_PATTERN)
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"  # documented by schemas.Username
_USERNAME = re.compile(USERNAME_PATTERN)


def email(raw: str, field: str = "email") -> str:
    """The address trimmed and lower-cased, or a 400 naming the field."""
    value = raw.strip().lower()
    if not value:
        raise ApiError(400, f"{field} is required")
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise ApiError(400, f"{field} is not a valid email address", "INVALID_EMAIL")
    return value


def username(raw: str) -> str:
    if not _USERNAME.match(raw):
        raise ApiError(
            400,
            "username must be 3 to 32 letters, digits, '.', '_' or '-'",
            "INVALID_USERNAME",
        )
    return raw


def new_password(password: str, confirmation: str | None = None) -> str:
    problem = passwords.weakness(password)
    if problem:
        raise ApiError(400, problem, "WEAK_PASSWORD")
    if confirmation is not None and confirmation != password:
        raise ApiError(400, "The passwords do not match", "PASSWORDS_DO_NOT_MATCH")
    return password
