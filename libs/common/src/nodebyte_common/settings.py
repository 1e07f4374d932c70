"""Settings from environment variables, validated by msgspec.

Each field of a settings Struct is read from the upper-cased variable of the
same name (`database_url` <- `DATABASE_URL`). A variable set to the empty string
means empty for a text setting with a default (`HYTALE_TOKEN_AUDIENCE=` switches
the audience check off); for a number, a flag or a required setting it is unset.
A missing or invalid variable stops the service with a message that names the
variable, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, TypeVar, Union, get_args, get_origin

import msgspec

T = TypeVar("T", bound=msgspec.Struct)

_FIELD_IN_ERROR = re.compile(r"`\$\.(\w+)`|field `(\w+)`")


class SettingsError(RuntimeError):
    """A required variable is missing or a variable has an invalid value."""


def env_name(field: str) -> str:
    """A field's variable: its encode name (`msgspec.field(name=...)`) upper-cased."""
    return field.upper()


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment; raise SettingsError naming the variable."""
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for field in msgspec.structs.fields(cls):
        value = environ.get(env_name(field.encode_name))
        if value is None or (value == "" and (field.required or not _is_text(field.type))):
            continue  # unset; an empty number or a required value is no value
        raw[field.encode_name] = value
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(cls, str(exc))) from None


def _is_text(annotation: object) -> bool:
    """Whether a setting holds text, so that an explicitly empty value means empty."""
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_text(get_args(annotation)[0])
    return origin in (Union, UnionType) and any(_is_text(a) for a in get_args(annotation))


def _explain(cls: type, message: str) -> str:
    match = _FIELD_IN_ERROR.search(message)
    field = next((g for g in match.groups() if g), None) if match else None
    if field is None:
        return f"invalid settings for {cls.__name__}: {message}"
    variable = env_name(field)
    if "missing required field" in message:
        return f"environment variable {variable} is required but not set"
    reason = message.split(" - at ")[0]
    return f"environment variable {variable} is invalid: {reason}"


def csv(value: str) -> list[str]:
    """Split a comma-separated variable into trimmed, non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]


DEFAULT_CONSUMER_PREFETCH = 256


LEGACY_KEY_ID = "legacy"


class CommonSettings(msgspec.Struct, kw_only=True, frozen=True):
    """What every service reads. Services extend it with their own fields."""

    # The service's own role: it owns its schema and can reach nothing else.
    database_url: str
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Names every exchange and queue, so test runs and stacks never mix.
    amqp_prefix: str = "nodebyte"
    host: str = "0.0.0.0"
    # Each service has its own default: gateway 8080 (BACKEND_PORT), sync 8081, hytale-auth 8082,
    # notifier 8083, scheduler 8084, node-agent-gateway 8085.
    port: int = msgspec.field(default=8080)
    service_token: str  # authenticates calls to /internal routes between services
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str = ""  # empty: tracing on, export off
    db_pool_min: int = 1
    db_pool_max: int = 10
    # asyncpg's cache of named prepared statements. 0 behind a transaction-pooling PgBouncer
    # (one before 1.21 cannot follow a named statement to another server connection).
    db_statement_cache_size: int = 100
    # Deliveries in flight per consumer; a batch applies up to half of them at once.
    consumer_prefetch: int = DEFAULT_CONSUMER_PREFETCH
    # Comma-separated origins allowed by CORS.
    cors_origins: str = ""
    max_body_bytes: int = 1_048_576
    # "kid:<64 hex>,…" for sealing secrets at rest (services that store secrets need it)
    encryption_keys: str = ""
    # The key new values are sealed with (default: the first).
    encryption_key_id: str = ""
    # The Go backend's single key (64 hex), still read: it joins ENCRYPTION_KEYS with the
    # id `legacy` (and seals new values when ENCRYPTION_KEYS is unset).
    encryption_key: str = ""
    # How long work that can resume (a sync's writes) retries a database or broker
    # outage before the work fails.
    transient_deadline_seconds: float = 60.0
    # How long start-up waits for the database and the broker before the service exits.
    startup_deadline_seconds: float = 300.0
    # On SIGTERM, how long the service keeps handling the events it already took
    # (taking no new ones) before it closes; keep it under the pod's grace period.
    shutdown_drain_seconds: float = 10.0

    @property
    def sealing_keys(self) -> str:
        """ENCRYPTION_KEYS, with ENCRYPTION_KEY (the Go backend's one key) as key `legacy`."""
        if not self.encryption_key:
            return self.encryption_keys
        legacy = f"{LEGACY_KEY_ID}:{self.encryption_key}"
        return f"{self.encryption_keys},{legacy}" if self.encryption_keys else legacy
