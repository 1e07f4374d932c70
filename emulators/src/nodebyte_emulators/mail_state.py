"""State of the mail sink: what arrived (over SMTP or the Resend API), keys, faults."""

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from .faults import Faults
from .stats import RequestStats
from .strict_counters import StrictCounters, content_digest

Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


@dataclass(frozen=True, slots=True)
class MailConfig:
    resend_api_key: str = "re_emulator_key"
    smtp_port: int | None = None  # None: no SMTP listener
    smtp_host: str = "127.0.0.1"
    tls_cert: str | None = None  # PEM paths; generated when missing
    tls_key: str | None = None
    require_starttls: bool = False
    smtp_user: str | None = None  # AUTH is required when set
    smtp_password: str | None = None


class MailFaultRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `POST /_emulator/mail-faults`; absent fields keep their value."""

    smtp_fail_next: Count | None = None
    smtp_fail_code: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None
    hold_after_accept_next: Count | None = None
    hold_after_accept_seconds: Seconds | None = None
    resend_error_next: Count | None = None
    resend_error_status: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None


@dataclass(slots=True)
class MailFaults:
    """Faults particular to mail: SMTP refusals, and answers held after a message is kept."""

    smtp_fail_next: int = 0
    smtp_fail_code: int = 451
    hold_after_accept_next: int = 0
    hold_after_accept_seconds: float = 30.0
    resend_error_next: int = 0  # Resend answers these with `resend_error_status`
    resend_error_status: int = 451

    def configure(self, request: MailFaultRequest) -> None:
        for name in request.__struct_fields__:
            value = getattr(request, name)
            if value is not None:
                setattr(self, name, value)

    def clear(self) -> None:
        defaults = MailFaults()
        for name in self.__slots__:
            setattr(self, name, getattr(defaults, name))

    def snapshot(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__slots__}

    def take(self, counter: str) -> bool:
        if getattr(self, counter) <= 0:
            return False
        setattr(self, counter, getattr(self, counter) - 1)
        return True


@dataclass(slots=True)
class Remembered:
    """An idempotency key's first request (by body digest) and the id it was answered with."""

    digest: str
    email_id: str


@dataclass
class MailHub:
    config: MailConfig
    messages: list[dict] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    mail_faults: MailFaults = field(default_factory=MailFaults)
    stats: RequestStats = field(default_factory=RequestStats)
    idempotency: dict[str, Remembered] = field(default_factory=dict)
    counters: StrictCounters = field(default_factory=StrictCounters)
    smtp_server: asyncio.Server | None = None

    def record(self, via: str, **fields: object) -> dict:
        entry = {
            "id": str(uuid.uuid4()),
            "via": via,
            "received_at": datetime.now(UTC).isoformat(),
            **fields,
        }
        self.messages.append(entry)
        self.counters.delivered(_content_of(fields))
        return entry


def _content_of(fields: dict[str, object]) -> str:
    """Same sender, recipients, subject and bodies: the same email, by whichever path."""
    to = fields.get("to")
    recipients = sorted(to) if isinstance(to, list) else to
    parts = ("sender", "subject", "html", "text")
    return content_digest(recipients, *(fields.get(name) for name in parts))


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
