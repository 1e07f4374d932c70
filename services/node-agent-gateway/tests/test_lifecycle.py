"""The server lifecycle and the restart policy."""

import pytest

from nodebyte_node_agent_gateway.lifecycle import (
    ActionRefused,
    AfterChange,
    admit,
    after_change,
    can_transition,
)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("stopped", "installing"),
        ("installing", "stopped"),
        ("stopped", "starting"),
        ("starting", "running"),
        ("starting", "crashed"),
        ("running", "stopping"),
        ("stopping", "stopped"),
        ("running", "crashed"),
        ("crashed", "stopped"),
        ("crashed", "starting"),
        ("running", "stopped"),
    ],
)
def test_the_reference_transitions_are_allowed(current: str, new: str) -> None:
    assert can_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("stopped", "running"),
        ("stopped", "crashed"),
        ("installing", "running"),
        ("running", "starting"),
        ("stopping", "running"),
        ("running", "suspended"),
        ("nonsense", "running"),
    ],
)
def test_skipping_the_lifecycle_is_not(current: str, new: str) -> None:
    assert not can_transition(current, new)


def test_a_suspended_server_refuses_all_but_stopping() -> None:
    for action in ("start", "restart", "install", "command", "backup"):
        with pytest.raises(ActionRefused) as refused:
            admit(action, "stopped", suspended=True)
        assert refused.value.status == 423
    admit("stop", "running", suspended=True)
    admit("kill", "running", suspended=True)


def test_actions_out_of_turn_are_conflicts() -> None:
    with pytest.raises(ActionRefused) as refused:
        admit("start", "running", suspended=False)
    assert refused.value.status == 409
    admit("start", "crashed", suspended=False)
    admit("command", "running", suspended=False)


def decide(**overrides: object) -> AfterChange:
    base = {
        "previous": "running",
        "state": "crashed",
        "desired": "running",
        "policy": "on-failure",
        "crash_count": 1,
        "max_crash_count": 3,
        "suspended": False,
    }
    return after_change(**{**base, **overrides})  # type: ignore[arg-type]


def test_a_crash_under_the_limit_is_restarted() -> None:
    assert decide() == AfterChange(restart=True)
    assert decide(policy="always") == AfterChange(restart=True)


def test_reaching_the_crash_limit_stops_restarts() -> None:
    assert decide(crash_count=3) == AfterChange(crash_limit_reached=True)
    assert decide(crash_count=1, max_crash_count=0) == AfterChange(crash_limit_reached=True)


def test_never_and_suspended_servers_are_not_restarted() -> None:
    assert decide(policy="never") == AfterChange()
    assert decide(suspended=True) == AfterChange()


def test_only_always_restarts_a_server_that_exited_while_meant_to_run() -> None:
    exited = {"previous": "running", "state": "stopped", "crash_count": 0}
    assert decide(**exited, policy="always") == AfterChange(restart=True)
    assert decide(**exited, policy="on-failure") == AfterChange()
    assert decide(**exited, policy="always", desired="stopped") == AfterChange()
    assert decide(**exited, policy="always", desired="restarting") == AfterChange()
