"""LiveSessions asks the database once per session at a time, and forgets on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

from nodebyte_gateway.accounts.live_sessions import LiveSessions


class SlowDatabase:
    """Answers `session_access` after a pause, counting the queries it was asked."""

    def __init__(self) -> None:
        self.queries = 0
        self.roles = ["TECH_TEAM"]

    async def fetchrow(self, *_: Any) -> dict[str, Any]:
        self.queries += 1
        roles = list(self.roles)  # as the database read them when asked
        await asyncio.sleep(0.05)
        return {"email": "a@b.test", "roles": roles, "permissions": ["sync.*"]}

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[SlowDatabase]:
        yield self


async def test_concurrent_requests_of_one_session_share_one_query() -> None:
    database = SlowDatabase()
    sessions = LiveSessions(lambda: database)  # type: ignore[arg-type, return-value]
    session, user = uuid4(), uuid4()
    answers = await asyncio.gather(*(sessions.access(session, user) for _ in range(64)))
    assert database.queries == 1
    assert {a.roles for a in answers if a} == {("TECH_TEAM",)}
    await sessions.access(session, user)  # remembered
    assert database.queries == 1


async def test_a_look_up_under_way_when_forgotten_is_not_remembered() -> None:
    database = SlowDatabase()
    sessions = LiveSessions(lambda: database)  # type: ignore[arg-type, return-value]
    session, user = uuid4(), uuid4()
    under_way = asyncio.ensure_future(sessions.access(session, user))
    await asyncio.sleep(0.01)
    database.roles = ["MEMBER"]  # demoted, by this replica: it forgets
    sessions.forget()
    assert (await under_way).roles == ("TECH_TEAM",)  # asked before the change
    assert (await sessions.access(session, user)).roles == ("MEMBER",)
    assert database.queries == 2
