"""The permission catalogue: what may be required and what may be granted."""

from __future__ import annotations

import pytest

from nodebyte_common import permission_catalogue as catalogue


def test_every_name_has_a_description_and_is_a_plain_dot_name() -> None:
    for name, description in catalogue.CATALOGUE.items():
        assert description.strip(), name
        assert "*" not in name, name
        assert name == name.lower(), name
    assert {catalogue.FILE_READ, catalogue.FILE_WRITE} <= catalogue.CATALOGUE.keys()


@pytest.mark.parametrize(
    ("grant", "grantable"),
    [
        ("*", True),
        ("server.read", True),
        ("server.*", True),
        ("server.logs.*", True),
        ("file.*", True),
        ("servers.read", False),  # a retired plural name
        ("servers.*", False),
        ("serv.*", False),  # covers no catalogue name: `server.read` is not under `serv.`
        ("nothing.read", False),
        ("admin", False),
    ],
)
def test_grants_must_cover_catalogue_names(grant: str, grantable: bool) -> None:
    assert catalogue.is_grantable(grant) is grantable


def test_only_catalogue_names_can_be_required() -> None:
    assert catalogue.required(catalogue.SERVER_READ) == "server.read"
    for name in ("servers.read", "server.*", "*", "webhooks.dispatch"):
        with pytest.raises(ValueError, match="catalogue"):
            catalogue.required(name)
