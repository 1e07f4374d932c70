"""Sending an email: the Resend HTTP API or SMTP (STARTTLS), chosen by settings.

Both name the message after its delivery id, so a resend after a crash is
recognisable: Resend through its `Idempotency-Key` (the same key within 24 h
sends once and answers with the first message's id), SMTP through a stable
`Message-ID` (mail clients collapse copies; the server itself does not).
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol
from uuid import UUID

import aiosmtplib
import httpx
from opentelemetry.trace import SpanKind

from nodebyte_common.observability import tracer
from nodebyte_notifier.retry_policy import Attempt
from nodebyte_notifier.settings import NotifierSettings

# A 4xx from Resend says the request itself is wrong (key, body, address, a security
# refusal): sending it again cannot help. These 4xx are the exceptions, worth a retry.
TRANSIENT_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class OutgoingEmail:
    id: UUID
    sender: str
    to: list[str]
    subject: str
    html: str
    text: str


class EmailProvider(Protocol):
    name: str

    async def send(self, email: OutgoingEmail) -> Attempt: ...

    async def check(self) -> str | None:
        """Why the provider cannot take mail now (None: it can); sends nothing."""
        ...

    async def aclose(self) -> None: ...


class ResendProvider:
    name = "resend"

    def __init__(self, api_url: str, api_key: str, timeout: float) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, email: OutgoingEmail) -> Attempt:
        body = {
            "from": email.sender,
            "to": email.to,
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
            "headers": {"X-Entity-Ref-ID": str(email.id)},
        }
        try:
            response = await self._http.post(
                "/emails", json=body, headers={"Idempotency-Key": str(email.id)}
            )
        except httpx.HTTPError as exc:
            return Attempt(sent=False, error=type(exc).__name__)
        return _resend_outcome(response)

    async def check(self) -> str | None:
        # An empty email: Resend checks the key first, then refuses the body (422),
        # so a 4xx other than 401/403 proves the API is there and takes the key.
        try:
            response = await self._http.post("/emails", json={})
        except httpx.HTTPError as exc:
            return f"the Resend API is unreachable: {type(exc).__name__}"
        if response.status_code in (401, 403):
            return f"Resend refused the API key (HTTP {response.status_code})"
        if response.status_code >= 500 or response.status_code == 429:
            return f"the Resend API answered HTTP {response.status_code}"
        return None


def _resend_outcome(response: httpx.Response) -> Attempt:
    code = response.status_code
    if code < 300:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return Attempt(sent=True, status_code=code, message_id=str(response.json()["id"]))
        return Attempt(sent=True, status_code=code)
    name = ""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        name = str(response.json().get("name") or "")[:100]
    error = f"HTTP {code}" + (f": {name}" if name else "")
    if code == 429:
        return Attempt(
            sent=False,
            status_code=code,
            error=error,
            retry_after=_retry_after_header(response),
        )
    if code == 409 and name == "concurrent_idempotent_requests":
        return Attempt(
            sent=False, status_code=code, error=error
        )  # the first request is still being handled
    return Attempt(
        sent=False,
        status_code=code,
        error=error,
        permanent=400 <= code < 500 and code not in TRANSIENT_4XX,
    )


def _retry_after_header(response: httpx.Response) -> float:
    with contextlib.suppress(KeyError, ValueError):
        return max(0.0, float(response.headers["retry-after"]))
    return 1.0


class SmtpProvider:
    name = "smtp"

    def __init__(self, settings: NotifierSettings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username or None
        self.password = settings.smtp_password or None
        self.starttls = settings.smtp_starttls
        self.timeout = settings.email_timeout_seconds
        self.tls_context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)

    async def aclose(self) -> None:
        return None

    async def send(self, email: OutgoingEmail) -> Attempt:
        message = mime_message(email)
        try:
            with tracer().start_as_current_span(
                "SMTP send", kind=SpanKind.CLIENT, attributes={"server.address": self.host}
            ):
                await aiosmtplib.send(
                    message,
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=self.password,
                    start_tls=self.starttls,
                    tls_context=self.tls_context,
                    timeout=self.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({r.code for r in exc.recipients})
            return Attempt(
                sent=False,
                status_code=codes[0] if codes else None,
                error="recipients refused",
                permanent=True,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Attempt(
                sent=False,
                status_code=exc.code,
                error=f"SMTP {exc.code}",
                permanent=500 <= exc.code < 600,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Attempt(sent=False, error=type(exc).__name__)
        return Attempt(sent=True, status_code=250, message_id=message["Message-ID"])

    async def check(self) -> str | None:
        """Connect, STARTTLS and log in as a send would, then quit."""
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            start_tls=self.starttls,
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        try:
            await client.connect()
            if self.username and self.password:
                await client.login(self.username, self.password)
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return f"the SMTP server refused the login (SMTP {exc.code})"
        except aiosmtplib.SMTPResponseException as exc:
            return f"the SMTP server answered {exc.code}"
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return f"the SMTP server is unreachable: {type(exc).__name__}"
        finally:
            client.close()
        return None


def mime_message(email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "nodebyte.local"
    message["Message-ID"] = f"<{email.id}@{domain}>"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def build_provider(settings: NotifierSettings) -> EmailProvider | None:
    """The provider the settings choose; None when email is not configured."""
    choice = settings.email_provider or (
        "resend" if settings.resend_api_key else "smtp" if settings.smtp_host else ""
    )
    if choice == "resend" and settings.resend_api_key:
        return ResendProvider(
            settings.resend_api_url, settings.resend_api_key, settings.email_timeout_seconds
        )
    if choice == "smtp" and settings.smtp_host:
        return SmtpProvider(settings)
    return None
