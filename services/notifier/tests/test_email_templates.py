"""Every template renders HTML (escaped) and text; bad data is refused."""

from __future__ import annotations

import jinja2
import jinja2.meta
import msgspec
import pytest

from nodebyte_common.email_catalogue import TEMPLATES, required_keys
from nodebyte_notifier import email_templates
from nodebyte_notifier.email_templates import TemplateDataError, render


def data_for(template: str) -> dict[str, str]:
    return {
        key: "https://app.test/x?a=1&b=2" if key.endswith("Url") else "<i>Tom & Jerry</i>"
        for key in required_keys(TEMPLATES[template])
    }


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_template_renders_escaped_html_and_plain_text(template: str) -> None:
    rendered = render(template, data_for(template))
    assert rendered.subject
    assert "&lt;i&gt;Tom &amp; Jerry&lt;/i&gt;" in rendered.html
    assert "<i>Tom" not in rendered.html
    assert "<i>Tom & Jerry</i>" in rendered.text
    for key in required_keys(TEMPLATES[template]):
        if key.endswith("Url"):
            assert 'href="https://app.test/x?a=1&amp;b=2"' in rendered.html


def test_a_subject_given_replaces_the_default() -> None:
    assert render("welcome", {"name": "A"}, "Hello A").subject == "Hello A"
    assert render("welcome", {"name": "A"}).subject == "Welcome to NodeByte"


@pytest.mark.parametrize(
    ("template", "data", "why"),
    [
        ("newsletter", {}, "unknown template"),
        ("verify-email", {"name": "A"}, "data.verifyUrl is required"),
        ("alert", {"title": "t", "message": "", "severity": "info"}, "data.message is required"),
        ("password-reset", {"name": "A", "resetUrl": "javascript:x"}, "http(s) URL"),
        ("welcome", {"name": ["A"]}, "string, number or boolean"),
    ],
)
def test_unknown_templates_and_bad_data_are_refused(template: str, data: dict, why: str) -> None:
    with pytest.raises(TemplateDataError, match=why.replace("(", r"\(").replace(")", r"\)")):
        render(template, data)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_variable_a_template_reads_is_declared_by_its_data(template: str) -> None:
    """The template files and the catalogue's Struct are one contract: a name the HTML or
    text reads and the Struct does not declare would render only when someone sends it."""
    declared = {field.encode_name for field in msgspec.structs.fields(TEMPLATES[template])}
    given_by_renderer = {"subject", "year"}
    environment = email_templates.environment()
    for kind in ("html", "txt"):
        source = environment.loader.get_source(environment, f"{template}.{kind}")[0]
        read = jinja2.meta.find_undeclared_variables(environment.parse(source))
        assert read - declared - given_by_renderer == set(), f"{template}.{kind}"
