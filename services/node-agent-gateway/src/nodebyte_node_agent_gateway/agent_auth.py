"""Whether a handshake may open a session: the node's current token, outside a lockout."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from nodebyte_node_agent_gateway import deployment_tokens, lockout
from nodebyte_node_agent_gateway.agent_session import CLOSE_LOCKED, CLOSE_UNAUTHORIZED
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings


@dataclass(frozen=True)
class Rejection:
    close_code: int
    code: str
    message: str
    retry_after: float = 0.0


async def authenticate(
    pool: asyncpg.Pool, node_id: UUID, token: str, settings: NodeAgentGatewaySettings
) -> Rejection | None:
    """None when the agent may connect as `node_id`.

    The token is checked before the lock so an attacker learns nothing from
    which answer comes back; a right token during a lock is refused but not
    counted, so a legitimate agent's retries do not lengthen its own lock.
    """
    key = str(node_id)
    policy = {
        "threshold": settings.lockout_threshold,
        "base": settings.lockout_base_seconds,
        "cap": settings.lockout_max_seconds,
    }
    async with pool.acquire() as conn, conn.transaction():
        valid = await deployment_tokens.verify(conn, node_id, token)
        locked_for = await lockout.remaining(conn, key)
        if not valid:
            locked_for = max(locked_for, await lockout.record_failure(conn, key, **policy))
        elif locked_for <= 0:
            await lockout.clear(conn, key)
            return None
    if locked_for > 0:
        return Rejection(
            CLOSE_LOCKED,
            "LOCKED",
            "Too many failed handshakes for this node; try again later",
            retry_after=round(locked_for, 1),
        )
    return Rejection(CLOSE_UNAUTHORIZED, "INVALID_TOKEN", "Unknown node or invalid token")
