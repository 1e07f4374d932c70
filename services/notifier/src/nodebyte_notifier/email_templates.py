"""Email templates: HTML (autoescaped) and plain text, from `templates/`.

Which templates exist and what data each needs is the `email.requested`
contract (`nodebyte_common.email_catalogue`); this module renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import msgspec

from nodebyte_common import email_catalogue

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
    try:
        email = email_catalogue.decode(template, data)
    except email_catalogue.EmailDataError as exc:
        raise TemplateDataError(str(exc)) from None
    subject = (subject or "").strip() or email.SUBJECT
    values = msgspec.to_builtins(email)  # every field, None where not given
    values.update(subject=subject, year=datetime.now(UTC).year)
    html = _environment.get_template(f"{template}.html").render(values)
    text = _environment.get_template(f"{template}.txt").render(values)
    return RenderedEmail(subject=subject, html=html, text=text)


def environment() -> jinja2.Environment:
    """The templates' environment (their sources and what they read)."""
    return _environment


def template_names() -> tuple[str, ...]:
    return tuple(email_catalogue.TEMPLATES)
