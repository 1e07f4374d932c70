"""The sync service's internal HTTP API (reached only by the gateway)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, Parameter, QueryParameter

from nodebyte_common.circuit_breaker import CircuitOpenError
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.contracts.probes import ConnectionCheck
from nodebyte_common.contracts.query import takes_query
from nodebyte_common.contracts.server_resources import (
    SERVER_REF,
    SERVER_RESOURCES,
    ServerResources,
)
from nodebyte_common.contracts.sync import (
    Counts,
    LivePage,
    LivePages,
    LiveQuery,
    Offsets,
    PanelCandidate,
    PanelReset,
    PanelSettings,
    PanelSettingsSaved,
    PanelSettingsUpdate,
    PanelState,
    ServerStats,
    SyncLog,
    SyncLogPage,
    SyncLogsQuery,
    SyncState,
    UserStats,
)
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.pterodactyl import PanelError, parse_list
from nodebyte_common.runtime import Runtime
from nodebyte_sync import panel_failures, panel_probe, stats_queries, store
from nodebyte_sync.environment_secrets import EnvironmentSecrets
from nodebyte_sync.panel_connection import PanelConnection
from nodebyte_sync.panel_settings import (
    EDITABLE,
    PanelSettingsStore,
    checked_changes,
    same_panel,
)
from nodebyte_sync.server_resources import LiveResources


def log_view(row: asyncpg.Record) -> SyncLog:
    """A sync log in the reference's shape."""
    return SyncLog(
        id=row["id"],
        type=row["type"],
        status=row["status"],
        items_total=row["items_total"],
        items_synced=row["items_synced"],
        items_failed=row["items_failed"],
        error=row["error"],
        metadata=row["metadata"],
        requested_by=row["requested_by"],
        cancel_requested=row["cancel_requested"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
    )


def internal_routes(
    runtime: Runtime,
    panel: PanelConnection,
    settings_store: PanelSettingsStore,
    secrets: EnvironmentSecrets,
) -> list[Any]:
    live_resources = LiveResources(runtime, panel)

    @get(SERVER_RESOURCES.replace("{server_id}", "{server_id:str}"))
    async def server_resources(
        server_id: Annotated[str, Parameter(pattern=SERVER_REF)],
    ) -> Answer[ServerResources]:
        return Answer(data=await live_resources.read(server_id))

    @get("/sync/logs/{log_id:uuid}")
    async def get_sync_log(log_id: FromPath[UUID]) -> Answer[SyncLog]:
        async with runtime.pool.acquire() as conn:
            row = await store.get_log(conn, log_id)
        if row is None:
            raise ApiError(404, "Sync log not found")
        return Answer(data=log_view(row))

    @get("/sync/logs")
    @takes_query(SyncLogsQuery)
    async def list_sync_logs(query: SyncLogsQuery) -> SyncLogPage:
        async with runtime.pool.acquire() as conn:
            rows, total = await store.list_logs(
                conn, limit=query.limit, offset=query.offset, kind=query.type
            )
        return SyncLogPage(
            data=[log_view(r) for r in rows],
            pagination=Offsets(limit=query.limit, offset=query.offset, total=total),
        )

    @get("/sync/state")
    async def sync_state() -> Answer[SyncState]:
        async with runtime.pool.acquire() as conn:
            current, last = await store.current_and_last(conn)
            settings = await panel.refresh(conn)
        state = SyncState(
            current=log_view(current) if current else None,
            last_sync=log_view(last) if last else None,
            is_running=current is not None and current["status"] == "RUNNING",
            panel=PanelState(
                url=settings.panel_url,
                configured=bool(settings.application_key),
                circuit=panel.breaker_view(),
            ),
        )
        return Answer(data=state)

    @post("/sync/panel/reset", status_code=200)
    async def reset_panel_circuit() -> Answer[PanelReset]:
        panel.breaker.reset()
        reset = PanelReset(circuit=panel.breaker_view())
        return Answer(data=reset, message="Panel polling restarted")

    @get("/sync/settings")
    async def get_settings() -> Answer[PanelSettings]:
        async with runtime.pool.acquire() as conn:
            settings = await panel.refresh(conn)
        return Answer(data=settings.public_view())

    @post("/sync/settings", status_code=200)
    async def update_settings(
        request: Request, dry_run: Annotated[bool, QueryParameter(name="dryRun")] = False
    ) -> Answer[PanelSettingsSaved]:
        """Save the given settings; `dryRun` only validates them (nothing is saved)."""
        update = decode_body(await request.body(), PanelSettingsUpdate)
        given = {k: v for k, v in msgspec.structs.asdict(update).items() if v is not None}
        changes = {EDITABLE[k]: v for k, v in given.items() if k in EDITABLE}
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await panel.refresh(conn)
            changes = checked_changes(current, changes, panel.egress)
            if dry_run:
                after = replace(current, **changes)
            else:
                await settings_store.save(conn, current, changes, update.changedBy)
                after = await panel.refresh(conn)
        saved = PanelSettingsSaved(
            before=current.public_view(),
            after=after.public_view(),
            changed=sorted(k for k in given if k in EDITABLE),
        )
        return Answer(
            data=saved, message="Sync settings are valid" if dry_run else "Sync settings saved"
        )

    @post("/sync/settings/test", status_code=200)
    async def test_panel_connection(request: Request) -> Answer[ConnectionCheck]:
        """Probe the saved panel settings, or candidates given in the body before saving them.

        The saved key is only ever sent to the saved URL: a new URL is tried with its own key.
        """
        candidate = decode_body(await request.body(), PanelCandidate)
        async with runtime.pool.acquire() as conn:
            saved = await panel.refresh(conn)
        url = candidate.panelUrl or saved.panel_url
        if not same_panel(url, saved.panel_url) and not candidate.applicationKey:
            raise ApiError(
                400,
                "Testing a new panel URL needs its application key (`$.applicationKey`)",
                "PANEL_KEY_REQUIRED",
            )
        tried = replace(
            saved, panel_url=url, application_key=candidate.applicationKey or saved.application_key
        )
        return Answer(data=await panel_probe.probe(tried, panel.egress))

    @get("/stats")
    async def counts() -> Answer[Counts]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=await stats_queries.counts(conn))

    @get("/stats/servers")
    async def server_stats() -> Answer[ServerStats]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=await stats_queries.server_stats(conn))

    @get("/stats/users")
    async def user_stats() -> Answer[UserStats]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=await stats_queries.user_stats(conn))

    @get("/panel/live/{kind:str}")
    @takes_query(LiveQuery)
    async def live(kind: FromPath[str], query: LiveQuery) -> LivePage:
        if kind not in ("servers", "nodes"):
            raise ApiError(404, "Only servers and nodes can be read live from the panel")
        async with runtime.pool.acquire() as conn:
            await panel.refresh(conn)
        client = panel_failures.client_of(panel)
        per_page = query.per_page
        try:
            body = await client.application(f"/{kind}", {"page": query.page, "per_page": per_page})
        except (CircuitOpenError, PanelError) as exc:
            raise panel_failures.answer(exc, "The panel could not be read") from None
        result = parse_list(body)
        items = result.items
        if kind == "servers":  # the panel answers with each server's whole environment
            items = [secrets.masked_server(item) for item in items]
        pages = LivePages(
            page=result.current_page,
            per_page=per_page,
            total=result.total,
            total_pages=result.total_pages,
        )
        return LivePage(data=items, pagination=pages)

    return [
        server_resources,
        get_sync_log,
        list_sync_logs,
        sync_state,
        reset_panel_circuit,
        get_settings,
        update_settings,
        test_panel_connection,
        counts,
        server_stats,
        user_stats,
        live,
    ]
