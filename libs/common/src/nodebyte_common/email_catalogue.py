"""The emails the system sends: one Struct per template, declaring the data it renders.

This is the `email.requested` contract. Producers (the gateway's account flows, the
notifier's own reports) build these Structs; the event carries the template's name
and its data as the Struct's JSON (camelCase keys), with the fields named in
`SENSITIVE` (single-use links) sealed in `sealed_data`. The notifier decodes the data
back into the same Struct before it renders, so a key one side writes and the other
does not read cannot slip through: both import this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

Text = Annotated[str, msgspec.Meta(min_length=1)]
# Links in emails are http(s): never `javascript:` or `data:` (escaping cannot stop those).
WebUrl = Annotated[str, msgspec.Meta(pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")]


class EmailData(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    TEMPLATE: ClassVar[str]
    SUBJECT: ClassVar[str]  # the subject when the request names none
    SENSITIVE: ClassVar[tuple[str, ...]] = ()  # wire names of the fields that travel sealed


class Welcome(EmailData):
    TEMPLATE: ClassVar[str] = "welcome"
    SUBJECT: ClassVar[str] = "Welcome to NodeByte"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("verifyUrl",)
    name: Text
    email: str | None = None
    dashboard_url: WebUrl | None = None
    verify_url: WebUrl | None = None  # the README's queue example sends one


class VerifyEmail(EmailData):
    TEMPLATE: ClassVar[str] = "verify-email"
    SUBJECT: ClassVar[str] = "Verify your email address"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("verifyUrl",)
    name: Text
    verify_url: WebUrl
    email: str | None = None
    expires_at: str | None = None


class EmailChange(EmailData):
    TEMPLATE: ClassVar[str] = "email-change"
    SUBJECT: ClassVar[str] = "Confirm your new email address"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("verifyUrl",)
    name: Text
    new_email: Text
    verify_url: WebUrl
    previous_email: str | None = None
    expires_at: str | None = None


class PasswordReset(EmailData):
    TEMPLATE: ClassVar[str] = "password-reset"
    SUBJECT: ClassVar[str] = "Reset your NodeByte password"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("resetUrl",)
    name: Text
    reset_url: WebUrl
    email: str | None = None
    expires_at: str | None = None
    expires_in_minutes: int | None = None


class MagicLink(EmailData):
    TEMPLATE: ClassVar[str] = "magic-link"
    SUBJECT: ClassVar[str] = "Your NodeByte sign-in link"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("loginUrl",)
    name: Text
    login_url: WebUrl
    email: str | None = None
    expires_at: str | None = None


class AccountUnlock(EmailData):
    """Sent when failed sign-ins lock an account: its link ends the lock."""

    TEMPLATE: ClassVar[str] = "account-unlock"
    SUBJECT: ClassVar[str] = "Your NodeByte account was locked"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("unlockUrl",)
    name: Text
    unlock_url: WebUrl
    locked_until: Text
    email: str | None = None
    expires_at: str | None = None


class SyncReport(EmailData):
    TEMPLATE: ClassVar[str] = "sync-report"
    SUBJECT: ClassVar[str] = "NodeByte sync report"
    sync_type: Text
    status: Text
    duration: Text
    items_synced: int | None = None
    items_failed: int | None = None
    error: str | None = None


class Alert(EmailData):
    TEMPLATE: ClassVar[str] = "alert"
    SUBJECT: ClassVar[str] = "NodeByte alert"
    title: Text
    message: Text
    severity: Text
    url: WebUrl | None = None


TEMPLATES: dict[str, type[EmailData]] = {
    kind.TEMPLATE: kind
    for kind in (
        Welcome,
        VerifyEmail,
        EmailChange,
        PasswordReset,
        MagicLink,
        AccountUnlock,
        SyncReport,
        Alert,
    )
}


def time_text(value: datetime) -> str:
    """A time for a text field (`expiresAt`, `lockedUntil`) as the JSON fields beside it
    write one: ISO 8601, UTC with `Z` (msgspec's form, so no copy of it here)."""
    return str(msgspec.to_builtins(value))


class EmailDataError(ValueError):
    """The template is unknown or its data cannot fill it."""


def _is_web_url(value: str) -> bool:
    return value.lower().startswith(("https://", "http://"))


def required_keys(kind: type[EmailData]) -> tuple[str, ...]:
    """The wire names of the data a template cannot do without."""
    return tuple(f.encode_name for f in msgspec.structs.fields(kind) if f.required)


def wire_data(email: EmailData) -> dict[str, Any]:
    """The data as `email.requested` carries it (sealed fields still in)."""
    return {k: v for k, v in msgspec.to_builtins(email).items() if v is not None}


def data_problems(template: str, data: dict[str, Any]) -> list[str]:
    """Why `data` cannot fill `template` (empty when it can)."""
    kind = TEMPLATES.get(template)
    if kind is None:
        return [f"unknown template {template!r}; known: {', '.join(sorted(TEMPLATES))}"]
    problems = [
        f"data.{key} is required" for key in required_keys(kind) if data.get(key) in (None, "")
    ]
    for key, value in data.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            problems.append(f"data.{key} must be a string, number or boolean")
        elif (key == "url" or key.endswith("Url")) and value and not _is_web_url(str(value)):
            problems.append(f"data.{key} must be an http(s) URL")
    if problems:
        return problems
    try:
        msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        return [f"data: {exc}".replace("`$.", "`data.")]
    return []


def decode(template: str, data: dict[str, Any]) -> EmailData:
    """The Struct of `template` filled from `data`, or EmailDataError saying why not."""
    problems = data_problems(template, data)
    if problems:
        raise EmailDataError("; ".join(problems))
    return msgspec.convert(data, TEMPLATES[template])
