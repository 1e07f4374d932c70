"""`.env.example` is written from the settings declarations, never edited apart from them."""

from __future__ import annotations

from nodebyte_devstack import env_example


def test_env_example_is_the_settings_declarations_rendered() -> None:
    assert env_example.PATH.read_text() == env_example.render(), (
        "regenerate it: .venv/bin/python -m nodebyte_devstack.env_example"
    )


def test_every_variable_a_service_reads_is_listed() -> None:
    listed = env_example.PATH.read_text()
    for _, settings in env_example.SERVICES:
        for variable in env_example.variables(settings):
            assert f"\n{variable.name}=" in listed, variable.name
