"""Run one sync: pull each step's pages from the panel, mirror them in bulk.

Pages are fetched concurrently and each is written in one transaction with the
progress it represents (COPY into a staging table, then one upsert that skips
unchanged rows), so a crash loses at most the page in flight and the log always
says how far the sync got. Cancellation is checked before every page. After a
step, rows the panel no longer has are pruned.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common import events, inbox, outbox
from nodebyte_common.pterodactyl import PanelClient, PanelPage
from nodebyte_sync import store
from nodebyte_sync.page_fetcher import ListRequest, fetch_pages
from nodebyte_sync.panel_settings import PanelSettings
from nodebyte_sync.steps import Step, steps_for

PROGRESS_EVENT_INTERVAL = 0.25  # seconds: a few progress events per second at most
SOURCE = "nodebyte/sync"


class SyncCancelled(Exception):
    """An admin cancelled the sync; the log keeps how far it got."""


@dataclass
class Progress:
    step: str = ""
    total: int = 0
    synced: int = 0
    failed: int = 0
    written: int = 0  # rows actually inserted or changed
    counts: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    last_event_at: float = 0.0

    @property
    def percentage(self) -> float:
        return min(100.0, round(100.0 * self.synced / self.total, 1)) if self.total else 0.0


class SyncRun:
    def __init__(
        self,
        pool: asyncpg.Pool,
        panel: PanelClient,
        request: events.SyncRequested,
        *,
        consumer: str,
        event_id: UUID,
        settings: PanelSettings,
    ) -> None:
        self.pool = pool
        self.panel = panel
        self.request = request
        self.log_id = request.sync_log_id
        self.consumer = consumer
        self.event_id = event_id
        self.settings = settings
        self.progress = Progress()
        self.started = time.monotonic()

    async def execute(self) -> None:
        """Run every step, then record the outcome with its event (and the inbox row)."""
        steps = steps_for(
            self.request.kind,
            skip_users=self.request.skip_users,
            subusers=self.settings.subusers_enabled,
        )
        try:
            for step in steps:
                step_started = time.monotonic()
                await self._run_step(step)
                self.progress.step_seconds[step.name] = round(time.monotonic() - step_started, 3)
        except SyncCancelled:
            await self._finish("CANCELLED", None)
        except Exception as exc:
            await self._finish("FAILED", f"{self.progress.step}: {exc}"[:1000])
        else:
            await self._finish("COMPLETED", None)

    async def _run_step(self, step: Step) -> None:
        self.progress.step = step.name
        seen: dict[str, list[Any]] = defaultdict(list)
        linked: list[tuple[int, int]] = []  # (allocation id, server id)
        try:
            requests = step.requests(await self._parent_ids(step))
            async for request, page in fetch_pages(
                self.panel,
                requests,
                per_page=self._page_size(step),
                concurrency=self.settings.fetch_concurrency,
            ):
                await self._write_page(step, request, page, seen, linked)
        except SyncCancelled:
            raise
        except Exception as exc:
            if not step.optional:
                raise
            self.progress.failed += 1
            await self._note(f"{step.name} skipped: {exc}")
            return
        await self._after_step(step, seen, linked)

    def _page_size(self, step: Step) -> int:
        # The Client API caps per_page at 100; the Application API has no cap.
        return (
            min(100, self.settings.page_size)
            if step.name == "subusers"
            else self.settings.page_size
        )

    async def _parent_ids(self, step: Step) -> list[int]:
        if step.parent_table is None:
            return []
        async with self.pool.acquire() as conn:
            return [
                r["id"] for r in await conn.fetch(f"SELECT id FROM {step.parent_table} ORDER BY id")
            ]

    async def _write_page(
        self,
        step: Step,
        request: ListRequest,
        page: PanelPage,
        seen: dict[str, list[Any]],
        linked: list[tuple[int, int]],
    ) -> None:
        if page.current_page == 1:
            self.progress.total += page.total
        async with self.pool.acquire() as conn, conn.transaction():
            if await store.cancel_requested(conn, self.log_id):
                raise SyncCancelled
            for mirror in step.mirrors:
                rows = [row for item in page.items for row in mirror.rows(item, request.parent_id)]
                self.progress.written += await store.upsert_changed(
                    conn, mirror.table, mirror.columns, rows
                )
                seen[mirror.table].extend(row[0] for row in rows)
            if step.links_allocations:
                linked.extend(_allocation_links(page.items))
            self.progress.synced += len(page.items)
            self.progress.counts[step.name] = self.progress.counts.get(step.name, 0) + len(
                page.items
            )
            await self._save_progress(
                conn, f"{step.name}: {self.progress.counts[step.name]} synced"
            )

    async def _after_step(
        self, step: Step, seen: dict[str, list[Any]], linked: list[tuple[int, int]]
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if step.links_allocations:
                self.progress.written += await store.link_allocations(conn, linked)
            if step.name == "subusers":
                seen["server_subusers"].extend(await store.mark_owners(conn))
            for mirror in step.mirrors:
                pruned = await store.prune(
                    conn,
                    mirror.table,
                    seen[mirror.table],
                    key_type=mirror.key_type,
                    scope=mirror.prune_scope,
                )
                if mirror.table == "servers":
                    await self._announce_pruned_servers(conn, pruned)

    async def _announce_pruned_servers(
        self, conn: asyncpg.Connection, pruned: list[asyncpg.Record]
    ) -> None:
        """Others hold state per panel server (game sessions): tell them it is gone."""
        now = datetime.now(UTC)
        for row in pruned:
            await outbox.enqueue(
                conn,
                events.ServerPruned(server_id=row["id"], server_uuid=row["uuid"], pruned_at=now),
                source=SOURCE,
            )

    async def _note(self, message: str) -> None:
        async with self.pool.acquire() as conn:
            await self._save_progress(conn, message, force_event=True)

    async def _save_progress(
        self, conn: asyncpg.Connection, message: str, *, force_event: bool = False
    ) -> None:
        p = self.progress
        await store.save_progress(
            conn,
            self.log_id,
            total=p.total,
            synced=p.synced,
            failed=p.failed,
            metadata={
                "step": p.step,
                "itemsTotal": p.total,
                "itemsProcessed": p.synced,
                "percentage": p.percentage,
                "lastMessage": message,
                "lastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
        now = time.monotonic()
        if force_event or now - p.last_event_at >= PROGRESS_EVENT_INTERVAL:
            p.last_event_at = now
            await outbox.enqueue(
                conn,
                events.SyncProgress(
                    sync_log_id=self.log_id,
                    step=p.step,
                    items_total=p.total,
                    items_processed=p.synced,
                    items_failed=p.failed,
                    percentage=p.percentage,
                    message=message,
                ),
                source=SOURCE,
            )

    async def _finish(self, status: str, error: str | None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await store.finish(
                conn,
                self.log_id,
                status,
                error=error,
                rows_written=self.progress.written,
                step_seconds=self.progress.step_seconds,
            )
            await inbox.claim(conn, self.consumer, self.event_id)
            await outbox.enqueue(conn, self._outcome_event(status, error), source=SOURCE)

    def _outcome_event(self, status: str, error: str | None) -> events.Event:
        p, kind = self.progress, self.request.kind
        duration = round(time.monotonic() - self.started, 3)
        if status == "COMPLETED":
            return events.SyncCompleted(
                sync_log_id=self.log_id,
                kind=kind,
                items_total=p.total,
                items_synced=p.synced,
                items_failed=p.failed,
                duration_seconds=duration,
                counts=p.counts,
            )
        if status == "CANCELLED":
            return events.SyncCancelled(
                sync_log_id=self.log_id,
                kind=kind,
                step=p.step or None,
                items_synced=p.synced,
                duration_seconds=duration,
            )
        return events.SyncFailed(
            sync_log_id=self.log_id,
            kind=kind,
            error=error or "unknown error",
            step=p.step or None,
            items_synced=p.synced,
            duration_seconds=duration,
        )


def _allocation_links(servers: list[dict[str, Any]]) -> list[tuple[int, int]]:
    from nodebyte_common.pterodactyl import relationship

    return [(a["id"], s["id"]) for s in servers for a in relationship(s, "allocations")]
