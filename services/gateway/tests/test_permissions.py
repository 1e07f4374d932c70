from __future__ import annotations

import pytest

from nodebyte_gateway.accounts.permissions import MAX_LENGTH, covers, grants, is_grantable, is_valid


@pytest.mark.parametrize(
    ("granted", "wanted", "expected"),
    [
        (["*"], "admin.write", True),
        (["admin.*"], "admin.write", True),
        (["admin.*"], "admin.users.write", True),
        (["admin.*"], "administrator.read", False),
        (["admin.*"], "admin", False),
        (["admin.read"], "admin.write", False),
        (["admin.read"], "admin.read", True),
        ([], "admin.read", False),
        (["sync.write", "admin.read"], "admin.read", True),
    ],
)
def test_grants(granted: list[str], wanted: str, expected: bool) -> None:
    assert grants(granted, wanted) is expected


@pytest.mark.parametrize(
    ("held", "requested", "expected"),
    [
        (["*"], ["*"], True),
        (["admin.*"], ["admin.*", "admin.read"], True),
        (["admin.*"], ["*"], False),
        (["admin.read"], ["admin.*"], False),
        (["admin.read", "sync.write"], ["sync.write"], True),
        (["sync.write"], [], True),
    ],
)
def test_covers_refuses_escalation(held: list[str], requested: list[str], expected: bool) -> None:
    assert covers(held, requested) is expected


@pytest.mark.parametrize(
    ("permission", "valid"),
    [
        ("*", True),
        ("admin.read", True),
        ("admin.*", True),
        ("sync_logs.read", True),
        ("node-agent.read", True),
        ("Admin.read", False),
        ("admin.", False),
        (".read", False),
        ("admin.*.read", False),
        ("admin read", False),
        ("a" * 100, True),  # exactly the maximum length
        ("a" * 101, False),
    ],
)
def test_is_valid(permission: str, valid: bool) -> None:
    assert is_valid(permission) is valid


def test_the_length_limit_is_the_documented_one() -> None:
    assert MAX_LENGTH == 100


@pytest.mark.parametrize(
    ("permission", "grantable"),
    [("server.read", True), ("admin.*", True), ("*", True), ("servers.*", False)],
)
def test_is_grantable(permission: str, grantable: bool) -> None:
    assert is_grantable(permission) is grantable
