"""How game sessions are read and shown: the columns queries select, and the API view."""

from __future__ import annotations

import asyncpg

from nodebyte_common.contracts.hytale import PanelPush, Session
from nodebyte_common.sealing import mask

COLUMNS = """id, account_id, profile_uuid, server_id, status, expires_at, refresh_at,
    refreshed_at, refresh_failures, last_refresh_error, token_generation, pushed_generation,
    pushed_at, push_last_error, created_at, ended_at, end_reason,
    session_token_sealed, identity_token_sealed"""


def session_view(
    row: asyncpg.Record, session_token: str | None = None, identity_token: str | None = None
) -> Session:
    """A session as the API shows it: ids, times, push state, masked tokens at most."""
    return Session(
        session_id=row["id"],
        account_id=row["account_id"],
        profile_uuid=row["profile_uuid"],
        server_id=row["server_id"],
        status=row["status"],
        expires_at=row["expires_at"],
        refresh_at=row["refresh_at"],
        refreshed_at=row["refreshed_at"],
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        last_refresh_error=row["last_refresh_error"],
        session_token=mask(session_token),
        identity_token=mask(identity_token),
        panel=PanelPush(
            token_generation=row["token_generation"],
            pushed_generation=row["pushed_generation"],
            pushed_at=row["pushed_at"],
            last_error=row["push_last_error"],
        )
        if row["server_id"] is not None
        else None,
    )
