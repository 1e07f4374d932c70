"""Every permission a route can require and a role or an API key can grant, named once.

Guards and role definitions use these constants. A name that is not here
cannot be required (building the guard fails when the service starts) nor
granted (roles and API-key scopes are checked against the catalogue). A grant
may also be `x.*`, every catalogue name under `x.`, when it covers at least one
of them, or `*`, everything.
"""

from __future__ import annotations

WILDCARD = "*"

ADMIN_READ = "admin.read"
ADMIN_WRITE = "admin.write"
ADMIN_BUS_READ = "admin.bus.read"
ADMIN_BUS_WRITE = "admin.bus.write"
USER_READ = "user.read"
USER_WRITE = "user.write"
ROLE_WRITE = "role.write"
STATS_READ = "stats.read"
SYNC_READ = "sync.read"
SYNC_WRITE = "sync.write"
SERVER_READ = "server.read"
SERVER_CREATE = "server.create"
SERVER_UPDATE = "server.update"
SERVER_DELETE = "server.delete"
SERVER_SUSPEND = "server.suspend"
SERVER_START = "server.start"
SERVER_STOP = "server.stop"
SERVER_RESTART = "server.restart"
SERVER_KILL = "server.kill"
SERVER_INSTALL = "server.install"
SERVER_CONSOLE = "server.console"
SERVER_LOGS_READ = "server.logs.read"
SERVER_TRANSFER = "server.transfer"
BACKUP_READ = "backup.read"
BACKUP_CREATE = "backup.create"
DATABASE_READ = "database.read"
DATABASE_CREATE = "database.create"
DATABASE_ROTATE = "database.rotate"
DATABASE_DELETE = "database.delete"
DATABASE_HOST_READ = "database_host.read"
DATABASE_HOST_WRITE = "database_host.write"
BACKUP_RESTORE = "backup.restore"
BACKUP_DELETE = "backup.delete"
FILE_READ = "file.read"
FILE_WRITE = "file.write"
TEMPLATE_READ = "template.read"
TEMPLATE_WRITE = "template.write"
NODE_READ = "node.read"
NODE_WRITE = "node.write"
ALERT_READ = "alert.read"
ALERT_RESOLVE = "alert.resolve"
TASK_READ = "task.read"
TASK_CREATE = "task.create"
TASK_UPDATE = "task.update"
TASK_DELETE = "task.delete"
TASK_EXECUTE = "task.execute"
SCHEDULER_READ = "scheduler.read"
SCHEDULER_WRITE = "scheduler.write"
HYTALE_READ = "hytale.read"
HYTALE_WRITE = "hytale.write"
EMAIL_SEND = "email.send"
WEBHOOK_DISPATCH = "webhook.dispatch"

CATALOGUE: dict[str, str] = {
    ADMIN_READ: "Read platform settings, admin webhooks, the panel mirror, API keys, "
    "the audit log, sync administration, alert rules and dashboard stats",
    ADMIN_WRITE: "Change platform settings, admin webhooks, the panel mirror, API keys, "
    "repositories, alert rules and Hytale administration",
    ADMIN_BUS_READ: "Read the bus's dead letters and outbox backlogs",
    ADMIN_BUS_WRITE: "Replay and discard the bus's dead letters",
    USER_READ: "Read user accounts and the roles catalogue",
    USER_WRITE: "Create user accounts and set their roles",
    ROLE_WRITE: "Define, change and delete custom roles (never the built-in ones)",
    STATS_READ: "Read the platform statistics (/api/v1/stats)",
    SYNC_READ: "Read sync status and history",
    SYNC_WRITE: "Queue and cancel panel syncs",
    SERVER_READ: "Read servers, their resources, allocations and live console output",
    SERVER_CREATE: "Create servers",
    SERVER_UPDATE: "Change servers, their settings, startup and allocations (ip:port bindings)",
    SERVER_DELETE: "Delete servers",
    SERVER_SUSPEND: "Suspend and unsuspend servers",
    SERVER_START: "Start servers",
    SERVER_STOP: "Stop servers",
    SERVER_RESTART: "Restart servers",
    SERVER_KILL: "Kill servers",
    SERVER_INSTALL: "Reinstall servers",
    SERVER_CONSOLE: "Send console commands to servers",
    SERVER_LOGS_READ: "Read servers' logs",
    SERVER_TRANSFER: "Move servers and their files to another node",
    BACKUP_READ: "List servers' backups",
    BACKUP_CREATE: "Create servers' backups",
    DATABASE_READ: "List servers' databases (never their passwords)",
    DATABASE_CREATE: "Create servers' databases on a database host (the password is shown once)",
    DATABASE_ROTATE: "Rotate the password of servers' databases (the new one is shown once)",
    DATABASE_DELETE: "Delete servers' databases and their users from the database host",
    DATABASE_HOST_READ: "Read the database hosts (never their admin passwords)",
    DATABASE_HOST_WRITE: "Register and remove database hosts (MySQL/MariaDB servers)",
    BACKUP_RESTORE: "Restore a stopped server's files from one of its backups",
    BACKUP_DELETE: "Delete servers' backups",
    FILE_READ: "Read files on servers",
    FILE_WRITE: "Write files on servers",
    TEMPLATE_READ: "Read server templates",
    TEMPLATE_WRITE: "Create, change and delete server templates",
    NODE_READ: "Read nodes, their metrics and IP pools",
    NODE_WRITE: "Register, change, remove nodes, set their IP pools and rotate their agent tokens",
    ALERT_READ: "Read alerts and their statistics",
    ALERT_RESOLVE: "Acknowledge and resolve alerts",
    TASK_READ: "Read scheduled tasks and their runs",
    TASK_CREATE: "Create scheduled tasks",
    TASK_UPDATE: "Change scheduled tasks",
    TASK_DELETE: "Delete scheduled tasks",
    TASK_EXECUTE: "Run scheduled tasks now",
    SCHEDULER_READ: "Read the scheduler's jobs",
    SCHEDULER_WRITE: "Change the scheduler's jobs",
    HYTALE_READ: "Read Hytale logs, console lines and game sessions",
    HYTALE_WRITE: "Act on Hytale accounts and game sessions",
    EMAIL_SEND: "Queue emails and read their delivery",
    WEBHOOK_DISPATCH: "Dispatch webhook events and read their delivery",
}


def is_known(name: str) -> bool:
    return name in CATALOGUE


def is_grantable(name: str) -> bool:
    """A catalogue name, `*`, or `x.*` covering at least one catalogue name."""
    if name == WILDCARD or name in CATALOGUE:
        return True
    if name.endswith(".*"):
        prefix = name[:-1]
        return any(known.startswith(prefix) for known in CATALOGUE)
    return False


def unknown(names: list[str]) -> list[str]:
    """The names a role or an API key may not grant."""
    return [name for name in names if not is_grantable(name)]


def required(name: str) -> str:
    """`name`, when a route may require it (a catalogue name, never a pattern)."""
    if name not in CATALOGUE:
        raise ValueError(f"not a catalogue permission a route can require: {name!r}")
    return name
