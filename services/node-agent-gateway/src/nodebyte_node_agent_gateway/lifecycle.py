"""The server status lifecycle of the reference, crash counting and the restart policy.

    [stopped] ──install──> [installing] ──> [stopped]
    [stopped] ──start──> [starting] ──> [running] ──stop──> [stopping] ──> [stopped]
                                            └──crash──> [crashed] ──> [stopped]
    [stopped|crashed] ──restore_backup──> [restoring] ──> [stopped]

plus what the reference's flows imply: a start can fail (starting → crashed),
a restart passes through stopped, kill goes straight to stopped, a crashed
server can be started (that is what the restart policy does) or reinstalled,
and an install can fail. `suspended` is an administrative flag, never a state
an agent moves a server into. `restoring` is entered when a restore is routed to
the agent (so nothing starts the server under it) and left when the agent reports
the server stopped, or when the restore command fails.

`transferring` is the backend's own state while a server's files move to
another node (see transfers): no agent report and no action moves a server
out of it; the transfer itself does, on success or rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Desired = Literal["stopped", "running", "restarting"]
Action = Literal[
    "start",
    "stop",
    "restart",
    "kill",
    "install",
    "backup",
    "command",
    "restore_backup",
    "delete_backup",
    "console_input",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    "stopped": frozenset({"installing", "starting", "restoring"}),
    "installing": frozenset({"stopped", "crashed"}),
    "starting": frozenset({"running", "crashed", "stopping", "stopped"}),
    "running": frozenset({"stopping", "stopped", "crashed"}),
    "stopping": frozenset({"stopped", "crashed"}),
    "crashed": frozenset({"stopped", "starting", "installing", "restoring"}),
    "restoring": frozenset({"stopped", "crashed"}),
}

# The states from which each action makes sense; anything else is refused (409).
ACTION_FROM: dict[str, frozenset[str]] = {
    "install": frozenset({"stopped", "crashed"}),
    "start": frozenset({"stopped", "crashed"}),
    "stop": frozenset({"starting", "running"}),
    "restart": frozenset({"starting", "running", "stopped", "crashed"}),
    "kill": frozenset({"starting", "running", "stopping"}),
    "command": frozenset({"starting", "running"}),
    "backup": frozenset({"stopped", "crashed", "running", "starting"}),
    "console_input": frozenset({"starting", "running"}),
    # A restore replaces the server's files: only while nothing runs on them.
    "restore_backup": frozenset({"stopped", "crashed"}),
    # Removing an archive leaves the server alone, but not the one being restored from.
    "delete_backup": frozenset(
        {"stopped", "installing", "starting", "running", "stopping", "crashed"}
    ),
}

# Clearer words than the action's name, for refusals users read.
REFUSALS = {
    "restore_backup": "Stop the server before restoring a backup: it is",
    "delete_backup": "Cannot delete a backup of a server that is",
    "console_input": "Cannot type into the console of a server that is",
}

# A transfer starts at once from these states, and after a stop from the running ones.
TRANSFER_AT_ONCE = frozenset({"stopped", "crashed"})
TRANSFER_AFTER_STOP = frozenset({"starting", "running"})

# Actions a suspended server still accepts: they only take it down.
ALLOWED_WHILE_SUSPENDED = frozenset({"stop", "kill"})

# What each action asks the server to end up as.
DESIRED_AFTER: dict[str, Desired] = {
    "start": "running",
    "restart": "restarting",
    "stop": "stopped",
    "kill": "stopped",
    "install": "stopped",
    "restore_backup": "stopped",
}


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


class ActionRefused(Exception):
    """An action the server cannot take now: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def admit(action: str, state: str, suspended: bool) -> None:
    """Raise ActionRefused when `action` is not allowed for a server in `state`."""
    if suspended and action not in ALLOWED_WHILE_SUSPENDED:
        raise ActionRefused(423, "Server is suspended")
    if state not in ACTION_FROM[action]:
        refusal = REFUSALS.get(action, f"Cannot {action} a server that is")
        raise ActionRefused(409, f"{refusal} {state}")


@dataclass(frozen=True)
class AfterChange:
    """What follows a state change: restart it, and whether the crash limit was hit."""

    restart: bool = False
    crash_limit_reached: bool = False


def after_change(
    *,
    previous: str,
    state: str,
    desired: str,
    policy: str,
    crash_count: int,
    max_crash_count: int,
    suspended: bool,
) -> AfterChange:
    """Decide on the restart policy once `state` is recorded (crash_count already counted).

    `on-failure` and `always` restart a crashed server while its crash count is
    under `max_crash_count`; `always` also restarts a server that stopped on its
    own while it was meant to run. Nothing restarts a suspended server.
    """
    if suspended or policy == "never":
        return AfterChange()
    if state == "crashed":
        if crash_count >= max_crash_count:
            return AfterChange(crash_limit_reached=True)
        return AfterChange(restart=True)
    exited_on_its_own = (
        state == "stopped" and previous in ("starting", "running") and desired == "running"
    )
    return AfterChange(restart=policy == "always" and exited_on_its_own)
