"""The event catalogue: one msgspec Struct per event type, in one place.

Each event carries its routing key (`TYPE`) and schema version (`VERSION`).
Payloads hold ids, timestamps and counts: never a token, password or API key
(one documented exception: the link of an account email, see EmailRequested).
Publishers build these Structs; consumers decode into them by type.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal, get_args
from uuid import UUID

import msgspec

from nodebyte_common import email_catalogue

SyncKind = Literal["full", "locations", "nodes", "servers", "users"]


class Event(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=False):
    """Base of every event payload."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


# --- sync -----------------------------------------------------------------


class SyncRequested(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.requested"
    sync_log_id: UUID
    kind: SyncKind = "full"
    skip_users: bool = False
    requested_by: str | None = None
    requested_at: datetime


class SyncProgress(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.progress"
    sync_log_id: UUID
    step: str
    items_total: int
    items_processed: int
    items_failed: int = 0
    percentage: float
    message: str = ""


class SyncCompleted(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.completed"
    sync_log_id: UUID
    kind: SyncKind
    items_total: int
    items_synced: int
    items_failed: int = 0
    duration_seconds: float
    counts: dict[str, int] = {}


class SyncFailed(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.failed"
    sync_log_id: UUID
    kind: SyncKind
    error: str
    step: str | None = None
    items_synced: int = 0
    duration_seconds: float


class SyncCancelRequested(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.cancel_requested"
    sync_log_id: UUID
    requested_by: str | None = None


class SyncCancelled(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.cancelled"
    sync_log_id: UUID
    kind: SyncKind
    step: str | None = None
    items_synced: int = 0
    duration_seconds: float


class SyncLogsCleanupRequested(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "sync.logs_cleanup_requested"
    retention_days: int = 30


class ServerPruned(Event, kw_only=True, frozen=True):
    """A panel server the sync no longer finds on the panel (removed from the mirror)."""

    TYPE: ClassVar[str] = "server.pruned"
    server_id: int
    server_uuid: UUID | None = None
    pruned_at: datetime


class PanelUser(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=False):
    """What the gateway needs of a panel user to give them an account."""

    id: int
    email: str
    username: str
    first_name: str | None = None
    last_name: str | None = None
    root_admin: bool = False


class PanelUsersSynced(Event, kw_only=True, frozen=True):
    """Panel users the sync found new or changed, and those the panel no longer has.

    One sync announces its changes in several of these (a few hundred users each),
    all with the same `as_of`: a consumer applies a user's facts only when they are
    newer than what it holds, so redelivered or reordered batches change nothing.
    """

    TYPE: ClassVar[str] = "panel_users.synced"
    sync_log_id: UUID
    as_of: datetime
    users: list[PanelUser] = []
    removed: list[int] = []  # panel user ids pruned from the mirror


# --- hytale-auth ----------------------------------------------------------


class TokenRefreshed(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "token.refreshed"
    account_id: UUID
    expires_at: datetime


class SessionCreated(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "session.created"
    session_id: UUID
    account_id: UUID
    profile_uuid: UUID
    server_id: int | None = None
    expires_at: datetime


class SessionRefreshed(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "session.refreshed"
    session_id: UUID
    account_id: UUID
    server_id: int | None = None
    expires_at: datetime


class SessionDeleted(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "session.deleted"
    session_id: UUID
    account_id: UUID
    server_id: int | None = None
    reason: str = "requested"


# --- notifier -------------------------------------------------------------


class EmailRequested(Event, kw_only=True, frozen=True):
    """An email to render from `template` and `data`.

    Secrets that must reach the email (account links with their single-use,
    short-lived tokens) never travel in `data`: they are sealed together into
    `sealed_data` (AES-256-GCM, context "email:<email_id>") and opened only by
    the notifier to render the email.
    """

    TYPE: ClassVar[str] = "email.requested"
    email_id: UUID
    to: list[str]
    subject: str
    template: str
    data: dict[str, Any] = {}
    # The template data sealed with the shared keys (context "email:<email_id>"):
    # links in it (reset, verify) are capabilities that must not travel in clear.
    sealed_data: str | None = None


def email_data_context(email_id: UUID) -> str:
    """What `EmailRequested.sealed_data` is sealed under."""
    return f"email:{email_id}"


class EmailSent(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "email.sent"
    email_id: UUID
    template: str
    attempts: int


class EmailFailed(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "email.failed"
    email_id: UUID
    template: str
    attempts: int
    error: str


# Who a Discord webhook is for: what it is about (type) and who reads it (scope).
WebhookType = Literal["SYSTEM", "GAME_SERVER", "VPS", "BILLING", "SECURITY", "SUPPORT", "CUSTOM"]
WEBHOOK_TYPES: tuple[str, ...] = get_args(WebhookType)
WebhookScope = Literal["ADMIN", "USER", "PUBLIC"]
WEBHOOK_SCOPES: tuple[str, ...] = get_args(WebhookScope)
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class WebhookDispatchRequested(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "webhook.dispatch_requested"
    dispatch_id: UUID
    event: str
    data: dict[str, Any] = {}
    # Which webhooks it is for (their type and scope); derived from `event` when absent.
    webhook_type: str | None = None
    scope: str | None = None


class WebhookDelivered(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "webhook.delivered"
    delivery_id: UUID
    webhook_id: UUID | None = None
    source_event_id: UUID
    attempts: int
    status_code: int
    message_id: str | None = None  # Discord's id of the posted message


class WebhookDisabled(Event, kw_only=True, frozen=True):
    """A webhook Discord no longer accepts (404/401): the notifier stopped using it."""

    TYPE: ClassVar[str] = "webhook.disabled"
    webhook_id: UUID
    name: str
    status_code: int
    reason: str
    disabled_at: datetime


EMAIL_ADDRESS = re.compile(
    r"^[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"
)
MAX_RECIPIENTS = 50


def email_request_problems(
    to: list[str], subject: str, template: str, data: dict[str, Any]
) -> list[str]:
    """Why an `email.requested` with these values cannot be sent (empty when it can)."""
    problems = []
    if not to or len(to) > MAX_RECIPIENTS:
        problems.append(f"to must name 1 to {MAX_RECIPIENTS} addresses")
    problems += [f"to: {a!r} is not an email address" for a in to if not EMAIL_ADDRESS.match(a)]
    if len(subject) > 255 or "\r" in subject or "\n" in subject:
        problems.append("subject must be one line of at most 255 characters")
    return problems + email_catalogue.data_problems(template, data)


# --- node-agent-gateway ---------------------------------------------------


class NodeConnected(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "node.connected"
    node_id: UUID
    connected_at: datetime
    replica: str


class NodeDisconnected(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "node.disconnected"
    node_id: UUID
    disconnected_at: datetime
    reason: str


class NodeHealthReported(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "node.health_reported"
    node_id: UUID
    cpu_percent: float
    memory_used_mb: int
    memory_total_mb: int
    disk_used_mb: int
    disk_total_mb: int
    container_count: int
    reported_at: datetime


class ServerStateChanged(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "server.state_changed"
    server_id: UUID
    node_id: UUID
    previous_state: str | None = None
    state: str
    exit_code: int | None = None
    changed_at: datetime


class ServerCommandRequested(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "server.command_requested"
    request_id: UUID
    server_id: UUID
    node_id: UUID | None = None
    action: Literal[
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
    payload: dict[str, Any] = {}
    requested_by: str | None = None


class ServerDeleted(Event, kw_only=True, frozen=True):
    """A server is gone: what hangs off it elsewhere (its scheduled tasks) goes too."""

    TYPE: ClassVar[str] = "server.deleted"
    server_id: UUID
    node_id: UUID
    deleted_at: datetime


class ServerCommandFailed(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "server.command_failed"
    request_id: UUID
    server_id: UUID
    action: str
    reason: str
    node_id: UUID | None = None
    requested_by: str | None = None


class ServerCommandAcknowledged(Event, kw_only=True, frozen=True):
    """The node took the command: its agent confirmed it ("agent"), or, for agents
    that do not confirm commands, it was written to the agent's socket ("transport")."""

    TYPE: ClassVar[str] = "server.command_acknowledged"
    request_id: UUID
    server_id: UUID
    node_id: UUID
    action: str
    acknowledged_by: Literal["agent", "transport"]
    requested_by: str | None = None
    acknowledged_at: datetime


class BackupCompleted(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "backup.completed"
    backup_id: UUID
    server_id: UUID
    size_bytes: int
    success: bool
    completed_at: datetime


class ServerTransferStarted(Event, kw_only=True, frozen=True):
    """A move of a server's files to another node began (`phase` "stopping" first when
    the server was running)."""

    TYPE: ClassVar[str] = "server.transfer_started"
    transfer_id: UUID
    server_id: UUID
    source_node_id: UUID
    target_node_id: UUID
    phase: Literal["stopping", "streaming"]
    requested_by: str | None = None
    started_at: datetime


class ServerTransferCompleted(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "server.transfer_completed"
    transfer_id: UUID
    server_id: UUID
    source_node_id: UUID
    target_node_id: UUID
    bytes_transferred: int
    completed_at: datetime


class ServerTransferFailed(Event, kw_only=True, frozen=True):
    """The transfer was rolled back: the server stays on the source node."""

    TYPE: ClassVar[str] = "server.transfer_failed"
    transfer_id: UUID
    server_id: UUID
    source_node_id: UUID
    target_node_id: UUID
    reason: str
    failed_at: datetime


class AlertRaised(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "alert.raised"
    alert_id: UUID
    rule_type: str
    severity: Literal["info", "warning", "critical"]
    title: str
    message: str
    node_id: UUID | None = None
    server_id: UUID | None = None
    raised_at: datetime
    # The webhook URLs of the rule that raised it (each carries its webhook's
    # token): a JSON list sealed with the shared keys, context "alert:<alert_id>",
    # opened only by the notifier, which posts the alert to each.
    sealed_webhooks: str | None = None


def alert_webhooks_context(alert_id: UUID) -> str:
    """What `AlertRaised.sealed_webhooks` is sealed under."""
    return f"alert:{alert_id}"


class AlertResolved(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "alert.resolved"
    alert_id: UUID
    resolved_at: datetime
    resolved_by: str | None = None


# --- settings and scheduler -----------------------------------------------


class SettingsChanged(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "settings.changed"
    owner: str
    keys: list[str]
    changed_by: str | None = None
    # The changed settings under their public names, as an admin reads them: secrets
    # masked ("••••abcd"), other values as text. Announced to the admin webhooks.
    shown: dict[str, str] = {}


class JobFired(Event, kw_only=True, frozen=True):
    TYPE: ClassVar[str] = "job.fired"
    job_id: UUID
    run_id: UUID
    job_name: str
    due_at: datetime
    fired_at: datetime
    payload: dict[str, Any] = {}  # the job's parameters, e.g. {"retention_days": 30}


CATALOGUE: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        SyncRequested,
        SyncProgress,
        SyncCompleted,
        SyncFailed,
        SyncCancelRequested,
        SyncCancelled,
        SyncLogsCleanupRequested,
        ServerPruned,
        PanelUsersSynced,
        TokenRefreshed,
        SessionCreated,
        SessionRefreshed,
        SessionDeleted,
        EmailRequested,
        EmailSent,
        EmailFailed,
        WebhookDispatchRequested,
        WebhookDelivered,
        WebhookDisabled,
        NodeConnected,
        NodeDisconnected,
        NodeHealthReported,
        ServerStateChanged,
        ServerCommandRequested,
        ServerDeleted,
        ServerCommandFailed,
        ServerCommandAcknowledged,
        BackupCompleted,
        ServerTransferStarted,
        ServerTransferCompleted,
        ServerTransferFailed,
        AlertRaised,
        AlertResolved,
        SettingsChanged,
        JobFired,
    )
}

# Fields whose names betray a secret; a test proves no event declares one.
SECRET_FIELD_MARKERS = ("token", "password", "secret", "api_key", "apikey", "private_key")


def dataschema(event_type: str, version: int) -> str:
    """The CloudEvents `dataschema` naming an event's type and version."""
    return f"urn:nodebyte:events:{event_type}:v{version}"


def event_class(event_type: str) -> type[Event]:
    """The Struct for a routing key; KeyError when the type is not catalogued."""
    return CATALOGUE[event_type]


def encode(event: Event) -> bytes:
    return msgspec.json.encode(event)


def decode(event_type: str, body: bytes) -> Event:
    """Decode a body into its catalogued Struct; raises KeyError or msgspec errors."""
    return msgspec.json.decode(body, type=event_class(event_type))
