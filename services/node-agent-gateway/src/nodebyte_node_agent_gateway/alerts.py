"""Raising and resolving alerts, de-duplicated by fingerprint within a cooldown.

An alert is not raised again while one with the same fingerprint (rule, kind,
subject) is unresolved or was raised within the cooldown. Raising takes a
transaction-scoped advisory lock on the fingerprint, so two replicas seeing the
same crash at once still raise one alert.

A rule's webhook actions travel with its `alert.raised`: their URLs, sealed at
rest under the rule, are opened and sealed again under the alert for the
notifier, which posts the alert (and later its resolution) to each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_node_agent_gateway import alert_rules

log = logging.getLogger(__name__)

SOURCE = "nodebyte/node-agent-gateway"


@dataclass(frozen=True)
class AlertPolicy:
    """How alerts are raised: the cooldown, and the keys of the rules' webhook URLs."""

    cooldown_seconds: float
    sealer: Sealer | None

    def webhooks_for_notifier(self, draft: AlertDraft, alert_id: UUID) -> str | None:
        """The rule's webhook URLs, sealed for this alert's event; None when it has none."""
        urls = [url for action in draft.actions if (url := self._open(draft, action))]
        if not urls or self.sealer is None:
            return None
        return self.sealer.seal(
            msgspec.json.encode(urls).decode(), events.alert_webhooks_context(alert_id)
        )

    def _open(self, draft: AlertDraft, action: dict[str, str]) -> str | None:
        if action.get("type") != "webhook" or draft.rule_id is None:
            return None
        try:
            if self.sealer is None:
                raise SealingError("ENCRYPTION_KEYS is not configured")
            return self.sealer.open(action["url"], alert_rules.url_context(draft.rule_id))
        except (KeyError, SealingError) as exc:
            log.error(
                "an alert rule's webhook URL does not open; the alert goes without it",
                extra={"rule_id": str(draft.rule_id), "error": str(exc)},
            )
            return None


@dataclass(frozen=True)
class AlertDraft:
    fingerprint: str
    type: str
    severity: str
    title: str
    message: str
    rule_id: UUID | None = None
    node_id: UUID | None = None
    server_id: UUID | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, str]] = field(default_factory=list)  # the rule's, URLs sealed


async def raise_alert(
    conn: asyncpg.Connection, draft: AlertDraft, policy: AlertPolicy
) -> UUID | None:
    """Create the alert and its `alert.raised` event unless it duplicates a recent one."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", draft.fingerprint)
    duplicate = await conn.fetchval(
        """SELECT true FROM alerts WHERE fingerprint = $1
             AND (NOT resolved OR created_at > now() - make_interval(secs => $2)) LIMIT 1""",
        draft.fingerprint,
        policy.cooldown_seconds,
    )
    if duplicate:
        return None
    alert_id = uuid6.uuid7()
    raised_at = await conn.fetchval(
        """INSERT INTO alerts (id, rule_id, fingerprint, node_id, server_id, type, severity,
                               title, message, metadata)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING created_at""",
        alert_id,
        draft.rule_id,
        draft.fingerprint,
        draft.node_id,
        draft.server_id,
        draft.type,
        draft.severity,
        draft.title,
        draft.message,
        draft.metadata,
    )
    await outbox.enqueue(
        conn,
        events.AlertRaised(
            alert_id=alert_id,
            rule_type=draft.type,
            severity=draft.severity,  # type: ignore[arg-type]
            title=draft.title,
            message=draft.message,
            node_id=draft.node_id,
            server_id=draft.server_id,
            raised_at=raised_at,
            sealed_webhooks=policy.webhooks_for_notifier(draft, alert_id),
        ),
        source=SOURCE,
    )
    return alert_id


async def matching_rules(
    conn: asyncpg.Connection, rule_type: str, subject_id: UUID
) -> list[asyncpg.Record]:
    """Enabled rules of `rule_type` aimed at every subject or at this one."""
    return await conn.fetch(
        """SELECT * FROM alert_rules WHERE enabled AND type = $1
             AND (target_id = '*' OR target_id = $2) ORDER BY created_at""",
        rule_type,
        str(subject_id),
    )


async def raise_node_offline(
    conn: asyncpg.Connection, node: asyncpg.Record, policy: AlertPolicy
) -> list[UUID]:
    raised = []
    for rule in await matching_rules(conn, "node_offline", node["id"]):
        seen = node["last_seen_at"]
        draft = AlertDraft(
            fingerprint=f"rule:{rule['id']}:node_offline:{node['id']}",
            type="node_offline",
            severity=rule["severity"],
            title="Node offline",
            message=f"Node {node['name']} has not been heard from since "
            f"{seen.astimezone(UTC).isoformat(timespec='seconds')}",
            rule_id=rule["id"],
            node_id=node["id"],
            metadata={"lastSeenAt": seen.isoformat()},
            actions=rule["actions"],
        )
        if (alert_id := await raise_alert(conn, draft, policy)) is not None:
            raised.append(alert_id)
    return raised


async def raise_server_crashed(
    conn: asyncpg.Connection,
    server: asyncpg.Record,
    policy: AlertPolicy,
    *,
    limit_reached: bool,
) -> list[UUID]:
    raised = []
    for rule in await matching_rules(conn, "server_crashed", server["id"]):
        metadata = {
            "crashCount": server["crash_count"],
            "maxCrashCount": server["max_crash_count"],
            "exitCode": server["last_exit_code"],
            "restartPolicy": server["restart_policy"],
        }
        drafts = [
            AlertDraft(
                fingerprint=f"rule:{rule['id']}:server_crashed:{server['id']}",
                type="server_crashed",
                severity=rule["severity"],
                title="Server crashed",
                message=f"Server {server['name']} crashed "
                f"(exit code {server['last_exit_code']}, crash {server['crash_count']})",
                rule_id=rule["id"],
                node_id=server["node_id"],
                server_id=server["id"],
                metadata=metadata,
                actions=rule["actions"],
            )
        ]
        if limit_reached:
            drafts.append(
                AlertDraft(
                    fingerprint=f"rule:{rule['id']}:crash_limit:{server['id']}",
                    type="server_crashed",
                    severity="critical",
                    title="Crash limit reached",
                    message=f"Server {server['name']} crashed {server['crash_count']} times; "
                    "it will not be restarted until its crash count is reset",
                    rule_id=rule["id"],
                    node_id=server["node_id"],
                    server_id=server["id"],
                    metadata=metadata,
                    actions=rule["actions"],
                )
            )
        for draft in drafts:
            if (alert_id := await raise_alert(conn, draft, policy)) is not None:
                raised.append(alert_id)
    return raised


async def resolve(
    conn: asyncpg.Connection, alert_ids: list[UUID], resolved_by: str | None
) -> list[UUID]:
    """Resolve the unresolved ones among `alert_ids`; emit `alert.resolved` for each."""
    rows = await conn.fetch(
        """UPDATE alerts SET resolved = true, resolved_at = now(), resolved_by = $2
           WHERE id = ANY($1::uuid[]) AND NOT resolved RETURNING id, resolved_at""",
        alert_ids,
        resolved_by,
    )
    for row in rows:
        await outbox.enqueue(
            conn,
            events.AlertResolved(
                alert_id=row["id"], resolved_at=row["resolved_at"], resolved_by=resolved_by
            ),
            source=SOURCE,
        )
    return [row["id"] for row in rows]


async def resolve_node_offline(conn: asyncpg.Connection, node_id: UUID) -> list[UUID]:
    """A node that came back resolves its open offline alerts."""
    ids = await conn.fetch(
        """SELECT id FROM alerts WHERE node_id = $1 AND type = 'node_offline'
             AND NOT resolved""",
        node_id,
    )
    return await resolve(conn, [r["id"] for r in ids], "system")


_FILTER = """($1::uuid IS NULL OR server_id = $1) AND ($2::uuid IS NULL OR node_id = $2)
    AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR severity = $4)
    AND ($5::boolean IS NULL OR resolved = $5)"""


async def page(
    conn: asyncpg.Connection,
    *,
    server_id: UUID | None,
    node_id: UUID | None,
    type_: str | None,
    severity: str | None,
    resolved: bool | None,
    offset: int,
    limit: int,
) -> tuple[list[asyncpg.Record], int]:
    args = (server_id, node_id, type_, severity, resolved)
    rows = await conn.fetch(
        f"""SELECT * FROM alerts WHERE {_FILTER}
            ORDER BY created_at DESC, id DESC OFFSET $6 LIMIT $7""",
        *args,
        offset,
        limit,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM alerts WHERE {_FILTER}", *args)
    return rows, total


async def get(conn: asyncpg.Connection, alert_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)


async def stats(conn: asyncpg.Connection) -> dict[str, Any]:
    total, unresolved = await conn.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE NOT resolved) FROM alerts"
    )
    by_type = await conn.fetch("SELECT type, count(*) AS n FROM alerts GROUP BY type")
    by_severity = await conn.fetch("SELECT severity, count(*) AS n FROM alerts GROUP BY severity")
    return {
        "total": total,
        "unresolved": unresolved,
        "byType": {"resource_threshold": 0, "node_offline": 0, "server_crashed": 0}
        | {r["type"]: r["n"] for r in by_type},
        "bySeverity": {"info": 0, "warning": 0, "critical": 0}
        | {r["severity"]: r["n"] for r in by_severity},
    }
