"""Email templates: HTML (autoescaped) and plain text, from `templates/`.

Which templates exist and what data each needs is the `email.requested`
contract (`events.EMAIL_TEMPLATES`); this module renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from nodebyte_common.events import EMAIL_TEMPLATES, email_data_problems

DEFAULT_SUBJECTS = {
    "welcome": "Welcome to NodeByte",
    "verify-email": "Verify your email address",
    "password-reset": "Reset your NodeByte password",
    "email-change": "Confirm your new email address",
    "sync-report": "NodeByte sync report",
    "alert": "NodeByte alert",
}
# Data a template uses when given, absent otherwise.
OPTIONAL_DATA = {
    "welcome": ("dashboardUrl",),
    "password-reset": ("expiresInMinutes",),
    "sync-report": ("itemsSynced", "itemsFailed", "error"),
    "alert": ("url",),
}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,  # a template naming data it was not given fails loudly
    keep_trailing_newline=True,
)


class TemplateDataError(ValueError):
    """The template is unknown or its data is incomplete."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def render(template: str, data: dict[str, Any], subject: str | None = None) -> RenderedEmail:
    problems = email_data_problems(template, data)
    if problems:
        raise TemplateDataError("; ".join(problems))
    subject = (subject or "").strip() or DEFAULT_SUBJECTS[template]
    values = dict.fromkeys(OPTIONAL_DATA.get(template, ()))
    values.update(data)
    values.update(subject=subject, year=datetime.now(UTC).year)
    html = _environment.get_template(f"{template}.html").render(values)
    text = _environment.get_template(f"{template}.txt").render(values)
    return RenderedEmail(subject=subject, html=html, text=text)


def template_names() -> tuple[str, ...]:
    return tuple(EMAIL_TEMPLATES)
