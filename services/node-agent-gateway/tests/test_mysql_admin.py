"""Names the platform sends to a database host, and what an admin account must hold."""

from __future__ import annotations

import uuid

import pytest

from nodebyte_node_agent_gateway import game_databases, mysql_admin


@pytest.mark.parametrize(
    "name", ["a`b", "x; DROP DATABASE mysql", "../etc", "", "a b", "naïve", "x%", "a" * 65]
)
def test_hostile_identifiers_are_refused_before_any_sql(name: str) -> None:
    with pytest.raises(ValueError, match="not a database name"):
        mysql_admin.quoted(name)


def test_a_grant_escapes_the_underscore_wildcard() -> None:
    assert mysql_admin.grant_target("s1a2b3c4_main") == r"`s1a2b3c4\_main`.*"


def test_generated_names_fit_mysql_limits_and_carry_the_server() -> None:
    server_id = uuid.UUID("0190aaaa-0000-7000-8000-00000a1b2c3d")
    name = game_databases.database_name(server_id, "a" * 48)
    assert name == "s0a1b2c3d_" + "a" * 48
    assert len(name) <= 64
    assert mysql_admin.quoted(name)
    user = game_databases.new_username(server_id)
    assert user.startswith("u0a1b2c3d_")
    assert len(user) <= 32
    assert game_databases.new_username(server_id) != user


@pytest.mark.parametrize(
    ("grants", "lacking"),
    [
        (["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], set()),
        (
            ["GRANT CREATE, DROP, CREATE USER ON *.* TO `a`@`%` WITH GRANT OPTION"],
            set(),
        ),
        (["GRANT ALL PRIVILEGES ON *.* TO `a`@`%`"], {"GRANT OPTION"}),
        (
            ["GRANT SELECT ON *.* TO `a`@`%` WITH GRANT OPTION"],
            {"CREATE", "DROP", "CREATE USER"},
        ),
        (
            ["GRANT USAGE ON *.* TO `a`@`%`", "GRANT ALL PRIVILEGES ON `x`.* TO `a`@`%`"],
            {"CREATE", "DROP", "CREATE USER", "GRANT OPTION"},
        ),
    ],
)
def test_an_admin_account_needs_global_create_drop_create_user_and_grant(
    grants: list[str], lacking: set[str]
) -> None:
    assert mysql_admin.lacking_privileges(grants) == lacking
