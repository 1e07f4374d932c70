"""Run one sync: pull each step's pages from the panel, mirror them in bulk.

Each page is written in one transaction with the progress it represents, so
a crash loses at most the page in flight and the log always says how far the
sync got. Cancellation is checked before every page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from nodebyte_common import events, inbox, outbox
from nodebyte_common.pterodactyl import PanelClient
from nodebyte_sync import store
from nodebyte_sync.steps import STEPS_BY_KIND, Step

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
    counts: dict[str, int] = field(default_factory=dict)
    last_event_at: float = 0.0

    @property
    def percentage(self) -> float:
        return round(100.0 * self.synced / self.total, 1) if self.total else 0.0


class SyncRun:
    def __init__(
        self,
        pool: asyncpg.Pool,
        panel: PanelClient,
        request: events.SyncRequested,
        *,
        consumer: str,
        event_id: UUID,
        per_page: int,
    ) -> None:
        self.pool = pool
        self.panel = panel
        self.request = request
        self.log_id = request.sync_log_id
        self.consumer = consumer
        self.event_id = event_id
        self.per_page = per_page
        self.progress = Progress()
        self.started = time.monotonic()

    async def execute(self) -> None:
        """Run every step, then record the outcome with its event (and the inbox row)."""
        try:
            for step in STEPS_BY_KIND[self.request.kind]:
                await self._run_step(step)
        except SyncCancelled:
            await self._finish("CANCELLED", None)
        except Exception as exc:
            await self._finish("FAILED", str(exc)[:1000] or type(exc).__name__)
        else:
            await self._finish("COMPLETED", None)

    async def _run_step(self, step: Step) -> None:
        self.progress.step = step.name
        seen: list[int] = []
        async for page in self.panel.pages(step.path, per_page=self.per_page):
            if page.current_page == 1:
                self.progress.total += page.total
            await self._write_page(step, page.items, seen)
        async with self.pool.acquire() as conn:
            await store.prune(conn, step.table, seen)

    async def _write_page(self, step: Step, items: list[dict], seen: list[int]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await store.cancel_requested(conn, self.log_id):
                raise SyncCancelled
            rows = [step.to_row(item) for item in items]
            await store.upsert_changed(conn, step.table, step.columns, rows)
            seen.extend(row[0] for row in rows)
            self.progress.synced += len(rows)
            self.progress.counts[step.name] = self.progress.counts.get(step.name, 0) + len(rows)
            await self._save_progress(conn, f"{step.name}: {len(seen)} of this step synced")

    async def _save_progress(self, conn: asyncpg.Connection, message: str) -> None:
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
        if now - p.last_event_at >= PROGRESS_EVENT_INTERVAL:
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
        p = self.progress
        duration = round(time.monotonic() - self.started, 3)
        kind = self.request.kind
        async with self.pool.acquire() as conn, conn.transaction():
            await store.finish(conn, self.log_id, status, error=error)
            await inbox.claim(conn, self.consumer, self.event_id)
            if status == "COMPLETED":
                event: events.Event = events.SyncCompleted(
                    sync_log_id=self.log_id,
                    kind=kind,
                    items_total=p.total,
                    items_synced=p.synced,
                    items_failed=p.failed,
                    duration_seconds=duration,
                    counts=p.counts,
                )
            elif status == "CANCELLED":
                event = events.SyncCancelled(
                    sync_log_id=self.log_id,
                    kind=kind,
                    step=p.step or None,
                    items_synced=p.synced,
                    duration_seconds=duration,
                )
            else:
                event = events.SyncFailed(
                    sync_log_id=self.log_id,
                    kind=kind,
                    error=error or "unknown error",
                    step=p.step or None,
                    items_synced=p.synced,
                    duration_seconds=duration,
                )
            await outbox.enqueue(conn, event, source=SOURCE)
