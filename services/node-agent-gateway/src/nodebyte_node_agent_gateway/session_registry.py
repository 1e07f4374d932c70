"""The agent sessions this replica holds, one per node."""

from __future__ import annotations

from uuid import UUID

from nodebyte_node_agent_gateway.agent_session import AgentSession
from nodebyte_node_agent_gateway.metrics import AGENT_SESSIONS


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[UUID, AgentSession] = {}

    def get(self, node_id: UUID) -> AgentSession | None:
        return self._sessions.get(node_id)

    def put(self, session: AgentSession) -> AgentSession | None:
        """Hold `session` for its node; return the session it replaces, if any."""
        previous = self._sessions.get(session.node_id)
        self._sessions[session.node_id] = session
        AGENT_SESSIONS.set(len(self._sessions))
        return previous

    def remove(self, session: AgentSession) -> bool:
        """Forget `session` if it is still the node's current one."""
        if self._sessions.get(session.node_id) is not session:
            return False
        del self._sessions[session.node_id]
        AGENT_SESSIONS.set(len(self._sessions))
        return True

    def all(self) -> list[AgentSession]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)
