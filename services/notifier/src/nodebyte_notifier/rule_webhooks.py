"""Alert rules' own webhooks: the URLs an `alert.raised` brings, as delivery targets.

The node-agent-gateway seals a rule's URLs under the alert ("alert:<alert_id>").
Here they are opened, checked by the same rules as registered webhooks, and
kept sealed under their own id, which is derived from the URL so one URL is one
target (and one rate-limit bucket) however many alerts name it. A delivery's
target is "alert-rule:<id>"; Discord refusing one disables nothing (the rule
is not ours): its deliveries fail and say why.
"""

from __future__ import annotations

import logging
from uuid import UUID, uuid5

import asyncpg
import msgspec

from nodebyte_common import events
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url
from nodebyte_notifier.webhook_store import url_digest

log = logging.getLogger(__name__)

TARGET_PREFIX = "alert-rule:"
_NAMESPACE = UUID("6f1d7c3e-2b4a-4e59-9a51-3c2f0e8b7d14")  # ids of rule webhook URLs


def is_target(target: str) -> bool:
    return target.startswith(TARGET_PREFIX)


def target_of(webhook_id: UUID) -> str:
    return f"{TARGET_PREFIX}{webhook_id}"


def target_id(target: str) -> UUID:
    return UUID(target.removeprefix(TARGET_PREFIX))


def url_context(webhook_id: UUID) -> str:
    return f"alert-rule-webhook:{webhook_id}"


def opened_urls(sealer: Sealer | None, sealed: str | None, alert_id: UUID) -> list[str]:
    """The URLs an alert brought; none (and an error logged) when they do not open."""
    if not sealed:
        return []
    try:
        if sealer is None:
            raise SealingError("ENCRYPTION_KEYS is not configured")
        return msgspec.json.decode(
            sealer.open(sealed, events.alert_webhooks_context(alert_id)), type=list[str]
        )
    except (SealingError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error(
            "an alert's rule webhooks do not open; it goes to the other webhooks only",
            extra={"alert_id": str(alert_id), "error": str(exc)},
        )
        return []


async def targets_for(
    conn: asyncpg.Connection, sealer: Sealer, urls: list[str], allowed_hosts: frozenset[str]
) -> list[str]:
    """Keep each acceptable URL (sealed) and return its target; refuse the others."""
    accepted: dict[UUID, str] = {}  # a URL named twice is posted to once
    for url in urls:
        try:
            checked = parse_webhook_url(url, allowed_hosts)
        except WebhookUrlError as exc:
            log.warning("an alert rule's webhook URL is refused", extra={"reason": str(exc)})
            continue
        accepted[uuid5(_NAMESPACE, url_digest(checked.url).hex())] = checked.url
    if accepted:
        await conn.execute(
            """INSERT INTO alert_rule_webhooks (id, url_sealed)
               SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (id) DO NOTHING""",
            list(accepted),
            [sealer.seal(url, url_context(i)) for i, url in accepted.items()],
        )
    return [target_of(webhook_id) for webhook_id in accepted]


async def sealed_urls(conn: asyncpg.Connection, ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, url_sealed FROM alert_rule_webhooks WHERE id = ANY($1::uuid[])", ids
    )
