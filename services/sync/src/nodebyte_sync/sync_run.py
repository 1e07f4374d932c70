"""Run one sync: pull each step's pages from the panel, mirror them in bulk.

Steps run concurrently where their dependencies allow (steps.py), sharing one
bound on the panel requests in flight. Pages are fetched concurrently and taken
in batches (what arrived while the last batch was written): a page whose content
the mirror already holds is skipped (page_digests.py); the changed ones of a
batch are written in one transaction with the progress they represent (COPY into
a staging table, then one upsert that skips unchanged rows), so a crash loses at
most the batch in flight and the log always says how far the sync got.
Cancellation and the mirror lease (mirror_lease.py) are checked in every write
transaction. After a step, rows the panel no longer has are pruned. A write that
fails for a transient reason (a lost connection, the database out of slots) is
retried as a whole until `transient_deadline` seconds; only a longer outage
fails the sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from nodebyte_common import events, inbox, outbox
from nodebyte_common.pterodactyl import PanelClient, RawPage, raw_items, relationship
from nodebyte_common.transient import TRANSIENT_ERRORS, retry_transient
from nodebyte_sync import page_digests, panel_user_announcements, server_databases, store
from nodebyte_sync.environment_secrets import EnvironmentSecrets
from nodebyte_sync.mirror_lease import Lease, LeaseLost
from nodebyte_sync.page_digests import PageRecord
from nodebyte_sync.page_fetcher import Fetched, ListRequest, fetch_batches
from nodebyte_sync.panel_settings import PanelSettings
from nodebyte_sync.progress import Progress
from nodebyte_sync.steps import MAPPING_VERSION, Row, Step, steps_for

PROGRESS_EVENT_INTERVAL = 0.25  # seconds: a few progress events per second at most
PROGRESS_SAVE_INTERVAL = 0.1  # seconds: how stale the log may be while pages are unchanged
CANCEL_POLL_INTERVAL = 0.5  # seconds: a cancel interrupts any wait (a Retry-After) this fast
SOURCE = "nodebyte/sync"
T = TypeVar("T")


class SyncCancelled(Exception):
    """An admin cancelled the sync; the log keeps how far it got."""


class StepFailed(Exception):
    """A required step failed, and with it the sync."""

    def __init__(self, step: str, error: Exception) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step


class StepState:
    """What one step's pages gave so far: ids for the prune, links, pages seen."""

    def __init__(self, step: Step, known: dict[str, PageRecord]) -> None:
        self.step = step
        self.known = known  # the trusted page records of the last run
        self.version = _mapping_version(step)
        self.seen: dict[str, list[Any]] = defaultdict(list)
        self.visited: list[str] = []

    def take(self, key: str, record: PageRecord) -> None:
        self.visited.append(key)
        for table, ids in record.seen.items():
            self.seen[table].extend(ids)

    def repeated(self) -> bool:
        """Whether an item came on two pages (the panel changed while it was paged)."""
        return any(
            len(set(self.seen[m.table])) != len(self.seen[m.table]) for m in self.step.mirrors
        )


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
        secrets: EnvironmentSecrets,
        lease: Lease,
        transient_deadline: float,
    ) -> None:
        self.pool = pool
        self.lease = lease
        self.transient_deadline = transient_deadline
        self.panel = panel
        self.request = request
        self.log_id = request.sync_log_id
        self.consumer = consumer
        self.event_id = event_id
        self.settings = settings
        self.secrets = secrets
        self.progress = Progress()
        self.started = time.monotonic()
        self.slots = asyncio.Semaphore(settings.fetch_concurrency)  # panel requests in flight

    async def execute(self) -> None:
        """Run every step, then record the outcome with its event (and the inbox row)."""
        steps = steps_for(
            self.request.kind,
            skip_users=self.request.skip_users,
            subusers=self.settings.subusers_enabled,
        )
        self.finished = {step.name: asyncio.Event() for step in steps}
        self.progress = Progress.of([step.name for step in steps])
        self.last_step = steps[-1].name  # a completed sync ends on it
        try:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(self._watch_cancel(), name="sync-cancel-watch")
                await asyncio.gather(
                    *(group.create_task(self._run_step(s), name=f"sync-{s.name}") for s in steps)
                )
                watcher.cancel()
        except BaseExceptionGroup as errors:
            first = _first_leaf(errors)
            if isinstance(first, LeaseLost):
                raise first from None  # the delivery is retried and resumes the sync
            if isinstance(first, SyncCancelled):
                await self._finish("CANCELLED", None)
                return
            if isinstance(first, StepFailed):
                self.progress.step = first.step
            await self._finish("FAILED", str(first)[:1000])
        else:
            await self._finish("COMPLETED", None)

    async def _watch_cancel(self) -> None:
        """Raise SyncCancelled once an admin asked, whatever the steps are waiting on
        (the checks at each write alone would wait out a panel's Retry-After)."""
        while True:
            await asyncio.sleep(CANCEL_POLL_INTERVAL)
            try:
                async with self.pool.acquire() as conn:
                    requested = await store.cancel_requested(conn, self.log_id)
            except TRANSIENT_ERRORS:
                requested = False  # an outage is the writes' to ride out or report
            if requested:
                raise SyncCancelled

    async def _run_step(self, step: Step) -> None:
        """Take the step's pages, then link and prune once what that reads is there."""
        await self._wait_for(step.starts_after)
        started = time.monotonic()
        try:
            state = await self._take_pages(step)
        except (SyncCancelled, LeaseLost):
            raise
        except Exception as exc:
            if not step.optional:
                raise StepFailed(step.name, exc) from exc
            self.progress.failed += 1
            self.progress.finish(step.name)
            await self._note(step.name, f"{step.name} skipped: {exc}")
            self.finished[step.name].set()
            return
        paging = time.monotonic() - started
        await self._wait_for(step.finishes_after)
        finishing = time.monotonic()
        try:
            await self._after_step(state)
        except LeaseLost:
            raise
        except Exception as exc:
            raise StepFailed(step.name, exc) from exc
        seconds = paging + time.monotonic() - finishing  # the waits excluded
        self.progress.step_seconds[step.name] = round(seconds, 3)
        self.finished[step.name].set()

    async def _wait_for(self, steps: tuple[str, ...]) -> None:
        for name in steps:
            if name in self.finished:  # a partial sync may not run it
                await self.finished[name].wait()

    async def _write(self, what: str, body: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `body` in a transaction that holds the lease; retry it through transient
        failures until the deadline."""

        async def attempt() -> T:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.lease.check(conn)
                return await body(conn)

        return await retry_transient(attempt, deadline_seconds=self.transient_deadline, what=what)

    async def _read(self, what: str, body: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self.pool.acquire() as conn:
                return await body(conn)

        return await retry_transient(attempt, deadline_seconds=self.transient_deadline, what=what)

    async def _take_pages(self, step: Step) -> StepState:
        per_page = self._page_size(step)

        async def prepare(conn: asyncpg.Connection) -> tuple[StepState, list[ListRequest]]:
            state = StepState(step, await page_digests.load(conn, step.name))
            return state, step.requests(await self._parent_ids(conn, step))

        state, requests = await self._read(f"{step.name}: prepare", prepare)
        self.progress.plan(step.name, len(requests))
        # Closed here, not by the garbage collector, when a batch fails: its fetches stop now.
        batches = fetch_batches(self.panel, requests, per_page=per_page, slots=self.slots)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                await self._take_batch(state, batch, per_page)
        return state

    def _page_size(self, step: Step) -> int:
        # The Client API caps per_page at 100; the Application API has no cap.
        return (
            min(100, self.settings.page_size)
            if step.name == "subusers"
            else self.settings.page_size
        )

    async def _parent_ids(self, conn: asyncpg.Connection, step: Step) -> list[int]:
        if step.parent_table is None:
            return []
        return [
            r["id"] for r in await conn.fetch(f"SELECT id FROM {step.parent_table} ORDER BY id")
        ]

    async def _take_batch(self, state: StepState, batch: list[Fetched], per_page: int) -> None:
        """Write the changed pages of a batch in one transaction with the progress."""
        step = state.step
        taken: list[tuple[str, ListRequest, RawPage, PageRecord]] = []
        fresh: list[tuple[str, PageRecord, dict[str, list[Row]]]] = []
        for request, page in batch:
            if step.reads_databases:
                page = await self._with_databases(page)
            key = page_digests.page_key(request, page.current_page, per_page)
            digest = page_digests.digest_of(state.version, key, page.data)
            record = state.known.get(key)
            if record is None or record.digest != digest:
                record, rows = _decode(step, request, page, digest, self.secrets)
                fresh.append((key, record, rows))
            taken.append((key, request, page, record))
        self._take(state, taken)
        if not fresh and time.monotonic() - self.progress.saved_at < PROGRESS_SAVE_INTERVAL:
            return  # nothing to write: the log catches up with the next save

        async def write(conn: asyncpg.Connection) -> int:
            if await store.cancel_requested(conn, self.log_id):
                raise SyncCancelled
            written = 0
            for mirror in step.mirrors:
                rows = [row for _, _, by_table in fresh for row in by_table[mirror.table]]
                written += await store.upsert_changed(conn, mirror.table, mirror.columns, rows)
            await page_digests.save(conn, step.name, [(key, record) for key, record, _ in fresh])
            await self._save_progress(conn, step.name)
            return written

        written = await self._write(f"{step.name}: write a batch", write)
        self.progress.written += written  # not `+= await`: steps run concurrently

    async def _with_databases(self, page: RawPage) -> RawPage:
        """The page's servers with their databases, from the per-server endpoint if need be."""
        if server_databases.rendered(page):
            self.progress.notes.setdefault("serverDatabases", server_databases.INCLUDE)
            return page
        self.progress.notes["serverDatabases"] = server_databases.ENDPOINT
        return await server_databases.filled(self.panel, page, self.slots)

    def _take(
        self, state: StepState, taken: list[tuple[str, ListRequest, RawPage, PageRecord]]
    ) -> None:
        p, name = self.progress, state.step.name
        for key, request, page, record in taken:
            state.take(key, record)
            first = page.current_page == 1
            if first:
                p.total += record.items if page.total is None else page.total
            p.take(name, f"{request.api}:{request.path}", first, page.total, record.items)

    async def _after_step(self, state: StepState) -> None:
        step, seen = state.step, state.seen
        repeated = state.repeated()

        async def finish_step(conn: asyncpg.Connection) -> int:
            linked = 0
            if step.links_allocations:
                await store.save_allocation_links(conn, seen["links"])
            if step.links_allocations or step.applies_links:
                # Whichever of servers and allocations came last, the links are applied.
                linked = await store.link_allocations(conn)
            for mirror in step.mirrors:
                keep = list(seen[mirror.table])
                if step.name == "subusers" and mirror.table == "server_subusers":
                    keep += await store.mark_owners(conn)
                pruned = await store.prune(
                    conn, mirror.table, keep, key_type=mirror.key_type, scope=mirror.prune_scope
                )
                if mirror.table == "servers":
                    await self._announce_pruned_servers(conn, pruned)
                if mirror.table == "panel_users":
                    removed = [row["id"] for row in pruned]
                    await panel_user_announcements.announce(
                        conn, self.log_id, removed, source=SOURCE
                    )
            await page_digests.settle(conn, step.name, [] if repeated else state.visited)
            self.progress.finish(step.name)
            await self._save_progress(conn, step.name, f"{step.name}: done")
            return linked

        self.progress.written += await self._write(f"{step.name}: prune", finish_step)

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

    async def _note(self, step: str, message: str) -> None:
        async def note(conn: asyncpg.Connection) -> None:
            await self._save_progress(conn, step, message, force_event=True)

        await self._write(f"{step}: note", note)

    async def _save_progress(
        self,
        conn: asyncpg.Connection,
        step: str,
        message: str | None = None,
        *,
        force_event: bool = False,
    ) -> None:
        p = self.progress
        p.step = step
        message = message or f"Syncing {step}: {p.counts.get(step, 0)} synced"
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
                **p.notes,
            },
        )
        now = p.saved_at = time.monotonic()
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
        """Record the outcome and its event once: a sync that already finished (its
        request was claimed) records nothing more."""

        async def finish(conn: asyncpg.Connection) -> None:
            if not await inbox.claim(conn, self.consumer, self.event_id):
                return
            if status == "COMPLETED":  # 100 only now, on the sync's last step
                self.progress.complete()
                message = f"Sync completed: {self.progress.synced} items"
                await self._save_progress(conn, self.last_step, message, force_event=True)
            await store.finish(
                conn,
                self.log_id,
                status,
                error=error,
                rows_written=self.progress.written,
                step_seconds=self.progress.step_seconds,
            )
            await outbox.enqueue(conn, self._outcome_event(status, error), source=SOURCE)

        await self._write("finish", finish)

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


def _first_leaf(errors: BaseExceptionGroup) -> BaseException:
    first = errors.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _decode(
    step: Step, request: ListRequest, page: RawPage, digest: bytes, secrets: EnvironmentSecrets
) -> tuple[PageRecord, dict[str, list[Row]]]:
    """A changed page's rows per mirror table, and the record of what it gave.

    Servers' environment secrets (Hytale tokens, passwords) are sealed before they rest.
    """
    items = raw_items(page.data)
    if step.name == "servers":
        items = [secrets.sealed_server(item) for item in items]
    rows = {
        m.table: [row for item in items for row in m.rows(item, request.parent_id)]
        for m in step.mirrors
    }
    seen: dict[str, list[Any]] = {table: [row[0] for row in r] for table, r in rows.items()}
    if step.links_allocations:
        seen["links"] = _allocation_links(items)
    return PageRecord(digest, len(items), seen), rows


def _mapping_version(step: Step) -> bytes:
    """Changes when what a page maps to does, so older page records stop matching."""
    shape = [(m.table, m.columns, m.rows.__name__) for m in step.mirrors]
    return hashlib.blake2b(
        repr((MAPPING_VERSION, step.name, shape)).encode(), digest_size=16
    ).digest()


def _allocation_links(servers: list[dict[str, Any]]) -> list[list[int]]:
    return [[a["id"], s["id"]] for s in servers for a in relationship(s, "allocations")]
