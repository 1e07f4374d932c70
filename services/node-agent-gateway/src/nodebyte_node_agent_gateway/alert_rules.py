"""Alert rules: what they may say, and their SQL.

A rule targets nodes or servers (`targetId` "*" or one id). `resource_threshold`
rules carry a condition: metric (cpu, memory or disk, in percent), operator,
value and how long (seconds) it must hold. Webhook URLs in actions carry the
webhook's secret, so they are sealed at rest and masked in every response.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from nodebyte_common.contracts.alerts import RuleBody
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, mask
from nodebyte_common.webhook_url import WebhookUrlError, parse_webhook_url

OPERATORS_SQL = {">": ">", "<": "<", ">=": ">=", "<=": "<=", "==": "="}


def check(body: RuleBody, webhook_hosts: frozenset[str] = frozenset()) -> None:
    """What the types alone cannot say about a rule; 400 when it does not hold.

    Webhook URLs obey the notifier's rules (Discord's hosts over https, or a host the
    operator allowed), so a rule can never aim the notifier at an internal address.
    """
    for action in body.actions:
        try:
            parse_webhook_url(action.url, webhook_hosts)
        except WebhookUrlError as exc:
            message = f"A webhook action's URL is refused: {exc}"
            raise ApiError(400, message, "INVALID_WEBHOOK_URL") from None

    if body.target_id != "*":
        try:
            UUID(body.target_id)
        except ValueError:
            raise ApiError(400, 'targetId must be "*" or a node or server id') from None
    if body.type == "resource_threshold" and body.conditions is None:
        raise ApiError(400, "A resource_threshold rule needs conditions")
    if body.type != "resource_threshold" and body.conditions is not None:
        raise ApiError(400, f"A {body.type} rule takes no conditions")
    wanted = {"node_offline": "node", "server_crashed": "server"}.get(body.type)
    if wanted is not None and body.target != wanted:
        raise ApiError(400, f"A {body.type} rule targets {wanted}s")


def url_context(rule_id: UUID) -> str:
    """What a rule's webhook URLs are sealed under: a sealed URL opens only for its rule."""
    return f"alert-rule:{rule_id}"


def sealed_actions(body: RuleBody, rule_id: UUID, sealer: Sealer | None) -> list[dict[str, str]]:
    if body.actions and sealer is None:
        raise ApiError(400, "Webhook actions need ENCRYPTION_KEYS configured on the service")
    assert sealer is not None or not body.actions
    return [
        {
            "type": a.type,
            "url": sealer.seal(a.url, url_context(rule_id)),  # type: ignore[union-attr]
            "urlHint": mask(a.url) or "",
        }
        for a in body.actions
    ]


async def insert(
    conn: asyncpg.Connection, rule_id: UUID, body: RuleBody, actions: list[dict[str, str]]
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO alert_rules (id, name, type, target, target_id, severity, conditions,
                                    actions, enabled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
        rule_id,
        body.name,
        body.type,
        body.target,
        body.target_id,
        body.severity,
        msgspec.to_builtins(body.conditions) if body.conditions else {},
        actions,
        body.enabled,
    )


async def replace(
    conn: asyncpg.Connection, rule_id: UUID, body: RuleBody, actions: list[dict[str, str]]
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE alert_rules SET name = $2, type = $3, target = $4, target_id = $5,
                  severity = $6, conditions = $7, actions = $8, enabled = $9, updated_at = now()
           WHERE id = $1 RETURNING *""",
        rule_id,
        body.name,
        body.type,
        body.target,
        body.target_id,
        body.severity,
        msgspec.to_builtins(body.conditions) if body.conditions else {},
        actions,
        body.enabled,
    )


async def all_rules(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM alert_rules ORDER BY created_at, id")


async def delete(conn: asyncpg.Connection, rule_id: UUID) -> bool:
    return (
        await conn.fetchval("DELETE FROM alert_rules WHERE id = $1 RETURNING true", rule_id)
        is not None
    )


async def threshold_rules(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM alert_rules WHERE enabled AND type = 'resource_threshold'"
    )
