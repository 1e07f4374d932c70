"""`/api/admin/settings`: every service's settings as one object, under the reference's names.

GET reads each owner (see settings_owners) and renames its fields; an owner that
cannot be reached leaves its fields null and is named in the message, so one
service down does not hide the others' settings. POST splits a
flat body by owner, lets every owner validate its part before any saves, and
answers with the new whole. Secrets leave only masked. `POST …/test` probes the
panel (sync) and the mail provider (notifier).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Request, get, post
from litestar.params import JSONBody

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.egress.policy import EgressRefused, check_form
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import mask
from nodebyte_gateway import settings_owners
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.schemas import (
    AdminSettings,
    AdminSettingsUpdate,
    ConnectionCandidates,
    ConnectionCheck,
    ConnectionChecks,
)
from nodebyte_gateway.settings_owners import OwnerSettings

T = TypeVar("T")
SOURCE = "nodebyte/gateway"
MASK_PREFIX = "••••"


@dataclass(frozen=True)
class Key:
    owner: str  # "panel" (sync), "autoSync" (scheduler) or "mail" (notifier)
    name: str  # the owner's name for it
    writable: bool = True
    secret: bool = False


KEYS: dict[str, Key] = {
    "pterodactylUrl": Key("panel", "panelUrl"),
    "pterodactylApiKey": Key("panel", "applicationKey", secret=True),
    "pterodactylClientApiKey": Key("panel", "clientKey", secret=True),
    "pterodactylApiKeySet": Key("panel", "applicationKeySet", writable=False),
    "pterodactylClientApiKeySet": Key("panel", "clientKeySet", writable=False),
    "syncBatchSize": Key("panel", "pageSize"),
    "syncFetchConcurrency": Key("panel", "fetchConcurrency"),
    "subusersEnabled": Key("panel", "subusersEnabled"),
    "subusersBatchSize": Key("panel", "subusersBatchSize"),
    "syncLogRetentionDays": Key("panel", "logRetentionDays"),
    "autoSyncEnabled": Key("autoSync", "autoSyncEnabled"),
    "autoSyncInterval": Key("autoSync", "autoSyncInterval"),
    "autoSyncSchedule": Key("autoSync", "autoSyncSchedule", writable=False),
    "autoSyncNextRunAt": Key("autoSync", "autoSyncNextRunAt", writable=False),
    "autoSyncLastRunAt": Key("autoSync", "autoSyncLastRunAt", writable=False),
    "autoSyncLastStatus": Key("autoSync", "autoSyncLastStatus", writable=False),
    "emailProvider": Key("mail", "emailProvider", writable=False),
    "emailConfigured": Key("mail", "emailConfigured", writable=False),
    "emailFrom": Key("mail", "emailFrom", writable=False),
    "adminEmailTo": Key("mail", "adminEmailTo", writable=False),
    "discordWebhookConfigured": Key("mail", "discordWebhookConfigured", writable=False),
}


def routes(ctx: GatewayContext) -> list[Any]:
    owners = {
        "panel": settings_owners.panel_settings(ctx),
        "autoSync": settings_owners.auto_sync_settings(ctx),
        "mail": settings_owners.mail_settings(ctx),
    }

    @get(
        "/api/admin/settings",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=["admin"],
        summary="Every service's settings in one object (secrets masked)",
    )
    async def get_settings() -> Answer[AdminSettings]:
        merged, unreachable = await read_available(owners)
        settings = msgspec.convert(merged, AdminSettings)
        if not unreachable:
            return Answer(data=settings)
        message = f"Not reachable now, shown as null: {', '.join(unreachable)}"
        return Answer(data=settings, message=message)

    @post(
        "/api/admin/settings",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=["admin"],
        status_code=200,
        summary="Change settings; each key goes to the service that owns it",
    )
    async def update_settings(
        data: JSONBody[AdminSettingsUpdate], request: Request
    ) -> Answer[AdminSettings]:
        body = msgspec.to_builtins(data)  # the given settings (null ones are not changes)
        _check_panel_url(body)
        parts = split_by_owner(body)
        label = caller(request).label
        if "panel" in parts:
            parts["panel"]["changedBy"] = label
        before = await aggregate(owners)
        await _as_public(settings_owners.change((owners[o], c) for o, c in parts.items()))
        after = await aggregate(owners)
        changed = {owners[owner].client.name: sorted(c) for owner, c in parts.items()}
        async with ctx.runtime.pool.acquire() as conn, conn.transaction():
            await _record(conn, request, {k: before[k] for k in body}, {k: after[k] for k in body})
            await _announce(conn, changed, label, _shown(body, after, owners))
        return Answer(data=msgspec.convert(after, AdminSettings), message="Settings updated")

    @post(
        "/api/admin/settings/test",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=["admin"],
        status_code=200,
        summary="Check the panel and mail connections (optionally a panel URL/key not yet saved)",
    )
    async def test_connections(
        data: JSONBody[ConnectionCandidates | None] = None,
    ) -> Answer[ConnectionChecks]:
        candidates = msgspec.to_builtins(data) if data is not None else {}
        panel = {KEYS[k].name: v for k, v in candidates.items()}
        _check_panel_url(candidates)
        results = await _as_public(
            asyncio.gather(
                _probe(owners["panel"], "/sync/settings/test", panel),
                _probe(owners["mail"], "/email/test", None),
            )
        )
        checks = ConnectionChecks(panel=results[0], mail=results[1])
        working = checks.panel.ok and checks.mail.ok
        return Answer(
            data=checks, message="All connections work" if working else "A connection failed"
        )

    return [get_settings, update_settings, test_connections]


async def aggregate(owners: dict[str, OwnerSettings]) -> dict[str, Any]:
    """Every owner's settings under the public names; any owner's failure is raised."""
    names = list(owners)
    read = dict(zip(names, await asyncio.gather(*(owners[n].read() for n in names)), strict=True))
    return _merged(read)


async def read_available(
    owners: dict[str, OwnerSettings],
) -> tuple[dict[str, Any], list[str]]:
    """What the reachable owners hold (the others' fields null), and the unreachable services."""
    names = list(owners)
    results = await asyncio.gather(*(owners[n].read() for n in names), return_exceptions=True)
    read: dict[str, dict[str, Any]] = {}
    unreachable: list[str] = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, ApiError) and result.status >= 500:
            read[name] = {}
            unreachable.append(owners[name].client.name)
        elif isinstance(result, BaseException):
            raise result
        else:
            read[name] = result
    return _merged(read), unreachable


def _merged(read: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Public names over each owner's fields; secrets masked whatever an owner sent."""
    merged: dict[str, Any] = {}
    for public, key in KEYS.items():
        value = read[key.owner].get(key.name)
        merged[public] = _masked(value) if key.secret else value
    return merged


async def _record(conn: Any, request: Request, before: Any, after: Any) -> None:
    """The audit entry: the given keys before and after, as masked as they were answered."""
    await audit.record(conn, None, "settings.updated", "settings", before, after, request)


async def _announce(
    conn: Any, changed: dict[str, list[str]], label: str | None, shown: dict[str, dict[str, str]]
) -> None:
    """`settings.changed` per owning service, sent with the audit entry's transaction."""
    for service, keys in changed.items():
        event = events.SettingsChanged(
            owner=service,
            keys=[k for k in keys if k != "changedBy"],
            changed_by=label,
            shown=shown.get(service, {}),
        )
        await outbox.enqueue(conn, event, source=SOURCE)


def _shown(
    body: dict[str, Any], after: dict[str, Any], owners: dict[str, Any]
) -> dict[str, dict[str, str]]:
    """The given keys' new values as answered (secrets already masked), per owning service."""
    shown: dict[str, dict[str, str]] = {}
    for public in body:
        value = after.get(public)
        text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
        shown.setdefault(owners[KEYS[public].owner].client.name, {})[public] = text
    return shown


def split_by_owner(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The body's keys grouped by owner, under the owner's names (400: unknown or read-only)."""
    if not body:
        raise ApiError(400, "No settings given")
    unknown = sorted(k for k in body if k not in KEYS)
    if unknown:
        raise ApiError(
            400, f"Unknown setting(s): {', '.join(unknown)}", details={"unknown": unknown}
        )
    read_only = sorted(k for k in body if not KEYS[k].writable)
    if read_only:
        raise ApiError(
            400, f"Read-only setting(s): {', '.join(read_only)}", details={"readOnly": read_only}
        )
    parts: dict[str, dict[str, Any]] = {}
    for public, value in body.items():
        key = KEYS[public]
        parts.setdefault(key.owner, {})[key.name] = value
    return parts


async def _as_public(pending: Awaitable[T]) -> T:
    """Await owners; an owner's refusal names the fields as the caller did."""
    try:
        return await pending
    except ApiError as exc:
        for public, key in KEYS.items():
            exc.message = exc.message.replace(f"`$.{key.name}`", f"`$.{public}`")
        raise


def _check_panel_url(body: dict[str, Any]) -> None:
    """Refuse at the edge a panel URL no policy could allow (credentials, not http(s)).
    Which addresses it may reach is sync's to say: it holds PANEL_ALLOWED_HOSTS."""
    url = body.get("pterodactylUrl")
    if not isinstance(url, str):
        return  # absent, or refused by sync with the field's name
    try:
        check_form(url)
    except EgressRefused as exc:
        raise ApiError(400, f"`$.pterodactylUrl` is refused: {exc}", "INVALID_PANEL_URL") from None


async def _probe(owner: OwnerSettings, path: str, body: Any) -> ConnectionCheck:
    """The owner's probe; an owner that fails is a failed check."""
    try:
        return (await owner.client.call_as(Answer[ConnectionCheck], "POST", path, json=body)).data
    except ApiError as exc:
        if exc.status < 500:
            raise  # the candidates were refused: the caller's mistake
        return ConnectionCheck(ok=False, error=exc.message)


def _masked(value: Any) -> Any:
    if not isinstance(value, str) or not value or value.startswith(MASK_PREFIX):
        return value
    return mask(value)
