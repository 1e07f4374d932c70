"""`POST /emails` as Resend answers it: auth, validation, idempotency keys, faults.

Resend keeps an `Idempotency-Key` for 24 hours: the same key with the same
body answers with the first email's id and sends nothing; with another body
it is a 409. The hold-after-accept fault keeps a message and then stalls the
answer, as an upstream does when the client's connection dies mid-response.
"""

import asyncio
import http
import re
import time
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Request, Response, post

from .discord_http import json_response
from .faults import Failure
from .mail_state import MailHub, Remembered, digest
from .ratelimit import whole_seconds

ADDRESS = re.compile(r"^(?:[^<>]*<)?([^@\s<>]+@[^@\s<>]+\.[^@\s<>]+)>?$")


class ResendEmail(msgspec.Struct):
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | list[str] | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    headers: dict[str, str] = {}


def _error(status: int, name: str, message: str, headers: dict | None = None) -> Response:
    body = {"statusCode": status, "message": message, "name": name}
    return json_response(body, status=status, headers=headers)


def _hub(request: Request) -> MailHub:
    return request.app.state.hub


def _authorized(request: Request, hub: MailHub) -> Response | None:
    presented = request.headers.get("authorization", "")
    if not presented.startswith("Bearer "):
        return _error(401, "missing_api_key", "Missing API key in the authorization header.")
    if presented[len("Bearer ") :] != hub.config.resend_api_key:
        return _error(403, "invalid_api_key", "API key is invalid")
    return None


FORMAT = (
    "The email address needs to follow the `email@example.com`"
    " or `Name <email@example.com>` format."
)


def _validate(email: ResendEmail) -> str | None:
    if not email.from_ or not ADDRESS.match(email.from_):
        return f"Invalid `from` field. {FORMAT}"
    to = [email.to] if isinstance(email.to, str) else (email.to or [])
    if not to or len(to) > 50 or not all(ADDRESS.match(a) for a in to):
        return f"Invalid `to` field. {FORMAT}"
    if not email.subject:
        return "Missing `subject` field."
    if not email.html and not email.text:
        return "Missing `html` or `text` field."
    return None


async def _client_left(receive: Callable[[], Awaitable[dict]], seconds: float) -> bool:
    """Wait up to `seconds` (the body already read) for the client to disconnect."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


# Resend's error names (https://resend.com/docs/api-reference/errors).
RESEND_ERRORS = {
    400: "validation_error",
    401: "missing_api_key",
    403: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    422: "validation_error",
    451: "security_error",
    500: "application_error",
}
RESEND = "resend"  # the key of Resend's rate limit among the strict counters


def _throttled(wait: float) -> Response:
    headers = {
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": str(whole_seconds(wait)),
        "retry-after": str(whole_seconds(wait)),
    }
    return _error(429, "rate_limit_exceeded", "Too many requests.", headers)


async def _fault(failure: Failure, hub: MailHub) -> Response:
    if failure is Failure.RATE_LIMIT:
        hub.counters.told_to_wait(RESEND, hub.faults.retry_after)
        return _throttled(hub.faults.retry_after)
    status = hub.faults.error_status
    return _error(status, "internal_server_error", http.HTTPStatus(status).phrase)


@post("/emails", status_code=200)
async def send_email(request: Request) -> Response:
    hub = _hub(request)
    hub.stats.record_path(request.url.path)
    response = await _send(request, hub)
    hub.stats.record_status(response.status_code)
    return response


async def _send(request: Request, hub: MailHub) -> Response:
    refusal = _authorized(request, hub)
    if refusal is not None:
        return refusal
    raw = await request.body()
    waiting = hub.counters.waiting_for(RESEND)
    if waiting > 0:  # sent before the Retry-After of an earlier 429 ran out
        hub.counters.limited_request(RESEND)
        return _throttled(waiting)
    faults = hub.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.take_hang() and await _client_left(request.receive, faults.hang_seconds):
        return Response(content=b"", status_code=499)  # nobody is there to answer
    failure = faults.take_failure()
    if failure is not None:
        return await _fault(failure, hub)
    if hub.mail_faults.take("resend_error_next"):
        status = hub.mail_faults.resend_error_status
        return _error(status, RESEND_ERRORS.get(status, "application_error"), "Emulated error.")
    try:
        email = msgspec.json.decode(raw, type=ResendEmail)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _error(422, "validation_error", f"Invalid request body: {exc}")
    problem = _validate(email)
    if problem:
        return _error(422, "validation_error", problem)
    key = request.headers.get("idempotency-key")
    if key is not None:
        remembered = hub.idempotency.get(key)
        if remembered is not None:
            if remembered.digest != digest(raw):
                return _error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
            return json_response({"id": remembered.email_id})
    to = [email.to] if isinstance(email.to, str) else list(email.to or [])
    entry = hub.record(
        "resend",
        sender=email.from_,
        to=to,
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=email.headers,
        idempotency_key=key,
        message_id=None,
    )
    if key is not None:
        hub.idempotency[key] = Remembered(digest(raw), entry["id"])
    if hub.mail_faults.take("hold_after_accept_next"):
        started = time.monotonic()
        if await _client_left(request.receive, hub.mail_faults.hold_after_accept_seconds):
            entry["answer_lost_after"] = round(time.monotonic() - started, 3)
    return json_response({"id": entry["id"]})
