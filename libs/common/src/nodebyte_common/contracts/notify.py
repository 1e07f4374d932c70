"""Mail and Discord webhooks: what a caller sends and what the notifier answers.

The gateway queues mail and dispatches itself (an event through its outbox) and
answers a status as PENDING until the notifier has seen the request; from then
on the notifier's status is the answer. The webhooks under
`/api/admin/settings/webhooks` are the notifier's: the gateway checks the
caller and forwards these bodies, then decodes these answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from nodebyte_common import events

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET

TemplateName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
EventName = Annotated[str, msgspec.Meta(pattern=events.EVENT_NAME.pattern, max_length=100)]
EventList = Annotated[list[EventName], msgspec.Meta(max_length=50)]
WebhookName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
# A delivery's state: PENDING (not yet seen by the notifier), QUEUED, SENDING, SENT, FAILED.
DeliveryStatus = str


# --- mail (`/api/v1/email/*`) -------------------------------------------------------


class MailSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The notifier's mail set-up as the admin settings show it (read-only: environment;
    never a key or a password). The reference's names, on the wire as here."""

    emailProvider: str | None
    emailConfigured: bool
    emailFrom: str
    adminEmailTo: list[str]
    discordWebhookConfigured: bool


class EmailQueueBody(msgspec.Struct, forbid_unknown_fields=True):
    to: str | list[str]
    template: TemplateName
    subject: str = ""
    data: dict[str, Any] = {}  # the template's variables (see the email catalogue)


class Queued(msgspec.Struct, frozen=True, kw_only=True):
    """A request taken: its id to poll, PENDING until the notifier has it."""

    id: UUID
    status: Literal["PENDING"] = "PENDING"


class EmailStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A queued email's delivery. Until the notifier has the request (PENDING) only
    the first fields are known; the others are absent."""

    id: UUID
    template: str
    status: DeliveryStatus
    attempts: int
    lastError: str | None
    createdAt: datetime
    to: list[str] | Unset = UNSET
    subject: str | Unset = UNSET
    provider: str | Unset | None = UNSET
    messageId: str | Unset | None = UNSET
    lastStatusCode: int | Unset | None = UNSET
    updatedAt: datetime | Unset = UNSET
    sentAt: datetime | Unset | None = UNSET
    nextAttemptAt: datetime | Unset | None = UNSET  # while QUEUED for a retry


# --- webhook dispatch (`/api/v1/webhook/dispatch*`) -------------------------------


class DispatchBody(msgspec.Struct, forbid_unknown_fields=True):
    event: EventName
    data: dict[str, Any] = {}
    type: events.WebhookType | None = None  # only the webhooks of this type
    scope: events.WebhookScope | None = None  # only the webhooks of this audience


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook's delivery of a dispatch (the system webhook's has no id)."""

    id: UUID
    webhookId: str | None
    webhookName: str | None
    status: DeliveryStatus
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    messageId: str | None
    createdAt: datetime
    updatedAt: datetime
    sentAt: datetime | None
    nextAttemptAt: datetime | None


class Dispatch(msgspec.Struct, frozen=True, kw_only=True):
    """A dispatch and its deliveries; `status` sums them up (NO_TARGETS, QUEUED, SENDING,
    SENT, PARTIAL, FAILED, or PENDING before the notifier has it)."""

    id: UUID
    event: str
    status: str
    deliveries: list[Delivery]
    createdAt: datetime
    type: str | Unset | None = UNSET
    scope: str | Unset | None = UNSET


# --- Discord webhooks (`/api/admin/settings/webhooks`) ------------------------------


class CreateWebhook(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    name: WebhookName
    webhook_url: Url
    type: events.WebhookType = "SYSTEM"
    scope: events.WebhookScope = "ADMIN"
    description: Description | None = None
    events: EventList = []
    enabled: bool = True


class UpdateWebhook(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Absent fields keep their value; `id` names the webhook (the reference sends it in
    the body): it is required."""

    id: UUID
    name: WebhookName | None = None
    webhook_url: Url | None = None
    type: events.WebhookType | None = None
    scope: events.WebhookScope | None = None
    description: Description | None = None
    events: EventList | None = None
    enabled: bool | None = None


class WebhookId(msgspec.Struct, forbid_unknown_fields=True):
    """The webhook a test (PATCH) or a removal (DELETE, when not `?id=`) is for."""

    id: UUID


class WebhookQuery(msgspec.Struct, frozen=True):
    type: events.WebhookType | None = None


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook as the admin API shows it: its URL masked."""

    id: UUID
    name: str
    webhookUrl: str
    type: str
    scope: str
    description: str | None
    events: list[str]
    enabled: bool
    disabledReason: str | None
    disabledAt: datetime | None
    testSuccessAt: datetime | None
    createdAt: datetime
    updatedAt: datetime


class WebhookTest(msgspec.Struct, frozen=True, kw_only=True):
    """Discord's answer to a test message."""

    delivered: bool
    statusCode: int | None
    messageId: str | None
    error: str | None
    retryAfter: float | None
    disabled: bool  # Discord refused the webhook for good: it is disabled now
